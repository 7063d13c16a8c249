"""delayed-txn-offset-commit [KIP-890 part 2]: a TxnOffsetCommit delayed past its retry lands in the next transaction and commits older offsets; after a crash the inputs are processed twice on 3.5 and 3.7, not on 4.0.

Run: python examples/delayed_txn_offset_commit.py   (the same as: eosim scenario run delayed-txn-offset-commit)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("delayed-txn-offset-commit"))
