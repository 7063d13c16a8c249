"""Test your own pipeline: user code inside the simulated processor, checked for exactly-once.

A pipeline that reads Kafka and writes to a database. The transform is the same for all three;
the sinks differ:

- ``naive_sink`` inserts every output. A crash (or a store timeout) after the insert and before
  the offsets are committed redelivers the record, and it is inserted again: external-duplicate.
- ``upsert_sink`` (fix 1) upserts keyed by the input's partition and offset: a redelivered
  record overwrites its own row.
- ``offsets_sink`` (fix 2) stores the outputs and the input offset in one store transaction,
  conditional on the offset row's version (a zombie's commit conflicts), and the processor
  resumes from the offsets in the store (``offsets=stored_offsets``).

Run: python examples/own_pipeline.py [SEEDS]   (under pytest: pytest examples/test_own_pipeline.py)
     python examples/own_pipeline.py --measure 200   (every seed, no stop at the first failure)
"""

from __future__ import annotations

import sys
from typing import Any

import sim

# The store's own faults: 2% of operations time out (half of them after taking effect), 1% of
# writes are followed by a crash of the processor, 5% of commits are slow.
FAULTS = sim.StoreFaults(timeout=0.02, crash=0.01, slow_commit=0.05)
NEMESIS = "crash-consumer,drop-acks"  # processor crashes and lost Kafka acks


def transform(record: sim.Record) -> list[Any]:
    """Pure: one order per input record."""
    return [{"order": record.value, "amount": record.value * 10}]


def naive_sink(db: sim.StoreHandle, record: sim.Record, outputs: list[Any]) -> None:
    for out in outputs:
        db.write("orders", out)


def upsert_sink(db: sim.StoreHandle, record: sim.Record, outputs: list[Any]) -> None:
    for i, out in enumerate(outputs):
        db.upsert(["orders", record.partition, record.offset, i], out)


def offsets_sink(db: sim.StoreHandle, record: sim.Record, outputs: list[Any]) -> None:
    db.begin()
    row = db.get(["offset", record.partition])
    next_offset, version = row if row is not None else (0, 0)
    if record.offset < next_offset:  # stored before: a redelivery
        db.rollback()
        return
    for out in outputs:
        db.write("orders", out)
    db.write_if(["offset", record.partition], record.offset + 1, version)
    db.commit()  # StoreConflict if another processor moved the offset meanwhile


def stored_offsets(db: sim.StoreHandle, partitions: list[str]) -> dict[str, int]:
    """Where to resume each assigned partition: the offsets the sink stored."""
    found = {}
    for p in partitions:
        row = db.get(["offset", p])
        if row is not None:
            found[p] = row[0]
    return found


NAIVE = sim.Pipeline(transform, sink=naive_sink, commit="transactional", store=FAULTS)
UPSERT = sim.Pipeline(transform, sink=upsert_sink, commit="transactional", store=FAULTS)
OFFSETS_IN_SINK = sim.Pipeline(
    transform, sink=offsets_sink, offsets=stored_offsets, commit="manual", store=FAULTS
)


PIPELINES = (("naive", NAIVE), ("upsert", UPSERT), ("offsets-in-sink", OFFSETS_IN_SINK))


def measure(seeds: int) -> None:
    """Every seed of every pipeline (no stop at the first failure): the README's figures."""
    import time

    for name, pipeline in PIPELINES:
        start = time.perf_counter()
        results = sim.run_pipelines(pipeline, seeds, NEMESIS, stop_at_first_failure=False)
        bad = results.failing()
        took = time.perf_counter() - start
        first = f", first failing seed {bad[0]}" if bad else ""
        print(f"{name}: {len(bad)}/{seeds} seeds broke exactly-once{first} ({took:.0f} s)")


def main(seeds: int = 20) -> int:
    for name, pipeline in PIPELINES:
        results = sim.run_pipelines(pipeline, seeds, NEMESIS)
        try:
            results.assert_exactly_once()
            print(f"{name}: exactly-once held in {len(results.runs)} seeds")
        except sim.ExactlyOnceError as exc:
            print(f"{name}: {exc}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        measure(int(sys.argv[2]) if len(sys.argv) > 2 else 200)
        sys.exit(0)
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
