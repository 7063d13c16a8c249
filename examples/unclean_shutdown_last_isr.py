"""unclean-shutdown-last-isr [KIP-966]: before Eligible Leader Replicas, acks=all with min.insync.replicas=2 loses acknowledged records when the last ISR member crashes with its page cache and is elected again.

Run: python examples/unclean_shutdown_last_isr.py   (the same as: eosim scenario run unclean-shutdown-last-isr)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("unclean-shutdown-last-isr"))
