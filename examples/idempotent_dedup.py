"""idempotent-dedup: the same lost acks with enable.idempotence: no duplicates; the broker drops the retried batches.

Run: python examples/idempotent_dedup.py   (the same as: eosim scenario run idempotent-dedup)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("idempotent-dedup"))
