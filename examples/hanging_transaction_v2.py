"""hanging-transaction-v2 [KIP-890]: with KIP-890 the partition verifies with the coordinator before the first transactional append: rejected.

Run: python examples/hanging_transaction_v2.py   (the same as: eosim scenario run hanging-transaction-v2)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("hanging-transaction-v2"))
