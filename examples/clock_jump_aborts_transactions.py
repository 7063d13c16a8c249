"""clock-jump-aborts-transactions: a 10 s forward jump of the transaction coordinator's clock aborts open transactions well within their 5 s timeout; the producer is fenced, read_committed sees nothing aborted.

Run: python examples/clock_jump_aborts_transactions.py   (the same as: eosim scenario run clock-jump-aborts-transactions)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("clock-jump-aborts-transactions"))
