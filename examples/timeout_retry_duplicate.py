"""timeout-retry-duplicate [KAFKA-18579]: a TimeoutException retried by the application as a new batch (new sequence numbers) duplicates.

Run: python examples/timeout_retry_duplicate.py   (the same as: eosim scenario run timeout-retry-duplicate)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("timeout-retry-duplicate"))
