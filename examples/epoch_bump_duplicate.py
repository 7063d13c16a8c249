"""epoch-bump-duplicate [librdkafka #4953, redpanda #3039]: an idempotent producer that bumps its epoch and renumbers in-flight batches after a timeout duplicates them.

Run: python examples/epoch_bump_duplicate.py   (the same as: eosim scenario run epoch-bump-duplicate)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("epoch-bump-duplicate"))
