"""hanging-transaction-v1 [KIP-890 motivation (hanging transactions)]: pre-KIP-890: a produce delayed past the abort opens a transaction nobody ends; the LSO is stuck.

Run: python examples/hanging_transaction_v1.py   (the same as: eosim scenario run hanging-transaction-v1)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("hanging-transaction-v1"))
