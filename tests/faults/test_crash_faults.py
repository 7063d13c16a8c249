"""Crash and pause nemeses: crash-producer, crash-consumer, kill-broker (with and without losing
the unflushed suffix), kill-coordinator, and pause-client with a start-zombie twin."""

from __future__ import annotations

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
    group_state,
    leader_records,
    run,
    sent_values,
    session,
)

SEEDS = range(4)


# --- crash-producer ----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_crash_producer_ends_pending_ops_as_crashed_info_and_restarts_a_new_session(
    seed: int,
) -> None:
    cfg = Config(mode="idempotent", time_limit=4, convergence=2)
    # Drop c0's acks first, so each of its threads has a send in flight when it crashes.
    schedule = [fault(0.5, "drop-acks", 1.0, "c0"), fault(1.0, "crash-producer", 1.0, "c0")]
    st = Stepper(cfg, seed, schedule).until(0.999)
    c0 = session(st.workload, "c0")
    old_pid = c0.node.pid
    pending = {p for p in c0.processes if st.world.history.pending(p) is not None}
    numbers_before = {p for s in st.workload.sessions for p in s.processes}
    assert len(pending) == len(c0.processes) == 3
    st.finish()
    ops = st.world.history.ops
    crashed = [o for o in ops if o.get("crashed")]
    assert {o["process"] for o in crashed} == pending
    for o in crashed:
        assert o["type"] == "info" and o["f"] == "send" and o["time"] == 1.0
        [[_, _, [offset, _]]] = o["value"]
        assert offset is None
    assert not c0.alive and "c0" not in st.world.net.nodes
    assert all(o["time"] <= 1.0 for o in ops if o["process"] in c0.processes), "ops after death"
    # The restart: a new producer session, new process numbers, a new producer id.
    producers = [s for s in st.workload.sessions if s.role == "producer"]
    assert len(producers) == 3
    new = producers[-1]
    assert new.alive and new.name not in ("c0", "c1") and new.node.pid != old_pid
    first = min(o["time"] for o in ops if o["process"] in new.processes)
    assert first >= 2.0, "the new session starts when the fault heals"
    assert min(new.processes) > max(numbers_before)
    assert any(c["type"] == "ok" for _, c in completed(ops, new.processes, "send")), (
        "the restarted producer works"
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_process_numbers_are_never_reused(seed: int) -> None:
    cfg = Config(
        mode="idempotent",
        time_limit=5,
        convergence=2,
        nemesis=("crash-producer", "crash-consumer"),
        nemesis_interval=0.5,
    )
    world, workload, schedule = run(cfg, seed, None)
    assert len(schedule) >= 3
    owners: dict[int, str] = {}
    for s in workload.sessions:
        for p in s.processes:
            assert p not in owners, f"process {p} used by {owners[p]} and {s.name}"
            owners[p] = s.name
    for o in world.history.ops:
        if o["process"] != "nemesis":
            assert o["process"] in owners
    assert len([s for s in workload.sessions if not s.alive]) >= 2


# --- crash-consumer ----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_crash_consumer_rebalances_the_group_and_a_new_member_subscribes(seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=5, convergence=2)
    st = Stepper(cfg, seed, [fault(1.0, "crash-consumer", 1.0, "consumers")]).until(0.99)
    g = group_state(st.world)
    generation_before, members_before = g.generation, set(g.members)
    assert len(members_before) == 2
    st.until(4.0)
    victim = fault_target(st.world.history.ops)
    assert victim in members_before
    g = group_state(st.world)
    assert g.generation > generation_before, "no rebalance"
    assert victim not in g.members
    assert victim not in g.assignment
    consumers = [s for s in st.workload.sessions if s.role == "consumer"]
    new = consumers[-1]
    assert new.name not in members_before and new.alive
    assert new.name in g.members and g.assignment[new.name], "the newcomer got partitions"
    assigned = sorted(k for keys in g.assignment.values() for k in keys)
    assert assigned == st.world.config.keys
    subs = [(i, c) for i, c in completed(st.world.history.ops, new.processes, "subscribe")]
    assert len(subs) == 1 and subs[0][1]["type"] == "ok" and subs[0][0]["time"] >= 2.0


# --- kill-broker -------------------------------------------------------------------------------
@pytest.mark.parametrize("lose_unflushed", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
def test_kill_broker_fails_over_restarts_and_catches_up(seed: int, lose_unflushed: bool) -> None:
    cfg = Config(mode="idempotent", time_limit=5, convergence=2)
    schedule = [fault(1.0, "kill-broker", 1.5, "b0", lose_unflushed=lose_unflushed)]
    st = Stepper(cfg, seed, schedule).until(0.999)
    ctl = st.world.controller
    b0 = st.world.brokers["b0"]
    led = {k: p.leader_epoch for k, p in ctl.partitions.items() if p.leader == "b0"}
    assert led
    st.until(1.0001)
    assert not b0.alive
    if lose_unflushed:
        assert all(log.leo == b0.flushed[k] for k, log in b0.logs.items()), "not truncated"
    st.until(2.4)
    for key, epoch in led.items():
        p = ctl.partitions[key]
        assert p.leader not in (None, "b0") and p.leader_epoch > epoch, key
        assert "b0" not in p.isr
    st.until(2.51)
    assert b0.alive
    st.finish()
    for key, p in sorted(ctl.partitions.items()):
        if "b0" not in p.replicas:
            continue
        assert "b0" in p.isr, key
        leader_log = st.world.brokers[p.leader].logs[key]
        mine = b0.logs[key]
        # Everything committed (below the leader's high watermark) is on the restarted broker;
        # a record appended in the run's last milliseconds may still be on its way.
        hw = leader_log.hw
        assert mine.leo >= hw, key
        assert [r.value for r in mine.records[:hw]] == [r.value for r in leader_log.records[:hw]], (
            key
        )
    assert duplicated_values(st.world) == []
    # Nothing acknowledged was lost to the crash.
    reads = final_reads(st.world.history.ops)
    for _, c in completed(st.world.history.ops, f="send"):
        if c["type"] == "ok":
            [[_, key, [offset, value]]] = c["value"]
            assert reads[key].get(offset) == value


def test_kill_broker_lose_unflushed_actually_drops_records() -> None:
    """For some seed the crashed broker had records beyond its last flush; they are gone."""
    dropped = 0
    for seed in SEEDS:
        cfg = Config(mode="idempotent", time_limit=5, convergence=2)
        schedule = [fault(1.0, "kill-broker", 1.5, "b0", lose_unflushed=True)]
        st = Stepper(cfg, seed, schedule).until(0.9999)
        b0 = st.world.brokers["b0"]
        before = {k: log.leo for k, log in b0.logs.items()}
        st.until(1.0001)
        dropped += sum(before[k] - log.leo for k, log in b0.logs.items())
    assert dropped > 0


# --- kill-coordinator --------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_kill_coordinator_moves_the_coordinator_and_transactions_keep_committing(
    seed: int,
) -> None:
    cfg = Config(mode="transactional", time_limit=5, convergence=2)
    st = Stepper(cfg, seed, [fault(1.0, "kill-coordinator", 1.5, "coordinator")]).until(0.999)
    p = st.world.controller.partitions["__transaction_state"]
    before, epoch = p.leader, p.leader_epoch
    st.until(2.4)
    assert fault_target(st.world.history.ops) == before
    assert not st.world.brokers[before].alive
    assert p.leader not in (None, before) and p.leader_epoch > epoch
    assert st.world.txn_coordinators[p.leader].active
    st.finish()
    ops = st.world.history.ops
    producers = [s for s in st.workload.sessions if s.role == "producer"]
    for s in producers:
        after = [
            c
            for inv, c in completed(ops, s.processes, "txn")
            if inv["time"] > 2.5 and c["type"] == "ok"
        ]
        assert len(after) >= 5, f"{s.name} committed nothing after the heal"
    # Committed transactions are visible to read_committed readers.
    reads = final_reads(ops)
    visible = {(k, v) for k, recs in reads.items() for v in recs.values()}
    for _, c in completed(ops, f="txn"):
        if c["type"] == "ok":
            assert set(sent_values(c)) <= visible
        elif c["type"] == "fail":
            assert not set(sent_values(c)) & visible, "an aborted txn's write is visible"


# --- pause-client + start-zombie ---------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_paused_producer_wakes_up_fenced_by_its_zombie_twin(seed: int) -> None:
    cfg = Config(mode="transactional", workload="produce", time_limit=5, convergence=2)
    schedule = [
        fault(1.0, "start-zombie", 2.0, "c0"),
        fault(1.0, "pause-client", 2.0, "c0"),
    ]
    world, workload, _ = run(cfg, seed, schedule)
    ops = world.history.ops
    old = session(workload, "c0")
    twins = [
        s
        for s in workload.sessions
        if s.role == "producer" and s is not old and s.node.txn_id() == old.node.txn_id()
    ]
    assert len(twins) == 1
    twin = twins[0]
    assert twin.node.pid == old.node.pid and twin.node.epoch > old.node.epoch

    # The twin initialised (fencing the old epoch) and committed while the old one slept.
    twin_ok = [c for _, c in completed(ops, twin.processes, "txn") if c["type"] == "ok"]
    assert twin_ok and min(c["time"] for c in twin_ok) < 3.0

    # The old producer does nothing while paused, and nothing it does after waking succeeds.
    old_ops = [o for o in ops if o["process"] in old.processes]
    assert not [o for o in old_ops if 1.0 < o["time"] < 3.0]
    after = [(i, c) for i, c in completed(ops, old.processes) if c["time"] >= 3.0]
    assert after, "the paused producer never woke up"
    assert all(c["type"] == "fail" for _, c in after), [c for _, c in after]
    fenced = [c for _, c in after if "fenced" in str(c.get("error", ""))]
    assert fenced, "the woken producer was not told it is fenced"
    assert old.node.fatal is not None and "fenced" in old.node.fatal
    assert max(o["index"] for o in old_ops) == fenced[0]["index"], "it stops once fenced"

    # None of the old producer's failed writes became visible.
    visible = {(k, v) for k, recs in final_reads(ops).items() for v in recs.values()}
    for _, c in after:
        assert not set(sent_values(c)) & visible
    for key in world.data_keys:
        for r in leader_records(world, key):
            if r.pid == old.node.pid and r.epoch == old.node.epoch:
                assert (key, r.value) not in visible, "a zombie write is visible"


# --- pause-client on its own ----------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_paused_consumer_is_evicted_from_the_group_and_rejoins_when_it_wakes(seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=6, convergence=2)
    st = Stepper(cfg, seed, [fault(1.0, "pause-client", 2.5, "c2")]).until(0.99)
    g = group_state(st.world)
    generation, members = g.generation, set(g.members)
    assert members == {"c2", "c3"}
    st.until(3.4)  # session.timeout.ms (1 s) has long passed: the frozen member is gone
    g = group_state(st.world)
    assert g.generation > generation and set(g.members) == {"c3"}
    assert sorted(g.assignment["c3"]) == cfg.keys
    mid_generation = g.generation
    st.until(5.5)
    g = group_state(st.world)
    assert g.generation > mid_generation and set(g.members) == {"c2", "c3"}, "it rejoined"
    assert session(st.workload, "c2").alive


@pytest.mark.parametrize("seed", range(2))
def test_a_paused_producer_sends_nothing_while_frozen(seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=6, convergence=2)
    # Lost acks leave c0 with batches to retry; then it freezes for 3 s.
    schedule = [fault(1.0, "drop-acks", 0.5, "c0"), fault(1.2, "pause-client", 3.0, "c0")]
    st = Stepper(cfg, seed, schedule)
    deliveries = DeliveryLog(st.world)
    st.until(4.19)
    sent = [d for d in deliveries.delivered if d[2][0] == "c0" and 1.25 < d[3] < 4.19]
    assert sent == [], f"{len(sent)} messages ({sorted({d[0] for d in sent})}) sent while paused"


@pytest.mark.parametrize("seed", range(2))
def test_a_paused_consumer_records_no_ops_while_frozen(seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=6, convergence=2)
    st = Stepper(cfg, seed, [fault(1.0, "pause-client", 2.5, "c2")]).until(3.49)
    c2 = session(st.workload, "c2")
    during = [o for o in st.world.history.ops if o["process"] in c2.processes and o["time"] > 1.0]
    assert during == [], during
