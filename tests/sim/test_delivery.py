"""With no faults, every mode delivers every acknowledged value exactly once, in offset order."""

from __future__ import annotations

import pytest

from sim.config import Config
from sim.runs.runner import simulate
from tests.sim.helpers import acked_sends, duplicates, final_reads


@pytest.mark.parametrize("mode", ["at-least-once", "idempotent", "transactional"])
def test_fault_free_run_delivers_each_acked_value_once_in_order(mode: str) -> None:
    world, _, _ = simulate(Config(mode=mode, time_limit=3, convergence=2), seed=3)
    log = final_reads(world.history.ops)
    acked = acked_sends(world.history.ops)
    assert len(acked) > 100
    for key, value, offset in acked:
        assert log[key].get(offset) == value, (key, value, offset)
    assert duplicates(log) == []
    for key, records in log.items():
        offsets = sorted(records)
        values_in_offset_order = [records[o] for o in offsets]
        # values are issued in increasing order per key; one producer thread's sends stay ordered
        assert len(values_in_offset_order) == len(set(values_in_offset_order)), key


def test_history_ops_pair_invoke_with_exactly_one_completion() -> None:
    world, _, _ = simulate(
        Config(
            mode="idempotent",
            time_limit=2,
            convergence=1,
            nemesis=("crash-producer",),
            nemesis_interval=0.5,
        ),
        seed=2,
    )
    pending: dict[object, str] = {}
    for op in world.history.ops:
        if op["process"] == "nemesis":
            continue
        if op["type"] == "invoke":
            assert op["process"] not in pending
            pending[op["process"]] = op["f"]
        else:
            assert pending.pop(op["process"]) == op["f"]
    assert pending == {}
    assert [op["index"] for op in world.history.ops] == list(range(len(world.history.ops)))


def test_values_are_unique_per_key_across_the_whole_run() -> None:
    world, _, _ = simulate(
        Config(
            mode="at-least-once",
            time_limit=2,
            convergence=1,
            nemesis=("crash-producer",),
            nemesis_interval=0.5,
        ),
        seed=4,
    )
    seen = set()
    for op in world.history.ops:
        if op["type"] == "invoke" and op["f"] in ("send", "txn"):
            for mop in op["value"]:
                assert (mop[1], mop[2]) not in seen
                seen.add((mop[1], mop[2]))


def test_restarted_producer_gets_new_process_numbers_and_producer_id() -> None:
    world, workload, _ = simulate(
        Config(
            mode="idempotent",
            time_limit=3,
            convergence=1,
            nemesis=("crash-producer",),
            nemesis_interval=0.6,
        ),
        seed=1,
    )
    producers = [s for s in workload.sessions if s.role == "producer"]
    assert len(producers) > 2
    numbers = [p for s in producers for p in s.processes]
    assert len(numbers) == len(set(numbers))
    pids = {s.node.pid for s in producers if s.node.pid >= 0}
    assert len(pids) == len([s for s in producers if s.node.pid >= 0])
