"""pitfall-txn-timeout: transaction.timeout.ms below the processing time: every transaction aborts, no progress.

Run: python examples/pitfall_txn_timeout.py   (the same as: eosim scenario run pitfall-txn-timeout)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("pitfall-txn-timeout"))
