"""two-generals: at-least-once + lost acks: the producer retries and the log holds duplicates.

Run: python examples/two_generals.py   (the same as: eosim scenario run two-generals)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("two-generals"))
