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


def test_a_transactional_producer_never_begins_over_an_unresolved_abort() -> None:
    """An abort whose EndTxn is never confirmed (the coordinator cannot replicate its
    PrepareAbort record) leaves the transaction open at the coordinator. The Java client will
    not begin another transaction until that call is retried to completion; the model's client
    re-initialises (as a new instance would), which bumps the epoch and aborts the abandoned
    writes. Beginning the next transaction under the same epoch instead let its commit take
    the abandoned writes with it: an aborted read (G1a) the search benchmark found.

    Kafka: clients/src/main/java/org/apache/kafka/clients/producer/internals/
    TransactionManager.java, TransactionManager.beginTransaction -> throwIfPendingState
    """
    from sim.clients.txn_producer import TxnProducer
    from sim.cluster.build import build_world

    world = build_world(Config(mode="transactional").validate(), seed=1)
    env = world.env
    coordinator = str(world.controller.leader_of("__transaction_state"))
    key = next(k for k in sorted(world.controller.partitions) if k.startswith("k")
               and world.controller.leader_of(k) == coordinator)  # fmt: skip
    producer = TxnProducer(world, "p", "t")
    world.net.add_node(producer, "producer")
    results: dict[str, object] = {}

    def client():  # type: ignore[no-untyped-def]
        yield env.timeout(0.5)
        assert (yield from producer.init_transactions())
        first_epoch = producer.epoch
        producer.begin()
        assert (yield from producer.txn_send(key, 1))[0] == "ok"
        others = [b for b in sorted(world.brokers) if b != coordinator]
        for name in others:
            world.brokers[name].crash()
        results["abort"] = yield from producer.end(commit=False)
        results["pending"] = producer.needs_reinit
        for name in others:
            world.brokers[name].restart()
        yield env.timeout(3.0)
        results["reinit"] = yield from producer.reinit_if_pending()
        results["bumped"] = producer.epoch > first_epoch
        producer.begin()
        assert (yield from producer.txn_send(key, 2))[0] == "ok"
        results["commit"] = yield from producer.end(commit=True)

    env.run(until=env.process(client()))
    env.run(until=env.now + 1.0)  # the markers
    assert results == {"abort": "fail", "pending": True, "reinit": True, "bumped": True,
                       "commit": "ok"}  # fmt: skip
    log = world.brokers[str(world.controller.leader_of(key))].logs[key]
    visible, _ = log.read(0, log.lso, read_committed=True)
    assert [r.value for r in visible] == [2]
