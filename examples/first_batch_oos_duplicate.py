"""first-batch-oos-duplicate [KAFKA-14034 (family)]: the Java idempotent producer duplicates when its first batch to a partition is lost and the next one lands: the OutOfOrderSequence on the retry bumps the epoch and renumbers the batch already written.

Run: python examples/first_batch_oos_duplicate.py   (the same as: eosim scenario run first-batch-oos-duplicate)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("first-batch-oos-duplicate"))
