"""BUGGIFY (sim/cluster/buggify.py): rare but legal paths, enabled per run from the seed. They
must never make a correct Kafka look wrong, and must cost nothing when off."""

from __future__ import annotations

import random

import pytest

from sim.cluster.buggify import ENABLE_PROBABILITY, SITES
from sim.cluster.trace import MessageTrace
from sim.config import Config, from_mapping
from sim.rand import derive_seed
from sim.runs.known import excuses
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
EVERY = {
    "slow-response",
    "empty-fetch",
    "spurious-rebalance",
    "auto-leader-rebalance",
    "late-produce",
}
EVERY_SITE_CASES = {
    "at-least-once": ({"mode": "at-least-once"}, EVERY),
    "idempotent": ({"mode": "idempotent"}, EVERY),
    "transactional": ({"mode": "transactional"}, {*EVERY, "concurrent-transactions",
                      "marker-retry", "slow-marker", "late-request", "late-marker"}),
    "ctp": ({"mode": "transactional", "workload": "ctp"}, set(SITES)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(EVERY_SITE_CASES))
def test_every_site_on_keeps_the_newest_release_correct(case: str) -> None:
    """Each site is a path real Kafka takes (a late answer, an empty fetch, a
    CONCURRENT_TRANSACTIONS the client retries, a marker re-sent after a broken connection, a
    rebalance nobody faulted): with all of them on, under lost acks, broker kills and consumer
    crashes, no mode reports anything forbidden (safety, and liveness once the sites fall
    quiet), and every site that applies fired. A late-handled produce (late-produce) may show
    the default idempotent client's known renumbered duplicate, which real Kafka has too.

    Kafka: clients/src/main/java/org/apache/kafka/clients/producer/internals/TransactionManager.java,
    AddPartitionsToTxnHandler.handleResponse and AddOffsetsToTxnHandler.handleResponse
    (CONCURRENT_TRANSACTIONS is retried);
    core/src/main/scala/kafka/coordinator/transaction/TransactionMarkerRequestCompletionHandler.scala,
    onComplete (a disconnection re-enqueues the markers);
    core/src/main/scala/kafka/coordinator/group/GroupCoordinator.scala, doCurrentMemberJoinGroup
    (the leader rejoining a Stable group -> prepareRebalance);
    core/src/main/scala/kafka/network/SocketServer.scala, Processor (connection ids are not
    reused "while requests from the closed connection are being processed") and sendResponse
    (the answer to a closed connection is dropped): a request queued past the client's timeout
    is still handled (late-request, late-produce);
    metadata/src/main/java/org/apache/kafka/controller/QuorumController.java,
    maybeScheduleNextBalancePartitionLeaders (auto-leader-rebalance)
    """
    mapping, applies = EVERY_SITE_CASES[case]
    config = from_mapping({**LONGER, **mapping, "sim.buggify-all": True,
                           "nemesis": "drop-acks,kill-broker,crash-consumer"})  # fmt: skip
    fired = dict.fromkeys(SITES, 0)
    for seed in range(10):
        results = run(config, seed).results
        # a failure real Kafka has too (a late first batch renumbered by the idempotent
        # client's epoch bump, sim.runs.known) is not the model's
        unexplained = set(results["forbidden"]) - set(excuses(results)["explained"])
        assert results["valid"] is not False or not unexplained, (seed, results["forbidden"])
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


def test_named_sites_are_exactly_the_ones_on() -> None:
    """``sim.buggify-sites`` enables the sites it names and no other (guided search keeps a
    parent's sites under a new seed so); an empty list enables none."""
    stats = run(from_mapping({**SMALL, "sim.buggify-sites": "late-produce, empty-fetch"}), 5)
    on = {s for s, n in stats.results["stats"]["buggify"].items() if n is not None}
    assert on == {"late-produce", "empty-fetch"}
    none = run(from_mapping({**SMALL, "sim.buggify-sites": ""}), 5).results["stats"]["buggify"]
    assert set(none.values()) == {None}


@pytest.mark.parametrize("seed", [2, 11])
def test_naming_a_seeds_own_sites_changes_nothing(seed: int) -> None:
    """Each site decides from a stream of its own (named, not shared), so naming the sites a
    seed draws anyway gives the byte-identical run: a guided run's reproduce line may name
    them whether they were drawn or inherited."""
    drawn = run(from_mapping({**SMALL, "mode": "transactional", "sim.buggify": True}), seed)
    stats = drawn.results["stats"]["buggify"]
    sites = ",".join(s for s, n in stats.items() if n is not None)
    assert sites and sites != ",".join(SITES)
    named = from_mapping({**SMALL, "mode": "transactional", "sim.buggify-sites": sites})
    assert run(named, seed).digest == drawn.digest


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
    retried_then_committed = 0
    for seed in (1, 2, 3):  # other sites (a late request, a rebalance) abort some of them
        trace, results = _traced(config, seed)
        assert results["valid"] is True, (seed, results["forbidden"])
        msgs = sorted(trace.messages, key=lambda m: (m.sent, m.id))
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


def test_late_request_is_handled_after_the_client_gave_up() -> None:
    """A broker handles a transactional request only after the client's request timeout: the
    client has timed out and retried by then, the queued original is still handled, and its
    answer reaches a client that no longer waits for it. On the newest release the late
    request is fenced or harmless, and the run stays correct.

    Kafka: core/src/main/scala/kafka/network/SocketServer.scala, Processor (connection ids are
    not reused "while requests from the closed connection are being processed") and
    sendResponse (a response for a closed connection is dropped)
    """
    config = from_mapping({**LONGER, "mode": "transactional", "workload": "ctp",
                           "sim.buggify-all": True})  # fmt: skip
    trace, results = _traced(config, 1)
    assert results["valid"] is True, results["forbidden"]
    assert results["stats"]["buggify"]["late-request"] > 0
    timeout = config.request_timeout_ms / 1000
    late = [d for d in trace.decisions if d.kind == "buggify" and "late-request" in d.text]
    assert late
    requests = {(m.src, m.dst, m.corr): m for m in trace.messages if not m.response}
    late_answers = [
        (held, m)
        for m in trace.messages
        if m.response
        and (held := requests.get((m.dst, m.src, m.corr))) is not None
        and held.at is not None
        and m.sent - held.at > timeout
    ]
    assert late_answers
    # the client gave up first: it sent the same request again before the late answer
    assert any(
        r.api == held.api and r.src == held.src and held.sent < r.sent < answer.sent
        for held, answer in late_answers
        for r in requests.values()
    )


def test_a_queued_request_dies_with_its_broker() -> None:
    """A request waiting in a broker's queue is lost when the broker crashes: the restarted
    process never answers it (Broker._handle_late checks the incarnation)."""
    config = from_mapping({**LONGER, "mode": "transactional", "workload": "ctp",
                           "sim.buggify-all": True, "nemesis": "kill-broker",
                           "nemesis-interval": 1.0})  # fmt: skip
    queued_at_crash = 0
    for seed in range(8):
        trace = MessageTrace()
        outcome = run(config, seed, trace=trace)
        assert outcome.results["valid"] is not False, (seed, outcome.results["forbidden"])
        crashes = [(op["time"], op["value"]["target"]) for op in outcome.ops
                   if op.get("f") == "kill-broker" and op["value"].get("phase") == "start"]  # fmt: skip
        late = [(d.time, d.node) for d in trace.decisions if "late-request" in d.text]
        requests = {(m.src, m.dst, m.corr): m for m in trace.messages if not m.response}
        for crashed_at, broker in crashes:
            queued_at_crash += any(n == broker and t < crashed_at < t + 2.0 for t, n in late)
            for m in trace.messages:
                held = requests.get((m.dst, m.src, m.corr))
                if m.response and m.src == broker and held is not None and held.at is not None:
                    assert not held.at < crashed_at < m.sent, (seed, held.summary)
    assert queued_at_crash > 0


def test_auto_leader_rebalance_gives_leadership_back_to_the_preferred_replica() -> None:
    """The controller's periodic imbalance check moves each partition back to its preferred
    (first) replica once that replica is back in the ISR: a broker killed for a while leads its
    partitions again at the end of the run with the site on, and not without it. (That it never
    elects a replica outside the ISR is the preferred-election-ignores-isr bug's clean side.)

    Kafka: metadata/src/main/java/org/apache/kafka/controller/QuorumController.java,
    maybeScheduleNextBalancePartitionLeaders; ReplicationControlManager.java,
    maybeBalancePartitionLeaders (a PREFERRED election: PartitionChangeBuilder elects the
    preferred replica only if it is in the ISR and unfenced)
    """
    schedule = [{"at": 1.0, "nemesis": "kill-broker", "duration": 1.5, "target": "b0"}]
    leaders = {}
    for on in (True, False):
        config = from_mapping({**LONGER, "mode": "idempotent", "sim.buggify-all": on})
        outcome = run(config, 3, schedule)
        assert outcome.results["valid"] is True and outcome.world is not None
        parts = outcome.world.controller.partitions
        leaders[on] = {k: p.leader for k, p in parts.items() if p.replicas[0] == "b0"}
    assert leaders[True] and set(leaders[True].values()) == {"b0"}
    assert "b0" not in leaders[False].values()
