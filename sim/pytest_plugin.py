"""pytest plugin entry point for eosim (registered via the ``pytest11`` entry point).

Kept import-light on purpose: pytest loads it in every session of every project that has
eosim installed, so the simulator is imported only when a test actually uses the fixture.
"""

from __future__ import annotations
