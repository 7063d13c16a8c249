"""Producer-client facts: what the Java client does after a sequence gap it cannot resolve."""

from __future__ import annotations

import pytest

from sim.config import Config
from sim.runs.runner import run

# Clients cut off from k0's leader for longer than delivery.timeout.ms (4 s): batches expire
# with their fate unknown and leave gaps in that partition's sequence numbers.
CUT = [{"at": 1.0, "nemesis": "partition-leader", "duration": 5.0, "target": "leader-of:k0"}]
HEALED = 1.0 + 5.0


def sends_after(ops, t: float, key: str) -> int:  # type: ignore[no-untyped-def]
    count = 0
    for op in ops:
        if op["type"] == "ok" and op["time"] > t and op["f"] in ("send", "txn"):
            count += sum(1 for m in op["value"] if m[0] == "send" and m[1] == key)
    return count


@pytest.mark.parametrize("seed", [1, 2])
def test_an_idempotent_producer_survives_an_unresolved_gap(seed: int) -> None:
    """After expired batches the idempotent producer bumps its epoch locally for the partitions
    with the gap (once their in-flight batches drained) and keeps producing; it never goes
    fatal, and the bump never duplicates a record.

    Kafka: clients/src/main/java/org/apache/kafka/clients/producer/internals/TransactionManager.java,
    TransactionManager.maybeResolveSequences, bumpIdempotentProducerEpoch, maybeUpdateProducerIdAndEpoch
    """
    config = Config(mode="idempotent", workload="produce", time_limit=10.0, convergence=3.0)
    outcome = run(config, seed, CUT)
    assert outcome.world is not None
    producers = [s.node for s in outcome.world.workload.sessions if s.role == "producer"]
    assert [p.fatal for p in producers] == [None] * len(producers)
    assert max(p.epoch for p in producers) > 0, "no gap was left: the cut was too short"
    assert sends_after(outcome.ops, HEALED + 1.0, "k0") > 0
    assert outcome.results["valid"] is True, outcome.results["anomaly_types"]


@pytest.mark.parametrize("version", ["3.6", "4.0"])
def test_a_transactional_producer_aborts_and_carries_on_after_a_gap(version: str) -> None:
    """In a transaction the same gap is an abortable error: the producer aborts, bumps its
    epoch through the coordinator (InitProducerId with its id and epoch, KIP-360; with
    transaction version 2 the EndTxn bump serves) and commits again after the fault heals.

    Kafka: clients/src/main/java/org/apache/kafka/clients/producer/internals/TransactionManager.java,
    TransactionManager.handleFailedBatch and beginCompletingTransaction
    """
    config = Config(
        mode="transactional",
        workload="produce",
        time_limit=10.0,
        convergence=3.0,
        kafka_version=version,
    )
    outcome = run(config, 1, CUT)
    assert outcome.world is not None
    producers = [s.node for s in outcome.world.workload.sessions if s.role == "producer"]
    assert [p.fatal for p in producers] == [None] * len(producers)
    assert sends_after(outcome.ops, HEALED + 1.0, "k0") > 0, (
        "no transaction wrote k0 after the heal"
    )
    assert outcome.results["valid"] is True, outcome.results["anomaly_types"]
