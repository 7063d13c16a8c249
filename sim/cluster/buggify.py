"""BUGGIFY, as FoundationDB's simulator has it: named places where the model may take a legal but
rare path, so seeded campaigns reach the corners real clusters reach only on a bad day.

``--set sim.buggify=true`` turns it on for a run: each site is enabled with probability 1/4,
drawn once per run from the seed, and an enabled site then fires with its own probability each
time it is reached (``SITES``, in ``sim.buggify_sites``); ``--set sim.buggify-sites=a,b``
enables exactly the sites named (guided search keeps a parent's sites so). Every path is one
real Kafka can take, so a correct release must stay clean with every site on; that is tested.
Off (the default), the model draws nothing and pays one ``is None`` test per site.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from sim.buggify_sites import ENABLE_PROBABILITY, SITES

# what a client hears instead of an answer when a site breaks the connection under a request
DISCONNECTED = {"error": "disconnected"}


class Buggify:
    """Which sites this run enabled, and a seeded stream per site deciding each time."""

    def __init__(
        self,
        rng: Callable[[str], random.Random],
        all_sites: bool = False,
        now: Callable[[], float] | None = None,
        sites: tuple[str, ...] | None = None,
    ) -> None:
        self.now = now
        # Sites fall quiet from this simulated time on (the runner sets it): liveness is judged
        # on the workload's last healthy seconds, which a site's perturbations would cut short
        # as a fault would (FoundationDB checks its quiet database with BUGGIFY's delays off).
        self.quiet_from = float("inf")
        if sites is not None:  # named by sim.buggify-sites: exactly those
            self.enabled = {site: site in sites for site in SITES}
        else:  # drawn from the seed; each site's stream below is its own either way
            chooser = rng("buggify/sites")
            self.enabled = {
                site: all_sites or chooser.random() < ENABLE_PROBABILITY for site in SITES
            }
        self.streams = {site: rng(f"buggify/{site}") for site in SITES}
        self.fired: dict[str, int] = dict.fromkeys(SITES, 0)
        # requests whose connection a site breaks before the answer gets out: (answering node,
        # client, correlation id); the client sees a disconnection instead of the answer
        self.lost_answers: set[tuple[str, str, int]] = set()

    def __call__(self, site: str) -> bool:
        """True when ``site`` takes its rare path this time."""
        if not self.enabled[site]:
            return False
        if self.now is not None and self.now() >= self.quiet_from:
            return False
        if self.streams[site].random() < SITES[site][0]:
            self.fired[site] += 1
            return True
        return False

    def uniform(self, site: str, low: float, high: float) -> float:
        return self.streams[site].uniform(low, high)

    def lose_answer(self, node: str, client: str, corr: int) -> None:
        """The answer ``node`` gives to request ``corr`` from ``client`` will be lost: the
        client sees its connection break instead (``DISCONNECTED``)."""
        self.lost_answers.add((node, client, corr))

    def answer_lost(self, node: str, client: str, corr: int) -> bool:
        """True (once) when the answer to this request is to be replaced by a disconnection."""
        key = (node, client, corr)
        if key in self.lost_answers:
            self.lost_answers.discard(key)
            return True
        return False
