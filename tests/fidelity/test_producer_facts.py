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


@pytest.mark.parametrize(("in_flight", "appended"), [(5, [2, 1, 2]), (1, [1, 2])])
def test_a_lost_first_batch_makes_the_java_client_write_the_next_one_twice(
    in_flight: int, appended: list[int]
) -> None:
    """A partition that has never seen the producer takes its first batch whatever its
    sequence. Batch 0's request is lost, batch 1 lands behind it on the same connection; both
    time out. Retries go out one at a time (only the partition's first unfinished sequence),
    so batch 0 is retried alone and gets OUT_OF_ORDER_SEQUENCE_NUMBER as the next expected
    sequence with nothing unresolved: the client bumps the epoch and renumbers every in-flight
    batch from 0, and batch 1, already written, is appended again under the new epoch. A real
    Java-client duplicate (KAFKA-14034's family); with one request in flight it cannot happen.

    Kafka: clients/src/main/java/org/apache/kafka/clients/producer/internals/
    RecordAccumulator.java, RecordAccumulator.shouldStopDrainBatchesForPartition ("This
    effectively reduces our in flight request count to 1"); TransactionManager.java,
    TransactionManager.canRetry (OUT_OF_ORDER_SEQUENCE_NUMBER -> requestEpochBumpForPartition)
    and bumpIdempotentProducerEpoch (startSequencesAtBeginning); storage/src/main/java/org/
    apache/kafka/storage/internals/log/ProducerAppendInfo.java, ProducerAppendInfo.checkSequence
    """
    from sim.clients.producer import Producer
    from sim.cluster.build import build_world
    from sim.cluster.network import Rule

    config = Config(mode="idempotent", max_in_flight=in_flight, linger_ms=0.0)
    world = build_world(config.validate(), seed=1)
    env = world.env
    producer = Producer(world, "p")
    world.net.add_node(producer, "producer")
    lost: list[int] = []

    def first_produce(m) -> bool:  # type: ignore[no-untyped-def]
        if m.api == "Produce" and not m.is_response and m.src == "p" and not lost:
            lost.append(m.body["seq"])
            return True
        return False

    world.net.rules.append(Rule("lose-the-first-batch", first_produce, drop=1.0))
    outcomes: list[str] = []

    def client():  # type: ignore[no-untyped-def]
        yield env.timeout(0.5)
        yield producer.init()
        for value in (1, 2):
            producer.send("k0", value, lambda type_, _off: outcomes.append(type_))
            yield env.timeout(0.01)

    env.process(client())
    env.run(until=6.0)
    assert lost == [0] and outcomes == ["ok", "ok"], (lost, outcomes)
    log = world.brokers[str(world.controller.leader_of("k0"))].logs["k0"]
    assert [r.value for r in log.records if r.control is None] == appended
