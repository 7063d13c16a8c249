"""delayed-endtxn-v1 [KAFKA-17754 (Jepsen 2024)]: pre-KIP-890: a delayed EndTxn lands in the next transaction (aborted reads, lost writes, torn transactions).

Run: python examples/delayed_endtxn_v1.py   (the same as: eosim scenario run delayed-endtxn-v1)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("delayed-endtxn-v1"))
