"""transactional-restart: the same crashes with transactions and a stable transactional.id: exactly one output per input.

Run: python examples/transactional_restart.py   (the same as: eosim scenario run transactional-restart)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("transactional-restart"))
