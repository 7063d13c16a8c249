"""stale-leader-reset: an exactly-once pipeline processes input twice when a stale leader answers a resumed processor OFFSET_OUT_OF_RANGE.

Run: python examples/stale_leader_reset.py   (the same as: eosim scenario run stale-leader-reset)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("stale-leader-reset"))
