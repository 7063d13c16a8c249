"""Transaction coordinator and group coordinator facts, checked with raw requests."""

from __future__ import annotations

from typing import Any

import pytest

from sim.config import Config
from tests.fidelity.kit import RawClient, run_for, settled

TXN = Config(mode="transactional")


def coordinator(world, internal: str) -> str:  # type: ignore[no-untyped-def]
    return str(world.controller.leader_of(internal))


def ask(world, client: RawClient, api: str, body: dict[str, Any], internal: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    client.replies.clear()
    client.send(coordinator(world, internal), api, body)
    run_for(world, 0.3)
    assert len(client.replies) == 1, client.replies
    return client.replies[0]


def init_producer(world, client: RawClient, **expected: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"txn_id": "t", "timeout": 5.0, **expected}
    return ask(world, client, "InitTxnProducerId", body, "__transaction_state")


def test_add_partitions_and_end_txn_require_the_exact_epoch() -> None:
    """The coordinator fences a client epoch *above* its own as well as below: an epoch it
    never issued (a producer that bumped locally) must not open or end a transaction.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionCoordinator.scala,
    TransactionCoordinator.handleAddPartitionsToTransaction and endTransaction ("Strict equality
    is enforced on the client side requests")
    """
    world, client = settled(TXN)
    ids = init_producer(world, client)
    base = {"txn_id": "t", "pid": ids["pid"]}
    add = {**base, "keys": ["k0"]}
    for epoch in (ids["epoch"] + 1, ids["epoch"] - 1):
        reply = ask(
            world, client, "AddPartitionsToTxn", {**add, "epoch": epoch}, "__transaction_state"
        )
        assert reply == {"error": "producer_fenced"}
    reply = ask(
        world, client, "AddPartitionsToTxn", {**add, "epoch": ids["epoch"]}, "__transaction_state"
    )
    assert reply == {"ok": True}
    end = {**base, "commit": False, "epoch": ids["epoch"] + 1}
    assert ask(world, client, "EndTxn", end, "__transaction_state") == {"error": "producer_fenced"}


def test_init_producer_id_with_the_current_epoch_bumps_it_once() -> None:
    """KIP-360: after an abortable error the client sends InitProducerId with its producer id
    and epoch; the coordinator bumps the epoch, answers a retry of that call with the same new
    epoch (no second bump), and fences any other expected epoch.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionMetadata.scala,
    TransactionMetadata.prepareIncrementProducerEpoch; TransactionCoordinator.handleInitProducerId
    """
    world, client = settled(TXN)
    ids = init_producer(world, client)
    pid, epoch = ids["pid"], ids["epoch"]
    assert init_producer(world, client, pid=pid, epoch=epoch) == {"pid": pid, "epoch": epoch + 1}
    assert init_producer(world, client, pid=pid, epoch=epoch) == {"pid": pid, "epoch": epoch + 1}
    assert init_producer(world, client, pid=pid, epoch=epoch + 7) == {"error": "producer_fenced"}
    assert init_producer(world, client, pid=pid + 1, epoch=epoch + 1) == {
        "error": "producer_fenced"
    }


def offsets(world, client: RawClient, epoch: int, commit: dict[str, int]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {
        "group": "g",
        "txn_id": "t",
        "pid": 7,
        "epoch": epoch,
        "generation": -1,
        "member": None,
        "offsets": commit,
    }
    return ask(world, client, "TxnOffsetCommit", body, "__consumer_offsets")


def marker(world, client: RawClient, epoch: int, commit: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {"key": "__consumer_offsets", "pid": 7, "epoch": epoch, "commit": commit, "group": "g"}
    return ask(world, client, "WriteTxnMarkers", body, "__consumer_offsets")


def committed(world, key: str) -> int | None:  # type: ignore[no-untyped-def]
    leader = world.brokers[coordinator(world, "__consumer_offsets")]
    group = next(e for e in leader.extensions if hasattr(e, "pending_txn_offsets"))
    return group.offsets.get(("g", key))


def test_pending_transactional_offsets_merge_per_partition() -> None:
    """Two TxnOffsetCommits of one transaction for different partitions both commit: pending
    offsets are merged per partition, not replaced by the later request.

    Kafka: core/src/main/scala/kafka/coordinator/group/GroupMetadata.scala,
    GroupMetadata.prepareTxnOffsetCommit; group-coordinator OffsetMetadataManager.replay
    """
    world, client = settled(TXN, kafka_version="3.6")  # 3.6: no offset verification to set up
    assert offsets(world, client, 0, {"k0": 5}) == {"ok": True}
    assert offsets(world, client, 0, {"k1": 9}) == {"ok": True}
    assert marker(world, client, 0, commit=True) == {"ok": True}
    assert (committed(world, "k0"), committed(world, "k1")) == (5, 9)


@pytest.mark.parametrize("version", ["3.5", "3.7", "4.0"])
def test_offsets_from_an_older_epoch_are_fenced(version: str) -> None:
    """TxnOffsetCommit is written to __consumer_offsets as a transactional batch, so the log's
    producer-state check rejects an epoch below one it has seen (INVALID_PRODUCER_EPOCH, which
    the Java client raises as ProducerFencedException). With transaction version 2 every
    transaction has a new epoch, so a request held back from the previous one is fenced.

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerAppendInfo.java,
    ProducerAppendInfo.checkProducerEpoch
    """
    world, client = settled(TXN, kafka_version=version)
    assert marker(world, client, 3, commit=False) == {"ok": True}  # the log saw epoch 3
    assert offsets(world, client, 2, {"k0": 1}) == {"error": "invalid_producer_epoch"}
    assert committed(world, "k0") is None


@pytest.mark.parametrize("commit", [True, False])
def test_a_repeated_marker_for_a_completed_transaction_changes_nothing(commit: bool) -> None:
    """A coordinator that re-sends a marker (its connection broke after the leader wrote it)
    makes the leader append a second marker for a transaction it has completed: the second one
    opens or closes nothing, so the LSO stays at the high watermark and an aborted transaction
    is indexed once (read_committed readers skip its records, and nothing else).

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerAppendInfo.java,
    ProducerAppendInfo.appendEndTxnMarker (a CompletedTxn only when currentTxnFirstOffset is set)
    """
    world, client = settled(TXN, kafka_version="3.5")  # 3.5: no partition verification
    leader = world.controller.leader_of("k0")
    assert leader is not None
    client.produce(leader, "k0", [1, 2], pid=7, epoch=0, seq=0, txn=True, txn_id="t")
    run_for(world, 0.3)
    assert client.replies and "error" not in client.replies[-1], client.replies
    body = {"key": "k0", "pid": 7, "epoch": 0, "commit": commit, "group": None}
    for _ in range(2):
        client.replies.clear()
        client.send(leader, "WriteTxnMarkers", body)
        run_for(world, 0.3)
        assert client.replies == [{"ok": True}]
    log = world.brokers[leader].logs["k0"]
    assert [r.control for r in log.records] == [
        None,
        None,
        *(["commit" if commit else "abort"] * 2),
    ]
    assert log.lso == log.hw == log.leo
    assert log.aborted == ([] if commit else [(7, 0, 2)])
    records, _ = log.read(0, log.hw, read_committed=True)
    assert [r.value for r in records] == ([1, 2] if commit else [])
    log.rebuild()  # a follower replaying the log agrees
    assert log.lso == log.hw and log.aborted == ([] if commit else [(7, 0, 2)])


def test_a_failed_state_write_is_answered_with_a_coordinator_error_the_client_retries() -> None:
    """AddPartitionsToTxn whose state record cannot be replicated (the other replicas of
    __transaction_state are down, below min.insync.replicas) is answered
    COORDINATOR_NOT_AVAILABLE, an error the Java client retries, not the log's own error.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionStateManager.scala,
    TransactionStateManager.appendTransactionToLog (NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT ->
    COORDINATOR_NOT_AVAILABLE; NOT_LEADER_OR_FOLLOWER -> NOT_COORDINATOR)
    """
    world, client = settled(TXN)
    ids = init_producer(world, client)
    txn_state = coordinator(world, "__transaction_state")
    for name in sorted(world.brokers):
        if name != txn_state:
            world.brokers[name].crash()
    body = {"txn_id": "t", "pid": ids["pid"], "epoch": ids["epoch"], "keys": ["k0"]}
    client.replies.clear()
    client.send(txn_state, "AddPartitionsToTxn", body, timeout=5.0)
    run_for(world, 3.0)
    assert client.replies == [{"error": "coordinator_not_available"}]


def committed_transaction(world, client: RawClient) -> tuple[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    """One transaction (records on k0, offsets for group g) committed through the coordinator,
    and the next one opened with the epoch EndTxn returned: the leader of k0, and the ids."""
    ids = init_producer(world, client)
    pid, epoch = ids["pid"], ids["epoch"]
    leader = str(world.controller.leader_of("k0"))
    for value in (1, 2):
        txn = {"txn_id": "t", "pid": pid, "epoch": epoch}
        assert ask(world, client, "AddPartitionsToTxn", {**txn, "keys": ["k0"]},
                   "__transaction_state") == {"ok": True}  # fmt: skip
        assert ask(world, client, "AddOffsetsToTxn", {**txn, "group": "g"},
                   "__transaction_state") == {"ok": True}  # fmt: skip
        client.replies.clear()
        client.produce(leader, "k0", [value], pid=pid, epoch=epoch, seq=0, txn=True, txn_id="t")
        run_for(world, 0.3)
        assert client.replies and "error" not in client.replies[-1], client.replies
        body = {"group": "g", "txn_id": "t", "pid": pid, "epoch": epoch, "generation": -1,
                "member": None, "offsets": {"k0": value}}  # fmt: skip
        assert ask(world, client, "TxnOffsetCommit", body, "__consumer_offsets") == {"ok": True}
        if value == 1:
            reply = ask(world, client, "EndTxn", {**txn, "commit": True}, "__transaction_state")
            assert reply.get("ok") and reply["epoch"] == epoch + 1, reply
            epoch = reply["epoch"]
            run_for(world, 0.3)  # the markers are written
    return leader, {"pid": pid, "epoch": epoch}


@pytest.mark.parametrize(("version", "fenced"), [("4.0", False), ("4.1", False), ("4.2", True)])
def test_a_late_marker_of_the_previous_transaction_is_fenced_from_4_2(
    version: str, fenced: bool
) -> None:
    """A late COMMIT marker of the previous transaction (held past the coordinator's retry)
    reaching a partition and the group while the next transaction is open commits that
    transaction's records and offsets half-way before 4.2, and is fenced from 4.2. Transaction
    version 2 writes markers with the epoch bumped at EndTxn, which is the epoch the next
    transaction writes with, so the check before 4.2 (fenced only if older) lets it through;
    4.2 undoes the bump before comparing (KAFKA-19446).

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerAppendInfo.java,
    ProducerAppendInfo.checkProducerEpoch (KAFKA-19446: KafkaApis.handleWriteTxnMarkersRequest
    passes the marker's transaction version; the group path via GroupCoordinator
    completeTransaction)
    """
    world, client = settled(TXN, kafka_version=version)
    leader, ids = committed_transaction(world, client)
    late = {"pid": ids["pid"], "epoch": ids["epoch"], "commit": True}
    client.replies.clear()
    client.send(leader, "WriteTxnMarkers", {**late, "key": "k0", "group": None})
    run_for(world, 0.3)
    want = {"error": "invalid_producer_epoch"} if fenced else {"ok": True}
    assert client.replies == [want]
    log = world.brokers[leader].logs["k0"]
    records, _ = log.read(0, log.lso, read_committed=True)  # what read_committed sees
    assert [r.value for r in records if r.control is None] == ([1] if fenced else [1, 2])
    group_marker = {**late, "key": "__consumer_offsets", "group": "g"}
    assert ask(world, client, "WriteTxnMarkers", group_marker, "__consumer_offsets") == want
    assert committed(world, "k0") == (1 if fenced else 2)


@pytest.mark.parametrize("version", ["4.0", "4.2"])
def test_a_retried_marker_of_a_completed_transaction_is_accepted(version: str) -> None:
    """A coordinator that re-sends a marker the partition already wrote (its answer was lost)
    carries the current epoch and finds no open transaction: accepted on every release, so the
    transaction completes instead of hanging in PrepareCommit (4.2's stricter check would fence
    it but for KAFKA-19999).

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerStateManager.java,
    checkProducerEpoch (KAFKA-19999: TV2, same epoch, currentTxnFirstOffset empty -> a retry)
    """
    world, client = settled(TXN, kafka_version=version)
    leader, ids = committed_transaction(world, client)
    txn = {"txn_id": "t", "pid": ids["pid"], "epoch": ids["epoch"]}
    reply = ask(world, client, "EndTxn", {**txn, "commit": True}, "__transaction_state")
    assert reply.get("ok"), reply
    run_for(world, 0.3)
    again = {"pid": ids["pid"], "epoch": reply["epoch"], "commit": True, "key": "k0", "group": None}
    client.replies.clear()
    client.send(leader, "WriteTxnMarkers", again)
    run_for(world, 0.3)
    assert client.replies == [{"ok": True}]
    log = world.brokers[leader].logs["k0"]
    assert log.lso == log.hw
