"""pitfall-auto-commit: auto-commit with transactions: input offsets move outside the transaction, so inputs are lost or duplicated.

Run: python examples/pitfall_auto_commit.py   (the same as: eosim scenario run pitfall-auto-commit)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("pitfall-auto-commit"))
