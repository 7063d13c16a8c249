"""pitfall-ignore-fenced: a client that ignores ProducerFenced keeps trying; nothing it sends is committed.

Run: python examples/pitfall_ignore_fenced.py   (the same as: eosim scenario run pitfall-ignore-fenced)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("pitfall-ignore-fenced"))
