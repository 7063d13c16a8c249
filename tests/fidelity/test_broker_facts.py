"""Partition-leader facts: producer state (dedup, sequences, epochs), follower appends,
truncation, the last stable offset and KIP-890 produce verification, checked with raw requests."""

from __future__ import annotations

from typing import Any

import pytest

from sim.cluster.log import Record
from sim.cluster.world import World
from sim.config import Config
from tests.fidelity.kit import RawClient, run_for, settled

TXN = Config(mode="transactional")


def leader_of(world: World, key: str = "k0") -> str:
    return str(world.controller.leader_of(key))


def produce(world: World, client: RawClient, values: list[int], **fields: Any) -> dict[str, Any]:
    """One Produce to k0's leader, answered (acks=all) before the next is sent."""
    client.replies.clear()
    client.produce(leader_of(world), "k0", values, **fields)
    run_for(world, 0.3)
    assert len(client.replies) == 1, client.replies
    return client.replies[0]


def fetch(world: World, client: RawClient, isolation: str) -> dict[str, Any]:
    client.replies.clear()
    body = {"key": "k0", "offset": 0, "isolation": isolation, "max_wait": 0.05}
    client.send(leader_of(world), "Fetch", body)
    run_for(world, 0.3)
    assert len(client.replies) == 1, client.replies
    return client.replies[0]


@pytest.mark.parametrize(("back", "answer"), [(1, "dup"), (5, "dup"), (6, "out_of_order")])
def test_the_leader_dedups_the_last_five_batches_of_a_producer(back: int, answer: str) -> None:
    """The leader keeps the metadata of a producer's last five batches: a retry of any of them
    is answered with its original offset and not appended again, while a retry of the sixth
    from last is out of the window and rejected OUT_OF_ORDER_SEQUENCE_NUMBER.

    Seven one-record batches (sequences 0-6 at offsets 0-6) are written, then the batch
    ``back`` places from the end is sent again.

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerStateEntry.java,
    ProducerStateEntry.NUM_BATCHES_TO_RETAIN and findDuplicateBatch;
    core/src/main/scala/kafka/log/UnifiedLog.scala, UnifiedLog.analyzeAndValidateProducerState
    """
    world, client = settled()
    for seq in range(7):
        assert produce(world, client, [seq], pid=5, epoch=0, seq=seq)["offset"] == seq
    seq = 7 - back
    reply = produce(world, client, [seq], pid=5, epoch=0, seq=seq)
    if answer == "dup":
        assert reply["offset"] == seq
    else:
        assert reply == {"error": "out_of_order_sequence"}
    assert world.brokers[leader_of(world)].logs["k0"].leo == 7


@pytest.mark.parametrize(("seq", "answer"), [(0, {"offset": 2}), (3, "out_of_order_sequence")])
def test_a_new_producer_epoch_must_start_at_sequence_zero(seq: int, answer: Any) -> None:
    """A batch with a higher producer epoch than the leader has seen is accepted only at
    sequence 0; any other first sequence is OUT_OF_ORDER_SEQUENCE_NUMBER.

    The producer wrote sequences 0 and 1 under epoch 0; its next batch comes with epoch 1.

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerAppendInfo.java,
    ProducerAppendInfo.checkSequence
    """
    world, client = settled()
    for s in (0, 1):
        assert produce(world, client, [s], pid=5, epoch=0, seq=s)["offset"] == s
    reply = produce(world, client, [9], pid=5, epoch=1, seq=seq)
    if isinstance(answer, dict):
        assert reply["offset"] == answer["offset"]
    else:
        assert reply == {"error": answer}
    assert world.brokers[leader_of(world)].logs["k0"].leo == (3 if seq == 0 else 2)


@pytest.mark.parametrize("txn", [False, True])
def test_a_batch_from_an_older_producer_epoch_is_rejected(txn: bool) -> None:
    """A batch whose producer epoch is below the last epoch the partition has seen for that
    producer id is rejected INVALID_PRODUCER_EPOCH and not appended, transactional or not.

    Since 2.7 the Produce response carries INVALID_PRODUCER_EPOCH rather than PRODUCER_FENCED
    (the Java client then aborts the transaction instead of closing the producer). Run on 3.5
    so that no KIP-890 verification precedes the producer-state check.

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerAppendInfo.java,
    ProducerAppendInfo.checkProducerEpoch ("we replaced ProducerFenced error with
    InvalidProducerEpoch in the producer send response")
    """
    world, client = settled(TXN, kafka_version="3.5")
    assert produce(world, client, [1], pid=5, epoch=1, seq=0, txn=txn)["offset"] == 0
    reply = produce(world, client, [2], pid=5, epoch=0, seq=1, txn=txn)
    assert reply == {"error": "invalid_producer_epoch"}
    assert world.brokers[leader_of(world)].logs["k0"].leo == 1


@pytest.mark.parametrize("acks", ["1", "all"])
def test_a_duplicate_batch_is_answered_with_its_original_offset(acks: str) -> None:
    """A retried batch (same producer id, epoch and sequence range as one the leader holds) is
    answered NONE with the base offset of the first append, and the log does not grow.

    The batch (three records, sequences 0-2) lands at offset 1 behind a plain record, so the
    answer cannot be mistaken for the log end or for zero.

    Kafka: core/src/main/scala/kafka/log/UnifiedLog.scala, UnifiedLog.append
    (appendInfo.setFirstOffset(duplicate.firstOffset)) and analyzeAndValidateProducerState
    """
    world, client = settled()
    assert produce(world, client, [0], acks=acks)["offset"] == 0
    first = produce(world, client, [1, 2, 3], pid=5, epoch=0, seq=0, acks=acks)
    again = produce(world, client, [1, 2, 3], pid=5, epoch=0, seq=0, acks=acks)
    assert first["offset"] == again["offset"] == 1
    assert "error" not in again
    log = world.brokers[leader_of(world)].logs["k0"]
    assert log.leo == 4
    assert [r.value for r in log.records] == [0, 1, 2, 3]


def test_followers_copy_batches_without_producer_checks() -> None:
    """A follower appends what the leader sends without validating producer ids, epochs or
    sequences, and takes its producer state from those batches.

    The leader's log here holds a batch with a sequence gap (0 then 7) and an older epoch after
    a newer one, as a leader whose producer state was lost may have accepted; a follower that
    checked them would refuse them, and its log would never match the leader's.

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerAppendInfo.java,
    ProducerAppendInfo.append (checkSequence only for AppendOrigin.CLIENT, checkProducerEpoch
    only warns for AppendOrigin.REPLICATION)
    """
    world, client = settled()
    leader = leader_of(world)
    assert produce(world, client, [0], pid=5, epoch=1, seq=0)["offset"] == 0
    log = world.brokers[leader].logs["k0"]
    epoch = world.brokers[leader].leading["k0"].epoch
    gap = Record(0, 1, 5, 1, 7, epoch, last_seq=7)
    stale = Record(0, 2, 5, 0, 3, epoch, last_seq=3)
    log.append_batch([gap])
    log.append_batch([stale])
    world.brokers[leader].after_append("k0")
    run_for(world, 1.0)
    followers = [b for b in world.controller.partitions["k0"].replicas if b != leader]
    for name in followers:
        flog = world.brokers[name].logs["k0"]
        assert [(r.epoch, r.seq) for r in flog.records] == [(1, 0), (1, 7), (0, 3)]
        assert flog.producers[5].epoch == log.producers[5].epoch == 1
        assert flog.producers[5].last_seq == 3


def test_truncation_rebuilds_producer_state_from_the_kept_log() -> None:
    """A follower that truncates its log rebuilds its producer state from the records it keeps,
    so it ends with the leader's producer state for that prefix, not with what the removed
    suffix had left.

    The follower holds a divergent suffix the leader never had: a batch of producer 5 with a
    bumped epoch and an open transaction of producer 9. Told by the leader that its log
    diverges, it truncates: producer 5 is back at epoch 0 with the leader's batches (so a retry
    of its last batch is a duplicate again) and producer 9 and its open transaction are gone.

    Kafka: core/src/main/scala/kafka/log/UnifiedLog.scala, UnifiedLog.truncateTo ->
    rebuildProducerState; storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerStateManager.java,
    ProducerStateManager.truncateAndReload
    """
    world, client = settled()
    leader = leader_of(world)
    for seq in (0, 1):
        assert produce(world, client, [seq], pid=5, epoch=0, seq=seq)["offset"] == seq
    run_for(world, 0.5)
    epoch = world.brokers[leader].leading["k0"].epoch
    follower = next(b for b in world.controller.partitions["k0"].replicas if b != leader)
    flog = world.brokers[follower].logs["k0"]
    assert flog.leo == 2
    flog.append_batch([Record(0, 8, 5, 1, 0, epoch, last_seq=0)])
    flog.append_batch([Record(0, 9, 9, 0, 0, epoch, txn=True, last_seq=0)])
    assert (flog.producers[5].epoch, flog.lso) == (1, 2)
    run_for(world, 1.5)  # the follower's next fetch names offset 4: diverging, truncated to 2
    llog = world.brokers[leader].logs["k0"]
    assert flog.leo == llog.leo == 2
    assert flog.producers.keys() == llog.producers.keys() == {5}
    assert flog.producers[5].epoch == 0
    assert list(flog.producers[5].batches) == list(llog.producers[5].batches)
    assert flog.producers[5].last_seq == 1
    assert flog.open_txn_offsets() == []


@pytest.mark.parametrize("commit", [False, True])
def test_read_committed_stops_at_the_lso_and_skips_aborted_records(commit: bool) -> None:
    """A read_committed fetch returns nothing from the first offset of an open transaction on
    (the last stable offset); once the transaction is aborted it skips that transaction's
    records, which a read_uncommitted fetch still returns.

    Offsets: 0 plain, 1-2 a transaction of producer 7, 3 plain, 4 its marker. Run on 3.5 so the
    transactional Produce needs no coordinator.

    Kafka: core/src/main/scala/kafka/log/UnifiedLog.scala, UnifiedLog.read
    (FetchIsolation.TXN_COMMITTED reads to fetchLastStableOffsetMetadata) and lastStableOffset;
    core/src/main/scala/kafka/log/LocalLog.scala, LocalLog.collectAbortedTransactions
    """
    world, client = settled(TXN, kafka_version="3.5")
    assert produce(world, client, [10])["offset"] == 0
    assert produce(world, client, [11, 12], pid=7, epoch=0, seq=0, txn=True)["offset"] == 1
    assert produce(world, client, [13])["offset"] == 3
    everything = [(0, 10), (1, 11), (2, 12), (3, 13)]
    committed = fetch(world, client, "read_committed")
    assert (committed["records"], committed["next"], committed["lso"]) == ([(0, 10)], 1, 1)
    assert fetch(world, client, "read_uncommitted")["records"] == everything
    client.replies.clear()
    marker = {"key": "k0", "pid": 7, "epoch": 0, "commit": commit, "group": None}
    client.send(leader_of(world), "WriteTxnMarkers", marker)
    run_for(world, 0.3)
    assert client.replies == [{"ok": True}]
    committed = fetch(world, client, "read_committed")
    assert committed["lso"] == 5
    if commit:
        assert committed["records"] == everything
    else:
        assert committed["records"] == [(0, 10), (3, 13)]
    assert fetch(world, client, "read_uncommitted")["records"] == everything


@pytest.mark.parametrize(("version", "appended"), [("3.5", True), ("3.6", False), ("3.7", False)])
def test_a_transactional_produce_to_a_partition_outside_the_transaction(
    version: str, appended: bool
) -> None:
    """From 3.6 (KIP-890 part 1) a transactional Produce to a partition the producer never
    added to its transaction is rejected INVALID_TXN_STATE and nothing is appended; on 3.5 the
    leader appends it.

    The producer has an id and epoch from InitProducerId but sent no AddPartitionsToTxn: the
    leader asks the transaction coordinator (verify-only AddPartitionsToTxn), which says the
    partition is not in an ongoing transaction.

    Kafka: core/src/main/scala/kafka/server/ReplicaManager.scala, ReplicaManager.appendRecords
    (3.6) / maybeStartTransactionVerificationForPartition (3.7+) ("Partition was not added to the
    transaction")
    """
    world, client = settled(TXN, kafka_version=version)
    client.send(
        str(world.controller.leader_of("__transaction_state")),
        "InitTxnProducerId",
        {"txn_id": "t", "timeout": 5.0},
    )
    run_for(world, 0.3)
    ids = client.replies[0]
    assert "pid" in ids, ids
    reply = produce(
        world, client, [1], pid=ids["pid"], epoch=ids["epoch"], seq=0, txn=True, txn_id="t"
    )
    log = world.brokers[leader_of(world)].logs["k0"]
    if appended:
        assert reply["offset"] == 0
        assert log.leo == 1
    else:
        assert reply == {"error": "invalid_txn_state"}
        assert log.leo == 0
