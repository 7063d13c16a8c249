"""--swarm covers the whole fault space: every nemesis Kafka promises to survive is in the pool,
its parameters are drawn too, and whatever it draws is a valid schedule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faults.catalog import SWARM_REQUESTS, requests_sent
from faults.registry import REGISTRY
from faults.schedule import fit_params, plan, validate_schedule
from sim.cluster.trace import MessageTrace
from sim.config import MODES, WORKLOADS, Config, from_mapping
from sim.runs.runner import run

OUT_OF_POOL = {"decommission-broker", "duplicate", "reorder"}  # named only: see the README


def pool_kinds(config: Config, seeds: range) -> set[str]:
    return {f["nemesis"] for s in seeds for f in plan(config, s)}


def test_the_pool_holds_every_kind_but_the_ones_kafka_does_not_promise_to_survive() -> None:
    assert {n for n, spec in REGISTRY.items() if not spec.in_swarm_pool} == OUT_OF_POOL


def test_power_loss_is_drawn_only_where_every_write_is_fsynced_before_it_counts() -> None:
    """Kafka acknowledges from the page cache: with the default flush knobs, power lost on every
    replica at once may lose acknowledged writes by design, so --swarm must not draw it there
    (a false alarm); with log.flush.interval.messages=1 surviving it is the promise.

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/UnifiedLog.java (appendAsLeader
    flushes only when unflushedMessages >= flushInterval)"""
    default = pool_kinds(Config(mode="idempotent", swarm=True), range(80))
    fsynced = pool_kinds(
        from_mapping({"mode": "idempotent", "swarm": True, "log.flush.interval.messages": 1}),
        range(80),
    )
    assert "power-loss" not in default
    assert "power-loss" in fsynced


def test_swarm_overlaps_faults_in_extra_lanes_and_keeps_the_first_lane(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Four seeds in five run two to five fault lanes at once (faults that overlap find
    races one fault at a time cannot); the first lane is the one-lane plan, unchanged."""
    import faults.schedule

    config = Config(mode="transactional", swarm=True)
    one_lane = {}
    with monkeypatch.context() as m:
        m.setattr(faults.schedule, "SWARM_EXTRA_LANES", (0,))
        one_lane = {seed: plan(config, seed) for seed in range(40)}
    overlapping = 0
    for seed in range(40):
        faults = plan(config, seed)
        it = iter(faults)
        assert all(any(f == g for g in it) for f in one_lane[seed]), "lane 0 changed"
        end = 0.0
        overlaps = False
        for f in faults:  # sorted by start: one starts before all earlier ones ended
            overlaps = overlaps or f["at"] < end
            end = max(end, f["at"] + f["duration"])
        overlapping += overlaps
        assert all(f["at"] + f["duration"] <= config.time_limit for f in faults)
    assert 20 <= overlapping <= 38, overlapping


def test_quorum_kinds_are_drawn_only_with_a_quorum() -> None:
    single = pool_kinds(Config(mode="transactional", swarm=True), range(60))
    quorum = pool_kinds(
        from_mapping({"mode": "transactional", "swarm": True, "controller.quorum.voters": 3}),
        range(60),
    )
    assert not single & {"kill-controller", "partition-controller-leader"}
    assert quorum & {"kill-controller", "partition-controller-leader"}
    assert {"clock-bump", "clock-skew", "reassign", "delay-request"} <= single


def test_swarm_draws_parameters_for_delayed_requests_and_clock_jumps() -> None:
    config = Config(mode="transactional", swarm=True)
    faults = [f for s in range(200) for f in plan(config, s)]
    apis = {f["params"]["api"] for f in faults if f["nemesis"] == "delay-request"}
    deltas = [f["params"]["delta"] for f in faults if f["nemesis"] == "clock-bump"]
    assert {"EndTxn", "Produce"} <= apis and len(apis) >= 4
    assert any(d < 0 for d in deltas) and any(d > 0 for d in deltas)
    named = Config(mode="transactional", nemesis=("delay-request",))  # not swarm: defaults
    assert all(f["params"] == {} for s in range(5) for f in plan(named, s))


def test_swarm_keeps_a_broker_on_a_cut_controllers_side_about_half_the_time() -> None:
    """partition-controller-leader's ``with``: a broker cut off together with the active
    controller still leads some partition and reaches its old controller, which answers its
    AlterPartition; without it swarm never drew a deposed leader that a deposed controller
    answers (the kraft-ack-before-commit bug switch's precondition)."""
    config = from_mapping({"mode": "idempotent", "swarm": True, "controller.quorum.voters": 3})
    cuts = [
        (s, f)
        for s in range(400)
        for f in plan(config, s)
        if f["nemesis"] == "partition-controller-leader"
    ]
    kept = [f for _, f in cuts if f["params"] == {"with": "random-broker"}]
    assert len(cuts) >= 10 and 0.25 <= len(kept) / len(cuts) <= 0.75
    assert all(f["params"] in ({}, {"with": "random-broker"}) for _, f in cuts)
    # (a cut at 0 s finds no controller leader yet and is skipped)
    seed, kept_cut = next((s, f) for s, f in cuts if f["params"] and f["at"] >= 1.0)
    outcome = run(config, seed)
    index = outcome.schedule.index(kept_cut)
    cut = next(
        op
        for op in outcome.ops
        if op["f"] == "partition-controller-leader" and op["value"].get("fault") == index
    )
    assert cut["value"]["with"], cut  # the broker the fault kept on the controller's side


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), mode=st.sampled_from(["idempotent", "transactional"]))
def test_whatever_swarm_draws_is_a_valid_schedule(seed: int, mode: str) -> None:
    config = Config(mode=mode, swarm=True)
    validate_schedule(plan(config, seed), config.time_limit)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_requests_sent_matches_what_a_run_sends(mode: str, workload: str) -> None:
    """``requests_sent`` (what swarm's delay-request may hold back) is exactly the set of
    request types a traced run of that mode and workload puts on the wire, so a drift in the
    clients shows up here rather than as swarm faults that can never fire."""
    config = Config(mode=mode, workload=workload, time_limit=4.0, convergence=1.0)
    trace = MessageTrace()
    run(config, 1, None, trace=trace)
    on_the_wire = {m.api for m in trace.messages if not m.response} & set(SWARM_REQUESTS)
    assert set(requests_sent(config)) == on_the_wire


def test_swarm_delays_only_requests_the_run_sends() -> None:
    config = Config(mode="transactional", workload="produce", swarm=True)
    drawn = {
        f["params"]["api"]
        for s in range(300)
        for f in plan(config, s)
        if f["nemesis"] == "delay-request"
    }
    assert drawn == set(requests_sent(config))


def test_guided_mutations_are_fitted_to_the_requests_the_run_sends() -> None:
    """Guided search's mutations draw a delay-request's type without the configuration;
    ``fit_params`` redraws one the run never sends and leaves the others alone."""
    import random

    config = Config(mode="transactional", workload="produce")
    unsent = {"at": 1.0, "nemesis": "delay-request", "duration": 0.5, "target": "producers",
              "params": {"api": "TxnOffsetCommit", "delay": 1.0}}  # fmt: skip
    fitted = fit_params(unsent, config, random.Random(0))
    assert fitted["params"]["api"] in requests_sent(config)
    assert fitted["params"]["delay"] == 1.0
    sent = {**unsent, "params": {"api": "EndTxn", "delay": 1.0}}
    assert fit_params(sent, config, random.Random(0)) == sent


def test_swarm_draws_the_intensity_of_lost_messages_and_latency() -> None:
    """Lost requests and answers are drawn with a loss probability (a full outage half the
    time, partial loss otherwise: one request of a pipeline lost, the next landing), lost
    answers for any request a producer of the run sends, and a latency spike of any size."""
    config = Config(mode="transactional", swarm=True)
    faults = [f for s in range(300) for f in plan(config, s)]
    for kind in ("drop-acks", "drop-requests"):
        ps = [f["params"]["p"] for f in faults if f["nemesis"] == kind]
        assert any(p == 1.0 for p in ps) and any(p < 0.5 for p in ps), kind
    apis = {a for f in faults if f["nemesis"] == "drop-acks" for a in f["params"]["apis"]}
    assert {"Produce", "EndTxn", "AddPartitionsToTxn"} <= apis and "OffsetCommit" not in apis
    delays = [f["params"]["delay"] for f in faults if f["nemesis"] == "delay"]
    assert min(delays) < 0.2 and max(delays) > 1.0
    idempotent = Config(mode="idempotent", swarm=True)
    assert {
        a
        for s in range(300)
        for f in plan(idempotent, s)
        if f["nemesis"] == "drop-acks"
        for a in f["params"]["apis"]
    } == {"Produce"}  # an idempotent producer sends no transactional requests


def test_a_quarter_of_swarm_lanes_start_at_time_zero() -> None:
    """A lane usually starts a fifth of an interval in or later, after every client's first
    requests; a quarter of swarm's lanes start at 0 so a fault can meet a producer's first
    batch to a partition (first-batch-oos-duplicate). Plain plans never do."""
    swarm = Config(mode="idempotent", swarm=True)
    starts = [plan(swarm, s)[0]["at"] for s in range(200) if plan(swarm, s)]
    share = sum(1 for t in starts if t == 0.0) / len(starts)
    # any of the one to five lanes may start at 0: 25% of one-lane plans, 76% of five-lane ones
    assert 0.4 < share < 0.7
    named = Config(mode="idempotent", nemesis=("drop-acks",))
    assert all(plan(named, s)[0]["at"] > 0 for s in range(50))


def test_a_crash_losing_the_unflushed_suffix_is_drawn_only_where_kafka_survives_it() -> None:
    """With a KRaft quorum, acks=all and min.insync.replicas=2, every acknowledged record is in
    a second replica's memory and a restarted broker is fenced before it rejoins, so one broker
    losing its page cache loses nothing: swarm draws it there (a correct cluster stayed clean
    over 150 such seeds; kraft-duplicate-registration fails in about one in twenty). Without a
    quorum, or with acks=1, it is never drawn.

    Kafka: metadata/src/main/java/org/apache/kafka/controller/ClusterControlManager.java,
    registerBroker (DuplicateBrokerRegistrationException while the old session is live)."""
    from sim.config import from_mapping

    def drawn(config: Config) -> set[bool]:
        return {
            bool(f["params"].get("lose-unflushed"))
            for s in range(120)
            for f in plan(config, s)
            if f["nemesis"] == "kill-broker"
        }

    kraft = {"mode": "idempotent", "swarm": True, "controller.quorum.voters": 3}
    assert drawn(from_mapping(kraft)) == {True, False}
    assert drawn(Config(mode="idempotent", swarm=True)) == {False}
    assert drawn(from_mapping({**kraft, "acks": "1"})) == {False}
