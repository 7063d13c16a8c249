"""external-sink: an EOS pipeline writing to an external database duplicates with a blind sink, not with an idempotent one.

Run: python examples/external_sink.py   (the same as: eosim scenario run external-sink)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("external-sink"))
