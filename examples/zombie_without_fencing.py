"""zombie-without-fencing: the replacement uses a different transactional.id and offsets carry no group generation: duplicates.

Run: python examples/zombie_without_fencing.py   (the same as: eosim scenario run zombie-without-fencing)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("zombie-without-fencing"))
