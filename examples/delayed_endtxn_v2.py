"""delayed-endtxn-v2 [KIP-890]: with KIP-890 the epoch is bumped at every EndTxn: the delayed request is fenced, nothing breaks.

Run: python examples/delayed_endtxn_v2.py   (the same as: eosim scenario run delayed-endtxn-v2)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("delayed-endtxn-v2"))
