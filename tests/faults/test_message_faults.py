"""Message nemeses (drop-acks, drop-requests, delay, duplicate, reorder, delay-request): each
test shows the fault's effect on the model, and what the delivery mode still guarantees."""

from __future__ import annotations

import statistics

import pytest

from sim.config import Config
from tests.faults.faultkit import (
    DeliveryLog,
    Stepper,
    completed,
    duplicated_values,
    fault,
    fault_target,
    final_reads,
    leader_value_counts,
    records_of_pid,
    run,
    sent_values,
    session,
)

SEEDS = range(4)


# --- drop-acks ---------------------------------------------------------------------------------
def drop_acks_run(mode: str, seed: int, **knobs: object):  # type: ignore[no-untyped-def]
    cfg = Config(mode=mode, acks="all", time_limit=4, convergence=2, consumers=0, **knobs)
    return run(cfg, seed, [fault(1.0, "drop-acks", 1.5, "producers")])


def test_drop_acks_at_least_once_retries_write_duplicates_of_the_targets_sends() -> None:
    """The broker appends, the ack is lost, the producer resends: at-least-once duplicates,
    and every duplicate is a value the drop-acks target sent."""
    found = []
    for seed in SEEDS:
        world, workload, _ = drop_acks_run("at-least-once", seed)
        target = session(workload, fault_target(world.history.ops))
        target_values = {
            kv
            for inv, _ in completed(world.history.ops, target.processes, "send")
            for kv in sent_values(inv)
        }
        infos = [
            c
            for _, c in completed(world.history.ops, target.processes, "send")
            if c["type"] == "info"
        ]
        dups = duplicated_values(world)
        assert set(dups) <= target_values, "a duplicate not caused by the faulty client"
        if dups or infos:
            found.append((seed, len(dups), len(infos)))
    assert found, "drop-acks never caused a duplicate or an unknown outcome in any seed"
    assert any(n_dups for _, n_dups, _ in found), found


@pytest.mark.parametrize("seed", SEEDS)
def test_drop_acks_idempotent_log_never_holds_a_value_twice(seed: int) -> None:
    world, workload, _ = drop_acks_run("idempotent", seed)
    target = session(workload, fault_target(world.history.ops))
    assert target.node.stats.errors.get("request_timed_out", 0) > 0, "the acks were not dropped"
    assert duplicated_values(world) == []


def test_drop_acks_with_the_no_dedup_bug_duplicates_even_when_idempotent() -> None:
    """The contrast that shows the previous test can fail: without the broker's sequence check
    the same fault duplicates values in idempotent mode too."""
    dups = [
        duplicated_values(drop_acks_run("idempotent", seed, bugs=("no-dedup",))[0])
        for seed in SEEDS
    ]
    assert any(dups)


@pytest.mark.parametrize("mode", ["at-least-once", "idempotent"])
@pytest.mark.parametrize("seed", SEEDS)
def test_drop_acks_longer_than_delivery_timeout_gives_info_sends_that_are_in_the_log(
    mode: str, seed: int
) -> None:
    """The Two Generals case: the client gives up and reports ``info``; the write happened."""
    cfg = Config(
        mode=mode,
        acks="all",
        time_limit=4,
        convergence=2,
        consumers=0,
        delivery_timeout_ms=1000,
    )
    world, workload, _ = run(cfg, seed, [fault(1.0, "drop-acks", 2.0, "c0")])
    c0 = session(workload, "c0")
    logs = leader_value_counts(world)
    pairs = completed(world.history.ops, c0.processes, "send")
    infos = [c for inv, c in pairs if c["type"] == "info"]
    assert infos, "no send of the target ended as info"
    for inv, c in pairs:
        if c["type"] != "info":
            continue
        assert c["time"] >= 1.0 and inv["time"] < 3.0, "info only for sends caught by the fault"
        [[_, _, [offset, _]]] = c["value"]
        assert offset is None
    written = [kv for c in infos for kv in sent_values(c) if logs[kv[0]][kv[1]] > 0]
    assert written, "an info send should be in the leader's log (the ack, not the write, was lost)"
    # The other producer is untouched: its sends all succeed.
    c1 = session(workload, "c1")
    assert {c["type"] for _, c in completed(world.history.ops, c1.processes, "send")} == {"ok"}


# --- drop-requests -----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_drop_requests_nothing_from_the_target_lands_during_the_window(seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=5, convergence=2, consumers=0)
    st = Stepper(cfg, seed, [fault(1.0, "drop-requests", 1.5, "c0")]).until(1.05)
    c0 = session(st.workload, "c0")
    c1 = session(st.workload, "c1")
    pid, other = c0.node.pid, c1.node.pid
    landed_at_start = records_of_pid(st.world, pid)
    other_at_start = records_of_pid(st.world, other)
    st.until(2.499)
    assert records_of_pid(st.world, pid) == landed_at_start, "a dropped request reached a broker"
    assert records_of_pid(st.world, other) > other_at_start + 20, "the other producer stalled too"
    assert c0.node.stats.errors.get("request_timed_out", 0) > 0
    in_window = [
        c
        for _, c in completed(st.world.history.ops, c0.processes, "send")
        if 1.05 < c["time"] < 2.499
    ]
    assert in_window == [], "a send of the target completed while its requests were dropped"
    st.finish()
    assert records_of_pid(st.world, pid) > landed_at_start, "the target never recovered"
    assert duplicated_values(st.world) == []


# --- delay -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_delay_on_a_client_makes_every_round_trip_in_the_window_slower(seed: int) -> None:
    d = 0.3
    cfg = Config(mode="idempotent", time_limit=5, convergence=2, consumers=0)
    world, workload, _ = run(cfg, seed, [fault(1.0, "delay", 2.0, "c0", delay=d)])
    c0 = session(workload, "c0")
    inside, outside = [], []
    for inv, c in completed(world.history.ops, c0.processes, "send"):
        latency = c["time"] - inv["time"]
        if inv["time"] >= 1.0 and c["time"] <= 3.0:
            inside.append(latency)
        elif c["time"] < 1.0 or inv["time"] > 3.0:
            outside.append(latency)
    assert len(inside) >= 3 and len(outside) >= 50
    assert min(inside) >= 2 * d, "request and response are each delayed"
    assert statistics.median(outside) < 0.05
    # Only the target is slowed down.
    c1 = session(workload, "c1")
    other = [
        c["time"] - inv["time"]
        for inv, c in completed(world.history.ops, c1.processes, "send")
        if inv["time"] >= 1.0 and c["time"] <= 3.0
    ]
    assert statistics.median(other) < 0.05


# --- duplicate ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_duplicate_delivers_messages_twice_and_idempotence_absorbs_them(seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=4, convergence=2)
    st = Stepper(cfg, seed, [fault(1.0, "duplicate", 2.0, "b0", p=0.5)])
    deliveries = DeliveryLog(st.world)
    st.until(1.5)
    [rule] = st.world.net.rules
    assert rule.name == "duplicate"
    st.until(3.5)
    assert rule.hits > 100
    assert st.world.net.rules == []
    dups = deliveries.duplicated()
    assert dups, "no message was delivered twice"
    assert all("b0" in link and 1.0 <= t <= 3.0 for link, t in dups)
    st.finish()
    assert duplicated_values(st.world) == []


def test_duplicate_never_doubles_a_producer_request_even_without_idempotence() -> None:
    """A producer's requests travel on its TCP connection, which delivers them once: even
    under at-least-once (no broker dedup) the fault puts no value in the log twice, while it
    still duplicates the other traffic to and from the broker (duplicates in that mode come
    from retries after lost acknowledgements: test_drop_acks...)."""
    found = 0
    hits = 0
    for seed in SEEDS:
        cfg = Config(mode="at-least-once", time_limit=4, convergence=2)
        st = Stepper(cfg, seed, [fault(1.0, "duplicate", 2.0, "b0", p=0.5)])
        st.until(1.5)
        [rule] = st.world.net.rules
        st.finish()
        found += len(duplicated_values(st.world))
        hits += rule.hits
    assert found == 0
    assert hits > 100


# --- reorder -----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_reorder_breaks_fifo_only_on_the_targets_links_during_the_window(seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=4, convergence=2)
    st = Stepper(cfg, seed, [fault(1.0, "reorder", 2.0, "b0", p=0.5)])
    deliveries = DeliveryLog(st.world)
    st.until(1.5)
    [rule] = st.world.net.rules
    assert rule.name == "reorder"
    st.finish()
    assert rule.hits > 100
    assert deliveries.out_of_order, "no message overtook another"
    for link, sent_at, _ in deliveries.out_of_order:
        assert "b0" in link and 1.0 <= sent_at <= 3.0, (link, sent_at)
    assert duplicated_values(st.world) == []
    # every acknowledged send is in the log exactly once
    reads = final_reads(st.world.history.ops)
    for _, c in completed(st.world.history.ops, f="send"):
        if c["type"] == "ok":
            [[_, key, [offset, value]]] = c["value"]
            assert reads[key].get(offset) == value


# --- delay-request -----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_delay_request_holds_back_one_end_txn(seed: int) -> None:
    cfg = Config(mode="transactional", workload="produce", time_limit=4, convergence=2)
    schedule = [fault(1.0, "delay-request", 2.0, "c0", api="EndTxn", delay=1.0)]
    st = Stepper(cfg, seed, schedule)
    deliveries = DeliveryLog(st.world)
    st.finish()
    # On the wire: exactly one message was held back (count=1), and it is c0's EndTxn request.
    late = [d for d in deliveries.delivered if d[4] - d[3] >= 1.0]
    assert len(late) == 1, late
    api, is_response, (src, _), sent_at, _ = late[0]
    assert (api, is_response, src) == ("EndTxn", False, "c0")
    assert 1.0 <= sent_at <= 3.0
    # In the history: the transaction that sent it waited for the client's request timeout
    # (0.8 s): the held request sits on an abandoned connection and the retry goes around it.
    ops = st.world.history.ops
    c0, c1 = session(st.workload, "c0"), session(st.workload, "c1")
    txns = completed(ops, c0.processes, "txn")
    slow = [(inv, c) for inv, c in txns if c["time"] - inv["time"] > 0.7]
    assert len(slow) == 1
    inv, c = slow[0]
    assert inv["time"] <= sent_at < c["time"]
    assert c["type"] == "ok", "the late EndTxn still commits (its retry is answered as done)"
    visible = {(k, v) for k, recs in final_reads(ops).items() for v in recs.values()}
    assert set(sent_values(c)) <= visible
    assert all(c["time"] - inv["time"] < 0.5 for inv, c in txns if (inv, c) not in slow)
    others = completed(ops, c1.processes, "txn")
    assert others and all(c["time"] - inv["time"] < 0.5 for inv, c in others)


def test_delay_request_of_markers_aimed_at_clients_holds_them_back_from_the_coordinator() -> None:
    """--swarm draws delay-request's target and request type apart: a broker-only request
    (WriteTxnMarkers) aimed at the clients is held back from whichever broker sends it."""
    cfg = Config(mode="transactional", workload="produce", time_limit=4, convergence=2)
    schedule = [fault(1.0, "delay-request", 2.0, "clients", api="WriteTxnMarkers", delay=1.0)]
    st = Stepper(cfg, 0, schedule)
    deliveries = DeliveryLog(st.world)
    st.finish()
    late = [d for d in deliveries.delivered if d[4] - d[3] >= 1.0]
    assert len(late) == 1, late
    api, is_response, (src, _), _, _ = late[0]
    assert (api, is_response) == ("WriteTxnMarkers", False)
    assert src in st.world.brokers


@pytest.mark.parametrize("seed", range(2))
def test_delivery_timeout_bounds_the_time_a_send_takes(seed: int) -> None:
    cfg = Config(
        mode="idempotent", time_limit=4, convergence=2, consumers=0, delivery_timeout_ms=1000
    )
    world, workload, _ = run(cfg, seed, [fault(1.0, "drop-acks", 2.0, "c0")])
    bound = cfg.delivery_timeout_ms / 1000 + 0.05
    slow = [
        (inv["time"], c["time"])
        for inv, c in completed(world.history.ops, f="send")
        if c["time"] - inv["time"] > bound
    ]
    assert slow == []


def test_every_request_type_a_node_answers_can_be_held_back() -> None:
    """delay-request validates its ``api`` against REQUEST_APIS: keep that list complete."""
    from sim.cluster.build import build_world
    from sim.cluster.network import REQUEST_APIS

    world = build_world(Config(mode="transactional").validate(), 1)
    answered = set(world.controller.handlers)
    for broker in world.brokers.values():
        answered |= set(broker.handlers)
    assert answered == set(REQUEST_APIS)


def test_delay_request_holds_back_a_txn_offset_commit() -> None:
    """Any request type can be held, here the consume-transform-produce TxnOffsetCommit: the
    history records where the held request landed, after the client's own timeout."""
    schedule = [
        fault(1.0, "delay-request", 1.0, "clients", api="TxnOffsetCommit", delay=1.2, count=1)
    ]
    from sim.runs.runner import run as run_and_check

    outcome = run_and_check(
        Config(mode="transactional", workload="ctp", time_limit=4, convergence=2), 3, schedule
    )
    landed = [
        op["value"]
        for op in outcome.ops
        if op["process"] == "nemesis" and op["value"].get("phase") == "landed"
    ]
    assert [v["api"] for v in landed] == ["TxnOffsetCommit"]
    assert outcome.results["valid"] is True
