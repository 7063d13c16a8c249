"""Named random streams derived from one seed.

Each component asks for its own stream by name, so adding a component never shifts another's
randomness. Derivation uses sha256, not ``hash()``, which is salted per process for strings.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int, name: str) -> int:
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Streams:
    """Factory of independent ``random.Random`` instances keyed by name."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.root = random.Random(seed)
        self._streams: dict[str, random.Random] = {}

    def get(self, name: str) -> random.Random:
        stream = self._streams.get(name)
        if stream is None:
            stream = random.Random(derive_seed(self.seed, name))
            self._streams[name] = stream
        return stream
