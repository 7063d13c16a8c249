"""overhead: transactions cost throughput and latency; read_committed consumers are no faster.

Run: python examples/overhead.py   (the same as: eosim scenario run overhead)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("overhead"))
