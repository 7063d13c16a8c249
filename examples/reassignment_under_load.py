"""reassignment-under-load: moving a partition's replicas while producers write loses nothing with acks=all, even when leadership fails over mid-move; with acks=1 that failover loses acknowledged writes

Run: python examples/reassignment_under_load.py   (the same as: eosim scenario run reassignment-under-load)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("reassignment-under-load"))
