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
    # Sites added later go at the end: each run draws whether a site is enabled in this order,
    # so a new site leaves the earlier sites' choices for every seed as they were.
    "marker-retry": (
        0.1,
        "the transaction coordinator's connection to a partition leader or group coordinator "
        "breaks while a WriteTxnMarkers request is on it, before or after the marker is written, "
        "and the coordinator re-sends the marker",
    ),
    "spurious-rebalance": (
        0.01,
        "the group coordinator starts a rebalance of a stable group with no fault behind it "
        "(the group leader rejoined after a metadata change, or a client called "
        "enforceRebalance); every member must rejoin",
    ),
    "concurrent-transactions-offsets": (
        0.1,
        "the transaction coordinator answers AddOffsetsToTxn with CONCURRENT_TRANSACTIONS and "
        "the client retries",
    ),
    "slow-marker": (
        0.2,
        "a partition leader handles a WriteTxnMarkers request late, up to just before the "
        "coordinator's marker timeout (a broker stalled by a long GC pause, a full request "
        "queue): the transaction stays in PrepareCommit or PrepareAbort that much longer, and "
        "that partition's LSO with it",
    ),
    "auto-leader-rebalance": (
        0.5,
        "the active controller's leader-imbalance check runs at a controller tick and moves "
        "every partition whose preferred replica is not its leader back to it, if it may "
        "(auto.leader.rebalance.enable, on by default, with a short "
        "leader.imbalance.check.interval.seconds): leadership returns to a broker soon after "
        "it comes back, while it may still be catching up",
    ),
    "late-request": (
        0.05,
        "a broker handles a transactional client request (EndTxn, TxnOffsetCommit, "
        "AddPartitionsToTxn, AddOffsetsToTxn) only after the client's request timeout: it sat "
        "in the request queue behind a stalled handler, the client gave up on the connection "
        "and retried on a new one, and the broker still handles what was queued (the "
        "KAFKA-17754 family that KIP-890 closes)",
    ),
    "late-produce": (
        0.01,
        "a broker handles a Produce request only after the producer's request timeout (as "
        "late-request: a queued request outlives the connection it came on)",
    ),
    "late-marker": (
        0.05,
        "a partition leader handles a WriteTxnMarkers request only after the coordinator's "
        "marker timeout (as late-request: the coordinator re-sent it on a new connection and "
        "completed the transaction; the queued original is still handled, KAFKA-19446)",
    ),
}
ENABLE_PROBABILITY = 0.25
# what a client hears instead of an answer when a site breaks the connection under a request
DISCONNECTED = {"error": "disconnected"}


class Buggify:
    """Which sites this run enabled, and a seeded stream per site deciding each time."""

    def __init__(
        self,
        rng: Callable[[str], random.Random],
        all_sites: bool = False,
        now: Callable[[], float] | None = None,
    ) -> None:
        chooser = rng("buggify/sites")
        self.now = now
        # Sites fall quiet from this simulated time on (the runner sets it): liveness is judged
        # on the workload's last healthy seconds, which a site's perturbations would cut short
        # as a fault would (FoundationDB checks its quiet database with BUGGIFY's delays off).
        self.quiet_from = float("inf")
        self.enabled = {site: all_sites or chooser.random() < ENABLE_PROBABILITY for site in SITES}
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
