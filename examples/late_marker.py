"""late-marker [KAFKA-19446]: transaction version 2 before 4.2: a marker of the previous transaction that arrives late commits or aborts the next one half-way.

Run: python examples/late_marker.py   (the same as: eosim scenario run late-marker)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("late-marker"))
