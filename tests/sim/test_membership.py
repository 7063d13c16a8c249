"""Membership and reassignment: the reassign, add-broker, decommission-broker and
elect-preferred nemeses, the controller's reassignment protocol, and the brokers' side of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults.registry import REGISTRY
from faults.schedule import plan
from sim.config import Config
from sim.runs.runner import run, simulate
from tests.cli.test_bad_input import eosim
from tests.faults.faultkit import Stepper, fault, nemesis_ops

ROOT = Path(__file__).resolve().parents[2]
FIVE = Config(mode="idempotent", brokers=5, time_limit=4.0, convergence=2.0)
NEW = ("reassign", "add-broker", "decommission-broker", "elect-preferred")


def completions(ops: list[dict]) -> list[dict]:
    return [
        op["value"]
        for op in ops
        if op["process"] == "nemesis"
        and isinstance(op["value"], dict)
        and op["value"].get("phase") == "completed"
    ]


def test_a_reassignment_adds_catches_up_then_removes() -> None:
    """ReplicationControlManager.changePartitionReassignment / PartitionReassignmentReplicas:
    while the move runs the replicas are target + removing and the old leader stays in the ISR;
    maybeCompleteReassignment completes it only once every target replica is in the ISR, and
    PartitionChangeBuilder.tryElection elects the first target replica in the ISR when the
    leader was removed (its leader epoch bumps)."""
    st = Stepper(FIVE, 0, [fault(1.0, "reassign", 1.0, "b0", partition="k0")]).until(1.0001)
    world = st.world
    p = world.controller.partitions["k0"]
    [start] = nemesis_ops(world.history.ops, "start")
    target = start["value"]["to"]
    assert start["value"]["from"] == ["b0", "b1", "b2"] and "b0" not in target
    assert p.replicas == [*target, *[r for r in ["b0", "b1", "b2"] if r not in target]]
    assert p.leader == "b0" and "b0" in p.isr
    epoch = p.leader_epoch
    st.until(2.0)
    assert p.replicas == target
    assert set(p.isr) == set(target)
    assert p.leader == next(r for r in target if r in p.isr)
    assert p.leader_epoch == epoch + 1
    [done] = completions(world.history.ops)
    assert done["partition"] == "k0" and done["replicas"] == target
    new_leader = world.brokers[p.leader]
    # the new replicas fetched the whole log from offset 0
    for r in target:
        assert world.brokers[r].logs["k0"].leo >= new_leader.logs["k0"].hw > 0


def test_a_removed_replica_stops_fetching_and_deletes_its_log() -> None:
    """ReplicaManager.applyDelta -> stopPartitions(delete = true): a broker that is no longer a
    replica stops its fetcher and deletes the partition's log; the leader answers a fetch from
    a non-replica with NOT_LEADER_OR_FOLLOWER (Partition.updateFollowerFetchState)."""
    st = Stepper(FIVE, 1, [fault(1.0, "reassign", 1.0, "b0", partition="k0")]).until(2.0)
    p = st.world.controller.partitions["k0"]
    removed = [b for b in ["b0", "b1", "b2"] if b not in p.replicas]
    assert removed
    for b in removed:
        broker = st.world.brokers[b]
        assert "k0" not in broker.following and "k0" not in broker.leading
        assert broker.logs["k0"].leo == 0


def test_reassignment_under_load_with_acks_all_loses_nothing() -> None:
    for seed in range(3):
        schedule = [
            fault(1.0, "reassign", 0.5, "leader-of:k0", partition="k0"),
            fault(2.0, "reassign", 0.5, "random-broker"),
        ]
        outcome = run(FIVE, seed, schedule)
        assert outcome.results["valid"] is True, outcome.results["anomaly_types"]
        assert len(completions(outcome.ops)) == 2


def test_preferred_leader_election_moves_leadership_back_only_from_the_isr() -> None:
    """ReplicationControlManager.electLeader(PREFERRED) -> PartitionChangeBuilder
    .electPreferredLeader: the first replica becomes leader if isValidNewLeader (in the ISR,
    not fenced); otherwise the leader stays (PREFERRED_LEADER_NOT_AVAILABLE)."""
    cfg = Config(mode="idempotent", time_limit=5.0, convergence=2.0)
    schedule = [
        fault(0.5, "kill-broker", 1.5, "b0"),
        fault(2.6, "elect-preferred", 0.2, "b0"),
    ]
    st = Stepper(cfg, 0, schedule).until(2.1)
    p = st.world.controller.partitions["k0"]
    assert p.leader != "b0"  # failed over while b0 was down
    st.until(2.7)
    [_, start] = nemesis_ops(st.world.history.ops, "start")
    assert p.leader == "b0" and start["value"]["elected"]["k0"] == "b0"
    # not yet back in the ISR: no election
    st = Stepper(cfg, 0, [*schedule[:1], fault(2.0, "elect-preferred", 0.2, "b0")]).until(2.01)
    p = st.world.controller.partitions["k0"]
    assert p.leader != "b0" and "b0" not in p.isr


def test_an_added_broker_registers_and_takes_over_moved_partitions() -> None:
    """ClusterControlManager.registerBroker: the new broker starts fenced and is unfenced by its
    first heartbeat; partitions move to it only by reassignment."""
    st = Stepper(FIVE.replace(brokers=3), 2, [fault(1.0, "add-broker", 1.0, "b1", move=2)])
    st.until(2.0)
    world = st.world
    [start] = nemesis_ops(world.history.ops, "start")
    assert start["value"]["added"] == "b3" and len(start["value"]["moved"]) == 2
    assert "b3" in world.broker_names() and "b3" not in world.controller.fenced
    for key, target in start["value"]["moved"].items():
        p = world.controller.partitions[key]
        assert p.replicas == target and "b3" in p.isr and "b1" not in p.replicas


def test_decommission_drains_then_shuts_down_and_unregisters() -> None:
    """The operator's procedure: alterPartitionReassignments off the broker, then a controlled
    shutdown (handleBrokerInControlledShutdown moves leaderships, the broker leaves every
    ISR), then ClusterControlManager.unregisterBroker."""
    st = Stepper(FIVE, 3, [fault(1.0, "decommission-broker", 1.5, "b1")]).until(2.6)
    world = st.world
    assert "b1" not in world.brokers and "b1" in world.departed
    assert "b1" not in world.broker_names() and "b1" not in world.controller.brokers
    assert all("b1" not in p.replicas for p in world.controller.partitions.values())
    shut = [
        op["value"]
        for op in nemesis_ops(world.history.ops)
        if op["value"].get("phase") == "shut-down"
    ]
    assert shut == [{"phase": "shut-down", "broker": "b1", "under_replicated": []}]


def test_decommission_without_drain_leaves_partitions_under_replicated() -> None:
    """Kafka does not move replicas on its own: a broker shut down and unregistered without a
    reassignment stays in its partitions' replica sets, offline, and they run with fewer
    in-sync replicas."""
    cfg = Config(mode="idempotent", time_limit=4.0, convergence=2.0)
    outcome = run(cfg, 0, [fault(1.0, "decommission-broker", 1.0, "b2", drain=False)])
    world = outcome.world
    assert world is not None and "b2" in world.departed
    for p in world.controller.partitions.values():
        assert "b2" in p.replicas and "b2" not in p.isr and p.leader != "b2"
    assert outcome.results["valid"] is True


def test_new_nemeses_are_listed_and_all_but_decommission_are_in_the_swarm_pool() -> None:
    for name in NEW:
        assert name in REGISTRY
        assert REGISTRY[name].in_swarm_pool == (name != "decommission-broker")
    cfg = Config(mode="idempotent", time_limit=30.0, swarm=True)
    drawn = {op["nemesis"] for seed in range(40) for op in plan(cfg, seed)}
    assert drawn & set(NEW) == set(NEW) - {"decommission-broker"}
    named = cfg.replace(nemesis=NEW)
    drawn = {op["nemesis"] for seed in range(10) for op in plan(named, seed)}
    assert drawn == set(NEW)


def test_fault_windows_name_their_targets_and_replay_byte_identically() -> None:
    schedule = [
        fault(0.5, "add-broker", 0.5, "b0", move=1),
        fault(1.2, "reassign", 0.5, "leader-of:k1"),
        fault(2.0, "decommission-broker", 0.8, "random-broker"),
        fault(3.0, "elect-preferred", 0.2, "brokers"),
    ]
    texts = [simulate(FIVE, 5, schedule)[0].history.text() for _ in range(2)]
    assert texts[0] == texts[1]
    world = simulate(FIVE, 5, schedule)[0]
    for phase in ("start", "stop"):
        ops = nemesis_ops(world.history.ops, phase)
        assert [op["f"] for op in ops if op["value"].get("fault") is not None] == sorted(
            [op["f"] for op in ops], key=[s["nemesis"] for s in schedule].index
        )
        assert all(op["value"]["target"] for op in ops)


@pytest.mark.parametrize(
    ("nemesis", "params", "needle"),
    [
        ("reassign", {"partition": "k99"}, "unknown partition"),
        ("reassign", {"replicas": "b1"}, "replicas must be a list"),
        ("reassign", {"partitoin": "k1"}, "unknown parameter"),
        ("add-broker", {"move": -1}, "move must be"),
        ("decommission-broker", {"drain": "yes"}, "drain must be"),
        ("elect-preferred", {"partition": 3}, "partition must be"),
    ],
)
def test_bad_parameters_exit_2_with_one_line(
    nemesis: str, params: dict[str, object], needle: str, tmp_path: Path
) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(
        json.dumps([{"at": 1.0, "nemesis": nemesis, "duration": 1.0, "params": params}])
    )
    proc = eosim("run", "--faults", str(faults), "--time-limit", "3", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "fault #0" in lines[0], proc.stderr


def test_nemesis_list_shows_the_new_nemeses(tmp_path: Path) -> None:
    proc = eosim("run", "--nemesis", "list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in NEW:
        assert name in proc.stdout


def test_the_reassignment_scenario_is_confirmed() -> None:
    from sim.scenarios import SCENARIOS, run_scenario

    result = run_scenario(SCENARIOS["reassignment-under-load"], 4)
    assert result["confirmed"], result
