"""pitfall-acks-1: acks=1 with a leader failover loses acknowledged writes.

Run: python examples/pitfall_acks_1.py   (the same as: eosim scenario run pitfall-acks-1)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("pitfall-acks-1"))
