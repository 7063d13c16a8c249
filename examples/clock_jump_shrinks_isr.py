"""clock-jump-shrinks-isr: a 10 s forward jump of a partition leader's clock shrinks its ISRs to itself (in most seeds: when its ISR check runs before the followers fetch again); with acks=all nothing is lost.

Run: python examples/clock_jump_shrinks_isr.py   (the same as: eosim scenario run clock-jump-shrinks-isr)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("clock-jump-shrinks-isr"))
