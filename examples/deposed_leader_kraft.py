"""deposed-leader-kraft: a partition leader cut off with the active KRaft controller keeps accepting acks=1 writes after the new controller replaced it (lost); acks=all writes are refused (nothing lost); controller failovers under acks=all lose nothing.

Run: python examples/deposed_leader_kraft.py   (the same as: eosim scenario run deposed-leader-kraft)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("deposed-leader-kraft"))
