"""The KRaft controller quorum (sim/cluster/quorum.py), opt-in with controller.quorum.voters, and
its nemeses kill-controller and partition-controller-leader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults.registry import REGISTRY
from faults.schedule import plan, validate_schedule
from sim.cluster.controller import Controller
from sim.cluster.quorum import Voter
from sim.config import Config, from_mapping
from sim.errors import UsageError
from sim.runs.runner import run, simulate
from sim.scenarios import SCENARIOS
from sim.scenarios.base import run_case
from tests.cli.test_bad_input import eosim, one_line_error
from tests.faults.faultkit import fault

QUORUM = Config(
    mode="idempotent",
    time_limit=4.0,
    convergence=2.0,
    external={"controller.quorum.voters": 3},
)
NEW = ("kill-controller", "partition-controller-leader")


def voters(world) -> list[Voter]:  # type: ignore[no-untyped-def]
    assert world.quorum is not None
    return list(world.quorum.voters)


def test_default_is_the_single_healthy_controller() -> None:
    world, _, _ = simulate(Config(time_limit=1.0, convergence=0.5), 0)
    assert world.quorum is None and type(world.controller) is Controller
    assert world.controller_names() == ["controller"]


def test_three_voters_elect_one_leader_and_agree_on_the_committed_log() -> None:
    """KafkaRaftClient: one leader per epoch (BeginQuorumEpoch), followers fetch its log; the
    high watermark is what a majority fetched (LeaderState.maybeUpdateHighWatermark)."""
    world, _, _ = simulate(QUORUM, 3)
    vs = voters(world)
    active = [v for v in vs if v.active]
    assert len(active) == 1
    leader = active[0]
    assert all(v.leader == leader.name and v.epoch == leader.epoch for v in vs)
    for v in vs:
        assert v.log[: v.hw] == leader.log[: v.hw]
        assert v.committed_image() == leader.committed_image()
    assert {b.controller for b in world.brokers.values()} == {leader.name}


def test_the_same_seed_gives_the_same_history_with_a_quorum() -> None:
    schedule = [fault(1.0, "kill-controller", 1.0, "controller-leader")]
    assert run(QUORUM, 5, schedule).digest == run(QUORUM, 5, schedule).digest


def test_killing_the_active_controller_elects_another_and_loses_nothing() -> None:
    """QuorumController failover: the new leader activates once its LeaderChange commits and
    starts every broker's session afresh (ClusterControlManager.activate), so no broker is
    fenced for the controller's absence."""
    schedule = [fault(1.0, "kill-controller", 1.0, "controller-leader")]
    outcome = run(QUORUM, 2, schedule)
    world = outcome.world
    start = next(op for op in outcome.ops if op["f"] == "kill-controller")
    killed = start["value"]["target"]
    assert killed.startswith("ctrl")
    assert world.quorum.view().epoch >= 2
    assert outcome.results["valid"] is True
    assert not {"lost-write", "duplicate"} & set(outcome.results["anomaly_types"])


def test_an_isolated_controller_leader_resigns_and_the_majority_elects_a_new_one() -> None:
    """Check quorum (LeaderState.timeUntilCheckQuorumExpires, KAFKA-15489): a leader not
    fetched from by a majority for 1.5 x controller.quorum.fetch.timeout.ms resigns, and the
    majority elects one of its own while the cut lasts (the new leader's BeginQuorumEpoch).
    Checked during the cut, not at the end: once it heals, the old leader, which has been
    campaigning alone under rising epochs, may unseat the new one (there is no Pre-Vote)."""
    from sim.cluster.trace import MessageTrace

    heal = 3.9
    for seed in range(4):
        trace = MessageTrace()
        world, _, _ = simulate(
            QUORUM.replace(time_limit=4.0, convergence=0.1),
            seed,
            [fault(1.0, "partition-controller-leader", heal - 1.0, "controller-leader")],
            trace=trace,
        )
        start = next(op for op in world.history.ops if op["f"] == "partition-controller-leader")
        old = start["value"]["target"]
        assert not next(v for v in voters(world) if v.name == old).active
        won = {m.src for m in trace.messages if m.api == "BeginQuorumEpoch" and 1.0 < m.sent < heal}
        assert won and old not in won, (seed, won)


def test_a_vote_goes_only_to_a_candidate_whose_log_is_up_to_date() -> None:
    """KafkaRaftClient.handleVoteRequest: grant only if the candidate's (last epoch, end
    offset) is at least the voter's own."""
    world, _, _ = simulate(QUORUM.replace(time_limit=1.0, convergence=0.1), 0)
    v = voters(world)[0]
    replies: list[dict[str, object]] = []
    v.reply = lambda msg, body: replies.append(body)  # type: ignore[method-assign]
    from sim.cluster.network import Message

    stale = {"epoch": v.epoch + 1, "last_epoch": 0, "end": 0}
    v.on_vote(Message("ctrl9", v.name, "Vote", stale, 1))
    assert replies[-1]["granted"] is False
    fresh = {"epoch": v.epoch + 1, "last_epoch": v.log[-1].epoch, "end": len(v.log)}
    v.on_vote(Message("ctrl8", v.name, "Vote", fresh, 2))
    assert replies[-1]["granted"] is True


def test_a_restarted_broker_registers_with_a_new_broker_epoch() -> None:
    """ClusterControlManager.registerBroker: refused while the old session is valid
    (DuplicateBrokerRegistrationException); the new epoch is the record's offset, and an old
    incarnation's heartbeat epoch is stale (BrokerLifecycleManager)."""
    world, _, _ = simulate(
        QUORUM.replace(time_limit=4.0), 0, [fault(1.0, "kill-broker", 0.2, "b1")]
    )
    b1 = world.brokers["b1"]
    assert not b1.registering and b1.broker_epoch > 0
    active = world.quorum.view()
    assert active.broker_epochs["b1"] == b1.broker_epoch
    assert world.brokers["b0"].broker_epoch == -1  # never restarted: its first registration


# --- the nemeses: listed, validated, opt-in, replayable, shown as fault windows ------------------
def test_the_new_nemeses_are_listed_and_say_what_they_do() -> None:
    proc = eosim("run", "--nemesis", "list")
    assert proc.returncode == 0
    out = " ".join(proc.stdout.split())
    for name in (*NEW, "partition-controller"):
        assert name in out
    assert REGISTRY["kill-controller"].default_target == "controller-leader"
    assert all(REGISTRY[n].needs_quorum and REGISTRY[n].in_swarm_pool for n in NEW)


def test_swarm_draws_them_only_with_a_quorum() -> None:
    named = Config(time_limit=20, swarm=True, nemesis=(*NEW, "kill-broker"))
    assert set(NEW) <= {op["nemesis"] for s in range(10) for op in plan(named, s)}
    default = Config(time_limit=20, swarm=True)
    assert not {op["nemesis"] for s in range(30) for op in plan(default, s)} & set(NEW)
    quorum = from_mapping({"time-limit": 20, "swarm": True, "controller.quorum.voters": 3})
    assert set(NEW) <= {op["nemesis"] for s in range(30) for op in plan(quorum, s)}


def test_fault_windows_in_the_history_and_replay_from_faults_json(tmp_path: Path) -> None:
    store = tmp_path / "run"
    faults = tmp_path / "faults.json"
    ops = [
        fault(1.0, "kill-controller", 0.8, "controller-leader"),
        {
            **fault(2.2, "partition-controller-leader", 1.0, "controller-leader"),
            "params": {"with": "leader-of:k1"},
        },
    ]
    faults.write_text(json.dumps(ops))
    args = [
        "run",
        "--mode",
        "idempotent",
        "--time-limit",
        "4",
        "--set",
        "controller.quorum.voters=3",
    ]
    proc = eosim(*args, "--faults", str(faults), "--store", str(store), "--seed", "4")
    assert proc.returncode in (0, 1), proc.stderr
    history = [json.loads(line) for line in (store / "history.jsonl").read_text().splitlines()]
    windows = [(op["f"], op["value"]["phase"]) for op in history if op["process"] == "nemesis"]
    assert windows == [
        ("kill-controller", "start"),
        ("kill-controller", "stop"),
        ("partition-controller-leader", "start"),
        ("partition-controller-leader", "stop"),
    ]
    starts = [op["value"] for op in history if op["process"] == "nemesis"]
    assert starts[0]["target"].startswith("ctrl") and starts[2]["with"] == ["b1"]
    replay = eosim("replay", str(store))
    assert replay.returncode in (0, 1), replay.stderr + replay.stdout


@pytest.mark.parametrize(
    ("op", "needle"),
    [
        (
            {"nemesis": "partition-controller-leader", "params": {"with": "nobody"}},
            "unknown fault target",
        ),
        ({"nemesis": "partition-controller-leader", "params": {"wiht": "b0"}}, "unknown parameter"),
        ({"nemesis": "kill-controller", "params": {"force": True}}, "unknown parameter"),
    ],
)
def test_bad_params_are_one_line_exit_2(op: dict[str, object], needle: str, tmp_path: Path) -> None:
    full = {"at": 1.0, "duration": 1.0, **op}
    with pytest.raises(UsageError, match=needle):
        validate_schedule([full])
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps([full]))
    args = ["run", "--faults", str(faults), "--set", "controller.quorum.voters=3"]
    one_line_error(eosim(*args, cwd=tmp_path), "fault #0", needle)


def test_quorum_nemeses_without_a_quorum_and_bad_voter_counts_exit_2(tmp_path: Path) -> None:
    one_line_error(eosim("run", "--nemesis", "kill-controller"), "controller.quorum.voters=3")
    one_line_error(eosim("run", "--set", "controller.quorum.voters=9"), "controller.quorum.voters")


# --- the scenario ---------------------------------------------------------------------------------
def test_deposed_leader_loses_acks_1_writes_and_no_acks_all_writes() -> None:
    """Partition.makeFollower runs only when the broker's MetadataLoader applies the new
    leader's record; until then a deposed leader (cut off with its controller) acknowledges
    acks=1 writes that its truncation later drops, while acks=all needs the ISR, which its
    old controller cannot shrink (QuorumController answers AlterPartition once committed)."""
    acks1, acks_all, failovers = SCENARIOS["deposed-leader-kraft"].cases
    lossy = run_case(acks1, 3)
    assert lossy.confirmed and lossy.observed.get("lost-write", 0) >= 1
    safe = run_case(acks_all, 3)
    assert safe.confirmed and "lost-write" not in safe.observed
    calm = run_case(failovers, 3)
    assert calm.confirmed and not {"lost-write", "duplicate"} & set(calm.observed)


@pytest.mark.parametrize(
    ("kind", "target", "params"),
    [
        ("add-broker", "random-broker", {}),
        ("reassign", "random-broker", {}),
        ("elect-preferred", "brokers", {}),
        ("decommission-broker", "random-broker", {}),
    ],
)
def test_an_admin_request_without_an_active_controller_is_refused(
    kind: str, target: str, params: dict[str, object]
) -> None:
    """Between the active controller's loss and its successor committing in its epoch there is
    no active controller, and an operator's admin request is answered NOT_CONTROLLER; the
    nemesis records that it was skipped instead of writing to a voter that is not active
    (which crashed a swarm campaign that overlapped kill-controller with add-broker).

    Kafka: metadata/src/main/java/org/apache/kafka/controller/QuorumController.java,
    appendWriteEvent (NotControllerException when not the active controller)
    """
    schedule = [
        fault(1.0, "kill-controller", 1.5, "controller-leader"),
        fault(1.01, kind, 0.5, target, **params),
    ]
    outcome = run(QUORUM.replace(time_limit=4.0), 0, schedule)
    starts = [
        op
        for op in outcome.world.history.ops
        if op["f"] == kind and op["value"].get("phase") == "start"
    ]
    assert starts, "the admin fault did not start"
    assert "no active controller" in starts[0]["value"].get("skipped", "")
    assert outcome.results["valid"] is True, outcome.results["forbidden"]


def test_a_deposed_controller_does_not_expire_a_broker_that_registered_elsewhere() -> None:
    """A broker added while a deposed controller still believes it is active registered with the
    new active controller only: the deposed one has no session for it to expire (it crashed
    the model, a KeyError, in a guided search with add-broker and a controller partition).

    Kafka: metadata/src/main/java/org/apache/kafka/controller/BrokerHeartbeatManager.java,
    BrokerHeartbeatManager.fenceStaleBrokers (only brokers it tracks, registered with it)
    """
    world, _, _ = simulate(QUORUM, 3)
    leader = next(v for v in voters(world) if v.active)
    leader.brokers.append("b9")  # registered with another controller: no heartbeat here
    leader._leader_tick(world.env.now + 10.0)
    assert "b9" not in leader.fenced
