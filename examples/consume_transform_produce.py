"""consume-transform-produce: exactly one output per input under crashes of the processor and of brokers.

Run: python examples/consume_transform_produce.py   (the same as: eosim scenario run consume-transform-produce)
"""

import sys

from sim.scenarios.view import main

if __name__ == "__main__":
    sys.exit(main("consume-transform-produce"))
