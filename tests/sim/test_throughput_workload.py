"""The throughput workload knobs: ``workload.partitioner=sticky`` and ``workload.arrivals=open``.

They are what the benchmarks drive; here they must keep the history contract (one pending op per
process, invoke then one completion), keep the modes' promises, and do what Kafka's sticky
partitioner and an open-loop client do: fill batches and keep many sends in flight.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from sim.config import Config
from sim.runs.runner import run, simulate
from tests.faults.faultkit import fault

THROUGHPUT = {"workload.arrivals": "open", "workload.partitioner": "sticky"}


def throughput_config(mode: str = "idempotent", **knobs: Any) -> Config:
    external = {**THROUGHPUT, **knobs.pop("external", {})}
    base: dict[str, Any] = {
        "mode": mode,
        "workload": "produce",
        "producers": 3,
        "rate": 1500.0,
        "linger_ms": 50.0,
        "batch_size": 20,
        "time_limit": 2.0,
        "convergence": 1.0,
    }
    return Config(**{**base, **knobs}, external=external)


def invoked_keys_by_session(world: Any) -> dict[str, list[str]]:
    owner = {p: s.name for s in world.workload.sessions for p in s.processes}
    out: dict[str, list[str]] = {}
    for op in world.history.ops:
        if op["type"] == "invoke" and op["f"] == "send":
            out.setdefault(owner[op["process"]], []).append(op["value"][0][1])
    return out


def run_lengths(keys: list[str]) -> list[int]:
    return [len(list(group)) for _, group in itertools.groupby(keys)]


@pytest.mark.parametrize(
    "loop",
    [{"workload.arrivals": "open"}, {"workload.arrivals": "closed", "workload.threads": 40}],
)
def test_sticky_partitioner_stays_on_a_partition_for_one_batch_size(loop: dict[str, Any]) -> None:
    """One sticky partition per producer, shared by its threads in the closed loop."""
    world, _, _ = simulate(throughput_config(external=loop), seed=1)
    by_session = invoked_keys_by_session(world)
    assert len(by_session) == 3
    for name, keys in by_session.items():
        runs = run_lengths(keys)
        assert len(runs) > 5, name
        # A switch may land on the same partition again, so runs are whole multiples of 20.
        assert all(n % 20 == 0 for n in runs[:-1]), (name, runs)
        assert len(set(keys)) > 1, name


def test_random_partitioner_moves_on_every_record() -> None:
    config = throughput_config(external={"workload.partitioner": "random"})
    world, _, _ = simulate(config, seed=1)
    for name, keys in invoked_keys_by_session(world).items():
        runs = run_lengths(keys)
        assert sum(runs) / len(runs) < 2, name  # six partitions: mostly runs of one


def test_open_loop_keeps_many_sends_in_flight_and_fills_batches() -> None:
    world, _, _ = simulate(throughput_config(), seed=2)
    owner = {p: s.name for s in world.workload.sessions for p in s.processes}
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    pending: set[Any] = set()
    for op in world.history.ops:
        if op["f"] != "send":
            continue
        name = owner[op["process"]]
        if op["type"] == "invoke":
            assert op["process"] not in pending, "a process with two ops pending"
            pending.add(op["process"])
            in_flight[name] = in_flight.get(name, 0) + 1
            peak[name] = max(peak.get(name, 0), in_flight[name])
        else:
            pending.remove(op["process"])
            in_flight[name] -= 1
    assert not pending
    # 500 records/s per producer and linger.ms=50: a batch's worth waits at once.
    assert min(peak.values()) >= 10, peak
    producers = [s.node for s in world.workload.sessions if s.role == "producer"]
    sends = sum(1 for op in world.history.ops if op["type"] == "ok" and op["f"] == "send")
    batches = sum(p.stats.batches for p in producers)
    assert sends / batches > 8, (sends, batches)


def test_open_loop_run_is_reproducible() -> None:
    config = throughput_config(nemesis=("drop-acks", "kill-broker"), nemesis_interval=0.5)
    digests = {run(config, seed=5).digest for _ in range(3)}
    assert len(digests) == 1


def test_open_loop_fault_free_run_is_valid_in_every_mode() -> None:
    for mode in ("at-least-once", "idempotent"):
        outcome = run(throughput_config(mode), seed=3)
        assert outcome.results["valid"] is True, (mode, outcome.results["anomalies"])


def test_open_loop_client_sends_nothing_while_paused() -> None:
    config = throughput_config()
    schedule = [fault(0.5, "pause-client", 0.6, "c1")]
    world, _, _ = simulate(config, seed=4, schedule=schedule)
    c1 = next(s for s in world.workload.sessions if s.name == "c1")
    invokes = [
        op["time"]
        for op in world.history.ops
        if op["type"] == "invoke" and op["process"] in c1.processes
    ]
    assert any(t < 0.5 for t in invokes) and any(t > 1.1 for t in invokes)
    assert not [t for t in invokes if 0.5 < t < 1.1], "invoked while frozen"


# The theory, under open-loop load too: lost acks make at-least-once retry into duplicates,
# and the idempotent producer's sequence numbers let the broker drop every retry.
SEEDS = range(4)


@pytest.mark.parametrize(
    ("mode", "expect_duplicates"), [("at-least-once", True), ("idempotent", False)]
)
def test_dropped_acks_under_open_loop_load(mode: str, expect_duplicates: bool) -> None:
    config = throughput_config(mode, nemesis=("drop-acks",), nemesis_interval=0.5, time_limit=3.0)
    found = []
    for seed in SEEDS:
        outcome = run(config, seed)
        if "duplicate" in outcome.results["anomalies"]:
            found.append(seed)
        if not expect_duplicates:
            assert outcome.results["valid"] is True, (seed, outcome.results["anomalies"])
    assert bool(found) is expect_duplicates, found
