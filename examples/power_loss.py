"""power-loss: acks=all is durable by replication, not by fsync: every replica losing power together loses acknowledged writes with the default flush knobs, none with log.flush.interval.messages=1; one broker losing power loses nothing.

Run: python examples/power_loss.py   (the same as: eosim scenario run power-loss)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("power-loss"))
