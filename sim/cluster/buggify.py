"""BUGGIFY, as FoundationDB's simulator has it: named places where the model may take a legal but
rare path, so seeded campaigns reach the corners real clusters reach only on a bad day.

``--set sim.buggify=true`` turns it on for a run: each site is enabled with probability 1/4,
drawn once per run from the seed, and an enabled site then fires with its own probability each
time it is reached (``SITES``). Every path is one real Kafka can take, so a correct release must
stay clean with every site on; that is tested. Off (the default), the model draws nothing and
pays one ``is None`` test per site.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# site -> (probability of firing when reached, what it does and why Kafka can do it)
SITES: dict[str, tuple[float, str]] = {
    "slow-response": (
        0.05,
        "a broker answers a client request late, up to just before the client's request timeout "
        "(a broker busy with a long GC pause, a full request queue)",
    ),
    "empty-fetch": (
        0.1,
        "a consumer fetch returns no records although some are there (fetch.max.wait.ms expired, "
        "a fetch session reset)",
    ),
    "concurrent-transactions": (
        0.1,
        "the transaction coordinator answers AddPartitionsToTxn with CONCURRENT_TRANSACTIONS and "
        "the client retries (the previous transaction is still completing its markers)",
    ),
}
ENABLE_PROBABILITY = 0.25


class Buggify:
    """Which sites this run enabled, and a seeded stream per site deciding each time."""

    def __init__(self, rng: Callable[[str], random.Random], all_sites: bool = False) -> None:
        chooser = rng("buggify/sites")
        self.enabled = {site: all_sites or chooser.random() < ENABLE_PROBABILITY for site in SITES}
        self.streams = {site: rng(f"buggify/{site}") for site in SITES}
        self.fired: dict[str, int] = dict.fromkeys(SITES, 0)

    def __call__(self, site: str) -> bool:
        """True when ``site`` takes its rare path this time."""
        if not self.enabled[site]:
            return False
        if self.streams[site].random() < SITES[site][0]:
            self.fired[site] += 1
            return True
        return False

    def uniform(self, site: str, low: float, high: float) -> float:
        return self.streams[site].uniform(low, high)
