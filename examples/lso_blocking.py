"""lso-blocking: a 30-second transaction stalls read_committed consumers on that partition for ~30 s; read_uncommitted ones are not delayed.

Run: python examples/lso_blocking.py   (the same as: eosim scenario run lso-blocking)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("lso-blocking"))
