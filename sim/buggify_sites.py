"""BUGGIFY's site names, what each does and how often it fires: data the configuration
validates ``sim.buggify-sites`` against (``sim.config.parse_sites``), kept below the cluster,
which implements the sites (``sim.cluster.buggify``).
"""

from __future__ import annotations

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
