"""pitfall-shared-txn-id: one transactional.id shared by two unrelated producers: a fencing storm.

Run: python examples/pitfall_shared_txn_id.py   (the same as: eosim scenario run pitfall-shared-txn-id)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("pitfall-shared-txn-id"))
