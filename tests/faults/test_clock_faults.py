"""The clock nemeses: clock-bump, clock-strobe, clock-skew on a node chosen by role, healed by a
reset; listed, validated (one line, exit 2), replayable from faults.json, drawn by --swarm when
named, and shown as fault windows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults.registry import REGISTRY
from faults.schedule import plan, validate_schedule
from sim.config import Config
from sim.errors import UsageError
from sim.runs.runner import run, simulate
from tests.cli.test_bad_input import eosim, one_line_error
from tests.faults.faultkit import fault

CLOCKS = ("clock-bump", "clock-strobe", "clock-skew")
SHORT = Config(mode="transactional", time_limit=4.0, convergence=1.0)


def nemesis_ops(ops: list[dict]) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    return [(op["f"], op["value"]) for op in ops if op["process"] == "nemesis"]


def test_the_clock_nemeses_are_registered_and_listed() -> None:
    assert set(CLOCKS) <= set(REGISTRY)
    proc = eosim("run", "--nemesis", "list")
    assert proc.returncode == 0
    for name in CLOCKS:
        assert name in proc.stdout


def test_a_bump_on_the_coordinator_is_a_fault_window_and_heals_to_true_time() -> None:
    world, _, _ = simulate(SHORT, 1, [fault(1.0, "clock-bump", 1.0, "coordinator", delta=-7.5)])
    (start_f, start), (stop_f, stop) = nemesis_ops(world.history.ops)
    assert start_f == stop_f == "clock-bump"
    assert start["phase"] == "start" and stop["phase"] == "stop"
    assert start["target"] == stop["target"] and start["target"].startswith("b")
    assert start["clock_offset"] == -7.5 and start["until"] == 2.0
    assert all(b.clock.perfect for b in world.brokers.values())


def test_a_strobe_flips_the_clock_every_period_until_healed() -> None:
    from faults.catalog import FaultContext, clock_strobe
    from sim.cluster.build import build_world

    world = build_world(SHORT, 0)
    ctx = FaultContext(world, None, world.rng("nemesis"))
    heal = clock_strobe(ctx, "b0", {"delta": 2.0, "period": 0.1})
    clock = world.brokers["b0"].clock
    offsets = []
    for i in range(6):
        world.env.run(until=0.05 + 0.1 * i)
        offsets.append(round(clock.offset, 9))
    assert offsets == [2.0, 0.0, 2.0, 0.0, 2.0, 0.0]
    heal()
    world.env.run(until=1.0)
    assert clock.perfect


def test_a_skew_runs_the_clock_at_its_rate() -> None:
    from faults.catalog import FaultContext, clock_skew
    from sim.cluster.build import build_world

    world = build_world(SHORT, 0)
    world.env.run(until=1.0)
    ctx = FaultContext(world, None, world.rng("nemesis"))
    heal = clock_skew(ctx, "controller", {"rate": 0.5})
    world.env.run(until=3.0)
    assert world.controller.clock.now() == 2.0
    heal()
    assert world.controller.clock.now() == 3.0


def test_a_client_bump_moves_the_producers_clock() -> None:
    """The producer's delivery.timeout.ms and linger.ms read its machine's clock."""
    schedule = [
        fault(1.0, "clock-bump", 1.0, "producers", delta=-3.0),
        fault(2.5, "clock-skew", 1.0, "producers", rate=1.5),
    ]
    outcome = run(Config(mode="idempotent", time_limit=4.0, convergence=2.0), 2, schedule)
    starts = [v for f, v in nemesis_ops(outcome.ops) if v["phase"] == "start"]
    assert [s["target"][0] for s in starts] == ["c", "c"]
    assert outcome.results["valid"] is True


def test_replay_from_faults_json_is_byte_identical(tmp_path: Path) -> None:
    schedule = [
        fault(0.5, "clock-strobe", 1.0, "leader-of:k1", delta=3.0, period=0.15),
        fault(1.8, "clock-bump", 1.0, "coordinator", delta=10.0),
        fault(2.0, "clock-skew", 1.5, "random-broker", rate=1.5),
    ]
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(schedule))
    first = run(SHORT, 4, validate_schedule(json.loads(path.read_text())))
    again = run(SHORT, 4, validate_schedule(json.loads(path.read_text())))
    assert first.digest == again.digest
    assert [op["f"] for op in first.ops if op["process"] == "nemesis"].count("clock-strobe") == 2


@pytest.mark.parametrize(
    ("nemesis", "params", "needle"),
    [
        ("clock-bump", {"delta": 0}, "delta must be a non-zero"),
        ("clock-bump", {"delta": "ten"}, "delta must be a number"),
        ("clock-strobe", {"period": 0}, "period must be at least"),
        ("clock-skew", {"rate": -1}, "rate must be between"),
        ("clock-skew", {"rate": 1.0}, "not 1"),
    ],
)
def test_bad_clock_params_are_one_line_exit_2(
    nemesis: str, params: dict[str, object], needle: str, tmp_path: Path
) -> None:
    op = {"at": 1.0, "nemesis": nemesis, "duration": 1.0, "params": params}
    with pytest.raises(UsageError, match=needle):
        validate_schedule([op])
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps([op]))
    one_line_error(eosim("run", "--faults", str(faults), cwd=tmp_path), "fault #0", needle)


def test_swarm_draws_clock_nemeses_named_or_not_with_their_parameters() -> None:
    named = Config(time_limit=20, swarm=True, nemesis=(*CLOCKS, "kill-broker"))
    drawn = {op["nemesis"] for s in range(10) for op in plan(named, s)}
    assert set(CLOCKS) <= drawn
    default = Config(time_limit=20, swarm=True)
    faults = [op for s in range(30) for op in plan(default, s)]
    assert {op["nemesis"] for op in faults} >= set(CLOCKS)
    assert all(op["params"] for op in faults if op["nemesis"] in CLOCKS)
