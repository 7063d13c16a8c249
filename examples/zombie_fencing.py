"""zombie-fencing: a paused producer wakes after its replacement started: its writes are fenced.

Run: python examples/zombie_fencing.py   (the same as: eosim scenario run zombie-fencing)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("zombie-fencing"))
