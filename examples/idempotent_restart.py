"""idempotent-restart: an idempotent pipeline that crashes and restarts (new producer id) reprocesses its input: duplicates across sessions.

Run: python examples/idempotent_restart.py   (the same as: eosim scenario run idempotent-restart)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("idempotent-restart"))
