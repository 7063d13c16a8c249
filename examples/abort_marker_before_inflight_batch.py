"""abort-marker-before-inflight-batch [KAFKA-14053]: pre-KIP-890: an abort marker written before an in-flight batch lands leaves that batch outside any transaction's end.

Run: python examples/abort_marker_before_inflight_batch.py   (the same as: eosim scenario run abort-marker-before-inflight-batch)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("abort-marker-before-inflight-batch"))
