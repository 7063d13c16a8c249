"""BUGGIFY (sim/cluster/buggify.py): rare but legal paths, enabled per run from the seed. They
must never make a correct Kafka look wrong, and must cost nothing when off."""

from __future__ import annotations

import random

import pytest

from sim.cluster.buggify import ENABLE_PROBABILITY, SITES
from sim.cluster.trace import MessageTrace
from sim.config import Config, from_mapping
from sim.rand import derive_seed
from sim.runs.liveness import buggify_quiet_from
from sim.runs.runner import run

SMALL = {"time-limit": 4, "convergence": 2}
# the sites fall quiet 3 s before the workload stops: runs long enough for them to matter
LONGER = {"time-limit": 8, "convergence": 2}


def test_off_by_default_and_off_draws_nothing() -> None:
    plain = run(Config(time_limit=4, convergence=2), 3)
    off = run(from_mapping({**SMALL, "sim.buggify": False}), 3)
    assert plain.world is not None and plain.world.buggify is None
    assert plain.digest == off.digest
    assert "buggify" not in plain.results["stats"]


def test_swarm_turns_it_on_unless_the_config_says_otherwise() -> None:
    """--swarm draws the whole fault space from the seed, BUGGIFY's sites included
    (Config.buggify_on); an explicit sim.buggify=false keeps a swarm without them."""
    swarm = run(from_mapping({**SMALL, "swarm": True}), 3)
    assert swarm.world is not None and swarm.world.buggify is not None
    assert "buggify" in swarm.results["stats"]
    plain = run(from_mapping({**SMALL, "swarm": True, "sim.buggify": False}), 3)
    assert plain.world is not None and plain.world.buggify is None
    assert swarm.schedule == plain.schedule  # the same faults: only the sites differ


def test_each_run_enables_its_own_sites_from_the_seed() -> None:
    config = from_mapping({**SMALL, "sim.buggify": True})
    enabled = []
    for seed in range(12):
        stats = run(config, seed).results["stats"]["buggify"]
        enabled.append(tuple(site for site, fired in stats.items() if fired is not None))
    assert len(set(enabled)) > 1  # different seeds, different sites
    assert run(config, 5).digest == run(config, 5).digest  # and one seed, one run


# Where each site can fire: the group sites need a consumer group (every workload here has
# one), the transaction sites a transactional producer, AddOffsetsToTxn a consume-transform-
# produce pipeline (sendOffsetsToTransaction).
EVERY_SITE_CASES = {
    "at-least-once": ({"mode": "at-least-once"}, {"slow-response", "empty-fetch",
                                                  "spurious-rebalance"}),
    "idempotent": ({"mode": "idempotent"}, {"slow-response", "empty-fetch", "spurious-rebalance"}),
    "transactional": ({"mode": "transactional"}, {"slow-response", "empty-fetch",
                      "spurious-rebalance", "concurrent-transactions", "marker-retry",
                      "slow-marker"}),
    "ctp": ({"mode": "transactional", "workload": "ctp"}, set(SITES)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(EVERY_SITE_CASES))
def test_every_site_on_keeps_the_newest_release_correct(case: str) -> None:
    """Each site is a path real Kafka takes (a late answer, an empty fetch, a
    CONCURRENT_TRANSACTIONS the client retries, a marker re-sent after a broken connection, a
    rebalance nobody faulted): with all of them on, under lost acks, broker kills and consumer
    crashes, no mode reports anything forbidden (safety, and liveness once the sites fall
    quiet), and every site that applies fired.

    Kafka: clients/src/main/java/org/apache/kafka/clients/producer/internals/TransactionManager.java,
    AddPartitionsToTxnHandler.handleResponse and AddOffsetsToTxnHandler.handleResponse
    (CONCURRENT_TRANSACTIONS is retried);
    core/src/main/scala/kafka/coordinator/transaction/TransactionMarkerRequestCompletionHandler.scala,
    onComplete (a disconnection re-enqueues the markers);
    core/src/main/scala/kafka/coordinator/group/GroupCoordinator.scala, doCurrentMemberJoinGroup
    (the leader rejoining a Stable group -> prepareRebalance)
    """
    mapping, applies = EVERY_SITE_CASES[case]
    config = from_mapping({**LONGER, **mapping, "sim.buggify-all": True,
                           "nemesis": "drop-acks,kill-broker,crash-consumer"})  # fmt: skip
    fired = dict.fromkeys(SITES, 0)
    for seed in range(10):
        results = run(config, seed).results
        assert results["valid"] is not False, (seed, results["forbidden"])
        for site, n in results["stats"]["buggify"].items():
            fired[site] += n or 0
    assert {site for site, n in fired.items() if n} == applies, fired


def test_new_sites_leave_the_earlier_sites_choices_alone() -> None:
    """A site added to the end of SITES does not move which earlier sites a seed enables."""
    assert list(SITES)[:3] == ["slow-response", "empty-fetch", "concurrent-transactions"]
    config = from_mapping({**SMALL, "sim.buggify": True})
    chooser = random.Random(derive_seed(11, "buggify/sites"))
    first = [chooser.random() < ENABLE_PROBABILITY for _ in range(3)]
    stats = run(config, 11).results["stats"]["buggify"]
    assert [stats[s] is not None for s in list(SITES)[:3]] == first


def test_sites_fall_quiet_for_the_liveness_window() -> None:
    """Like faults, the sites stop early enough for the producers' liveness window to be judged
    on a healthy system (sim.runs.liveness.buggify_quiet_from)."""
    config = from_mapping({**LONGER, "mode": "transactional", "sim.buggify-all": True})
    trace = MessageTrace()
    outcome = run(config, 2, trace=trace)
    assert outcome.world is not None and outcome.world.buggify is not None
    quiet = outcome.world.buggify.quiet_from
    assert quiet == buggify_quiet_from(config.time_limit) < config.time_limit
    times = [d.time for d in trace.decisions if d.kind == "buggify"]
    assert times and max(times) < quiet


# --- each site takes its rare path ------------------------------------------------------------
def _traced(config: Config, seed: int) -> tuple[MessageTrace, dict]:
    trace = MessageTrace()
    results = run(config, seed, trace=trace).results
    return trace, results


def test_marker_retry_resends_and_the_leader_takes_a_second_marker() -> None:
    """The coordinator's connection breaks under a WriteTxnMarkers, before the leader handles it
    or after it wrote the marker; the coordinator re-sends, and a leader that already wrote it
    appends a second marker for a transaction it has completed. The run stays correct.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionMarkerRequestCompletionHandler.scala,
    onComplete (wasDisconnected: re-enqueue the markers while this coordinator still owns them)
    """
    config = from_mapping({**LONGER, "mode": "transactional", "sim.buggify-all": True})
    trace = MessageTrace()
    outcome = run(config, 0, trace=trace)
    results = outcome.results
    assert results["valid"] is True and results["stats"]["buggify"]["marker-retry"] > 0
    notes = [d.text for d in trace.decisions if d.kind == "buggify" and "marker-retry" in d.text]
    assert any("after it is written" in t for t in notes)
    assert any("before it is handled" in t for t in notes)
    answers = [m for m in trace.messages if m.api == "WriteTxnMarkers" and m.response]
    assert any(m.body.get("error") == "disconnected" for m in answers)
    # a partition's log holds the same marker twice, with none of that producer's data between
    assert outcome.world is not None
    repeated = 0
    for key in outcome.world.data_keys:
        leader = outcome.world.controller.leader_of(key)
        assert leader is not None
        last: dict[int, tuple[str | None, int]] = {}  # pid -> its last record (control, epoch)
        for rec in outcome.world.brokers[leader].logs[key].records:
            if rec.control is not None and last.get(rec.pid) == (rec.control, rec.epoch):
                repeated += 1
            if rec.pid >= 0:
                last[rec.pid] = (rec.control, rec.epoch)
    assert repeated > 0  # (what a repeated marker does to a log: tests/fidelity, repeated marker)


def test_spurious_rebalance_makes_every_member_rejoin() -> None:
    """The group coordinator starts a rebalance of a stable group with no fault behind it;
    members hear REBALANCE_IN_PROGRESS on their heartbeats, rejoin, and the generation moves
    on. Subscribed consumers and the consume-transform-produce pipeline stay correct.

    Kafka: core/src/main/scala/kafka/coordinator/group/GroupCoordinator.scala,
    doCurrentMemberJoinGroup (Stable, a JoinGroup from the leader -> updateMemberAndRebalance
    -> maybePrepareRebalance -> prepareRebalance)
    """
    for workload in ("produce-consume", "ctp"):
        config = from_mapping({**LONGER, "mode": "transactional", "workload": workload,
                               "sim.buggify-all": True})  # fmt: skip
        trace, results = _traced(config, 1)
        assert results["valid"] is True, results["forbidden"]
        fired = [d for d in trace.decisions if "spurious-rebalance" in d.text]
        assert fired, workload
        at = fired[0].time
        after = [m for m in trace.messages if m.sent >= at]
        told = {m.dst for m in after if m.api == "Heartbeat" and m.response
                and m.body.get("error") == "rebalance_in_progress"}  # fmt: skip
        rejoined = {m.src for m in after if m.api == "JoinGroup" and not m.response}
        assert told and told <= rejoined, (workload, told, rejoined)
        generations = [m.body["generation"] for m in after
                       if m.api == "JoinGroup" and m.response and "generation" in m.body]  # fmt: skip
        assert generations, workload


def test_add_offsets_concurrent_transactions_is_retried_and_the_transaction_commits() -> None:
    """AddOffsetsToTxn answered CONCURRENT_TRANSACTIONS: the client sends it again and the
    transaction goes on to commit (before this was fixed the model's client failed the
    transaction on the first such answer).

    Kafka: clients/src/main/java/org/apache/kafka/clients/producer/internals/TransactionManager.java,
    AddOffsetsToTxnHandler.handleResponse (a RetriableException such as
    CONCURRENT_TRANSACTIONS or COORDINATOR_LOAD_IN_PROGRESS: reenqueue())
    """
    config = from_mapping({**LONGER, "mode": "transactional", "workload": "ctp",
                           "sim.buggify-all": True})  # fmt: skip
    trace, results = _traced(config, 1)
    assert (
        results["valid"] is True and results["stats"]["buggify"]["concurrent-transactions-offsets"]
    )
    msgs = sorted(trace.messages, key=lambda m: (m.sent, m.id))
    retried_then_committed = 0
    for i, m in enumerate(msgs):
        if not (m.api == "AddOffsetsToTxn" and m.response
                and m.body.get("error") == "concurrent_transactions"):  # fmt: skip
            continue
        producer = m.dst
        later = [x for x in msgs[i + 1 :] if producer in (x.src, x.dst)]
        ok = next(x for x in later if x.api == "AddOffsetsToTxn" and x.response)
        assert ok.body.get("ok"), ok.body
        end = next(x for x in later if x.api == "EndTxn" and not x.response)
        retried_then_committed += "commit" in end.summary
    assert retried_then_committed > 0


def test_slow_marker_keeps_the_transaction_in_prepare_commit_longer() -> None:
    """A partition leader handles WriteTxnMarkers late (a GC pause, a full request queue), up to
    just before the coordinator's marker timeout: the transaction stays in PrepareCommit for
    that long, the client's next AddPartitionsToTxn hears CONCURRENT_TRANSACTIONS meanwhile, and
    the run stays correct.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionMarkerChannelManager.scala,
    TransactionMarkerRequestCompletionHandler (the transaction completes only when every marker
    is answered)
    """
    config = from_mapping({**LONGER, "mode": "transactional", "sim.buggify-all": True})
    trace = MessageTrace()
    results = run(config, 0, trace=trace).results
    assert results["valid"] is True and results["stats"]["buggify"]["slow-marker"] > 0
    sent = {(m.src, m.dst, m.corr): m.sent for m in trace.messages
            if m.api == "WriteTxnMarkers" and not m.response and m.src != m.dst}  # fmt: skip
    waits = [m.sent - sent[(m.dst, m.src, m.corr)] for m in trace.messages
             if m.api == "WriteTxnMarkers" and m.response and (m.dst, m.src, m.corr) in sent]  # fmt: skip
    assert waits and max(waits) > 0.3  # answered late, not after the usual few milliseconds
    assert max(waits) < 1.0  # but before the coordinator's marker timeout
