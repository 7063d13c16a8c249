"""read-committed-vs-uncommitted: aborted transactions are visible to read_uncommitted consumers only.

Run: python examples/read_committed_vs_uncommitted.py   (the same as: eosim scenario run read-committed-vs-uncommitted)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("read-committed-vs-uncommitted"))
