"""Transaction and group coordinator facts: fencing an open transaction, when EndTxn is
answered, and generation checks on transactional offsets, checked with raw requests."""

from __future__ import annotations

from typing import Any

import pytest

from sim.cluster.network import Rule
from sim.cluster.txn import TxnMeta
from sim.cluster.world import World
from sim.config import Config
from tests.fidelity.kit import RawClient, run_for, settled

TXN = Config(mode="transactional")
TXN_STATE, OFFSETS = "__transaction_state", "__consumer_offsets"


def leader_of(world: World, key: str) -> str:
    return str(world.controller.leader_of(key))


def ask(
    world: World, client: RawClient, api: str, body: dict[str, Any], key: str
) -> dict[str, Any]:
    """One request to the leader of ``key`` (a coordinator or a partition), and its answer."""
    client.replies.clear()
    client.send(leader_of(world, key), api, body)
    run_for(world, 0.3)
    assert len(client.replies) == 1, client.replies
    return client.replies[0]


def txn_meta(world: World) -> TxnMeta:
    return world.txn_coordinators[leader_of(world, TXN_STATE)].txns["t"]


def open_transaction(world: World, client: RawClient) -> dict[str, Any]:
    """InitProducerId for "t", AddPartitionsToTxn k0 and one transactional record at k0."""
    ids = ask(world, client, "InitTxnProducerId", {"txn_id": "t", "timeout": 5.0}, TXN_STATE)
    assert "pid" in ids, ids
    add = {"txn_id": "t", **ids, "keys": ["k0"]}
    assert ask(world, client, "AddPartitionsToTxn", add, TXN_STATE) == {"ok": True}
    body = {
        "key": "k0",
        "values": [1],
        "pid": ids["pid"],
        "epoch": ids["epoch"],
        "seq": 0,
        "acks": "all",
        "txn": True,
        "txn_id": "t",
    }
    assert ask(world, client, "Produce", body, "k0")["offset"] == 0
    return ids


@pytest.mark.parametrize("version", ["3.5", "3.9"])
def test_init_producer_id_fences_and_aborts_an_ongoing_transaction(version: str) -> None:
    """InitProducerId for a transactional.id whose transaction is Ongoing bumps the epoch,
    aborts that transaction with the bumped epoch and answers CONCURRENT_TRANSACTIONS; the
    retry, once the abort is complete, gets the epoch bumped again, and the old epoch is fenced.

    The abort marker written to the transaction's partition carries the first bump (epoch+1),
    so the partition fences the old producer too; the caller ends at epoch+2.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionCoordinator.scala,
    TransactionCoordinator.handleInitProducerId (Ongoing -> prepareFenceProducerEpoch, then
    endTransaction(ABORT, isFromClient = false), caller answered CONCURRENT_TRANSACTIONS);
    TransactionMetadata.prepareFenceProducerEpoch
    """
    world, client = settled(TXN, kafka_version=version)
    ids = open_transaction(world, client)
    pid, epoch = ids["pid"], ids["epoch"]
    init = {"txn_id": "t", "timeout": 5.0}
    assert ask(world, client, "InitTxnProducerId", init, TXN_STATE) == {
        "error": "concurrent_transactions"
    }
    meta = txn_meta(world)
    assert (meta.state, meta.epoch) in {("PrepareAbort", epoch + 1), ("CompleteAbort", epoch + 1)}
    run_for(world, 1.0)
    assert (meta.state, meta.epoch) == ("CompleteAbort", epoch + 1)
    log = world.brokers[leader_of(world, "k0")].logs["k0"]
    last = log.records[-1]
    assert (last.control, last.pid, last.epoch) == ("abort", pid, epoch + 1)
    assert ask(world, client, "InitTxnProducerId", init, TXN_STATE) == {
        "pid": pid,
        "epoch": epoch + 2,
    }
    old = {"txn_id": "t", "pid": pid, "epoch": epoch}
    assert ask(world, client, "AddPartitionsToTxn", {**old, "keys": ["k0"]}, TXN_STATE) == {
        "error": "producer_fenced"
    }
    assert ask(world, client, "EndTxn", {**old, "commit": True}, TXN_STATE) == {
        "error": "producer_fenced"
    }


@pytest.mark.parametrize("version", ["3.5", "3.9"])
def test_a_fenced_producers_next_produce_is_rejected_invalid_producer_epoch(version: str) -> None:
    """After InitProducerId fenced an open transaction, a transactional Produce from the old
    epoch is rejected INVALID_PRODUCER_EPOCH and not appended.

    On 3.5 the partition's producer state has the abort marker's bumped epoch
    (checkProducerEpoch); from 3.6 the producer has no ongoing transaction on the partition, so
    the leader verifies with the coordinator, whose PRODUCER_FENCED the leader hands back as
    INVALID_PRODUCER_EPOCH ("Producers expect to handle INVALID_PRODUCER_EPOCH in this
    scenario").

    Kafka: core/src/main/scala/kafka/server/AddPartitionsToTxnManager.scala,
    AddPartitionsToTxnManager (PRODUCER_FENCED -> INVALID_PRODUCER_EPOCH);
    storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerAppendInfo.java,
    ProducerAppendInfo.checkProducerEpoch
    """
    world, client = settled(TXN, kafka_version=version)
    ids = open_transaction(world, client)
    init = {"txn_id": "t", "timeout": 5.0}
    assert "error" in ask(world, client, "InitTxnProducerId", init, TXN_STATE)
    run_for(world, 1.0)
    log = world.brokers[leader_of(world, "k0")].logs["k0"]
    before = log.leo
    body = {
        "key": "k0",
        "values": [2],
        "pid": ids["pid"],
        "epoch": ids["epoch"],
        "seq": 1,
        "acks": "all",
        "txn": True,
        "txn_id": "t",
    }
    reply = ask(world, client, "Produce", body, "k0")
    assert log.leo == before
    assert reply == {"error": "invalid_producer_epoch"}


@pytest.mark.parametrize("version", ["3.5", "4.0"])
def test_end_txn_is_answered_after_the_prepare_record_before_the_markers(version: str) -> None:
    """The coordinator answers EndTxn as soon as PrepareCommit is written to the transaction
    log, before any WriteTxnMarkers is acknowledged; the transaction becomes CompleteCommit only
    after every marker is written, and until then it refuses new work with
    CONCURRENT_TRANSACTIONS.

    WriteTxnMarkers requests are held back for 0.6 s, so the EndTxn answer arrives while the
    markers are still in flight.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionCoordinator.scala,
    TransactionCoordinator.endTransaction (sendTxnMarkersCallback: responseCallback(Errors.NONE),
    then txnMarkerChannelManager.addTxnMarkersToSend);
    core/src/main/scala/kafka/coordinator/transaction/TransactionMarkerChannelManager.scala,
    TransactionMarkerChannelManager.tryAppendToLog
    """
    world, client = settled(TXN, kafka_version=version)
    ids = open_transaction(world, client)
    world.net.rules.append(
        Rule(
            "hold-markers",
            lambda m: m.api == "WriteTxnMarkers" and not m.is_response,
            delay=0.6,  # under the coordinator's 1 s request timeout: no resend
        )
    )
    log = world.brokers[leader_of(world, "k0")].logs["k0"]
    seen: list[tuple[dict[str, Any], str, str | None, float]] = []

    def answered(reply: dict[str, Any]) -> None:
        seen.append((reply, txn_meta(world).state, log.records[-1].control, world.env.now))

    sent = world.env.now
    end = {"txn_id": "t", **ids, "commit": True}
    client.call(leader_of(world, TXN_STATE), "EndTxn", end, 2.0, answered)
    run_for(world, 0.3)
    assert len(seen) == 1, seen
    reply, state, control, at = seen[0]
    assert reply.get("ok") is True, reply
    assert (state, control) == ("PrepareCommit", None)
    assert at - sent < 0.1
    epoch = reply.get("epoch", ids["epoch"])
    add = {"txn_id": "t", "pid": ids["pid"], "epoch": epoch, "keys": ["k1"]}
    assert ask(world, client, "AddPartitionsToTxn", add, TXN_STATE) == {
        "error": "concurrent_transactions"
    }
    assert txn_meta(world).state == "PrepareCommit"
    run_for(world, 1.5)
    assert txn_meta(world).state == "CompleteCommit"
    assert (log.records[-1].control, log.records[-1].pid) == ("commit", ids["pid"])


@pytest.mark.parametrize("version", ["3.5", "4.0"])
def test_a_retried_end_txn_waits_until_the_transaction_is_complete(version: str) -> None:
    """A retried EndTxn (its first answer lost) is told CONCURRENT_TRANSACTIONS while the
    transaction is still PrepareCommit, and answered only once it is CompleteCommit: "ok" must
    not come before every marker is written.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionCoordinator.scala,
    TransactionCoordinator.endTransaction (case PrepareCommit: CONCURRENT_TRANSACTIONS)
    """
    world, client = settled(TXN, kafka_version=version)
    ids = open_transaction(world, client)
    world.net.rules.append(
        Rule("hold-markers", lambda m: m.api == "WriteTxnMarkers" and not m.is_response, delay=0.6)
    )
    end = {"txn_id": "t", **ids, "commit": True}
    first = ask(world, client, "EndTxn", end, TXN_STATE)
    assert first.get("ok") is True and txn_meta(world).state == "PrepareCommit"
    assert ask(world, client, "EndTxn", end, TXN_STATE) == {"error": "concurrent_transactions"}
    run_for(world, 1.5)
    assert txn_meta(world).state == "CompleteCommit"
    assert ask(world, client, "EndTxn", end, TXN_STATE).get("ok") is True


def join(world: World, client: RawClient) -> int:
    """Member "m" (re)joins group "g"; the coordinator answers with the new generation."""
    body = {"group": "g", "member": "m", "keys": ["k0"]}
    reply = ask(world, client, "JoinGroup", body, OFFSETS)
    assert "generation" in reply, reply
    return int(reply["generation"])


@pytest.mark.parametrize(("generation", "answer"), [(1, "illegal_generation"), (2, None)])
def test_txn_offset_commit_from_an_older_generation_is_rejected(
    generation: int, answer: str | None
) -> None:
    """KIP-447: TxnOffsetCommit carries the consumer's group metadata, and offsets from a member
    of an older generation are rejected ILLEGAL_GENERATION, as a plain OffsetCommit would be.

    Member "m" joins twice (generations 1 and 2); its producer, inside a transaction that added
    the group, commits offsets naming generation 1 (a zombie of the first assignment) or 2.

    Kafka: core/src/main/scala/kafka/coordinator/group/GroupCoordinator.scala,
    GroupCoordinator.handleTxnCommitOffsets -> validateOffsetCommit ("if (generationId !=
    group.generationId) Some(Errors.ILLEGAL_GENERATION)")
    """
    world, client = settled(TXN)
    ids = ask(world, client, "InitTxnProducerId", {"txn_id": "t", "timeout": 5.0}, TXN_STATE)
    add = {"txn_id": "t", **ids, "group": "g"}
    assert ask(world, client, "AddOffsetsToTxn", add, TXN_STATE) == {"ok": True}
    assert (join(world, client), join(world, client)) == (1, 2)
    body = {
        "group": "g",
        "txn_id": "t",
        **ids,
        "generation": generation,
        "member": "m",
        "offsets": {"k0": 5},
    }
    reply = ask(world, client, "TxnOffsetCommit", body, OFFSETS)
    group = next(
        e for e in world.brokers[leader_of(world, OFFSETS)].extensions if hasattr(e, "groups")
    )
    if answer is None:
        assert reply == {"ok": True}
        assert group.pending_txn_offsets[("g", ids["pid"])]["k0"][0] == 5
    else:
        assert reply == {"error": answer}
        assert group.pending_txn_offsets == {}


@pytest.mark.parametrize(("leads_for", "completes"), [(0.002, False), (0.05, True)])
def test_a_broker_that_leads_the_transaction_log_only_briefly_never_acts_on_it(
    leads_for: float, completes: bool
) -> None:
    """A new transaction coordinator loads its state on a background thread, reading the log
    to its end, uncommitted records included; requests meanwhile get
    COORDINATOR_LOAD_IN_PROGRESS, and a leadership lost before the load ends cancels it.
    So a broker that leads __transaction_state for a moment (two controller decisions in a
    row) does not complete a PrepareCommit that only its own log holds, while one that stays
    leader past the load does, from the same log. Without the load time the model completed
    it at once: COMMIT markers from a record the next coordinator never saw, a partial commit.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionStateManager.scala,
    TransactionStateManager.loadTransactionsForTxnTopicPartition (scheduled; the loaded state
    is kept and its markers sent only if loadingPartitions still holds the coordinator epoch)
    and loadTransactionMetadata (FetchIsolation.LOG_END)
    """
    import dataclasses

    from sim.cluster.log import Record

    world, client = settled(TXN)
    ids = open_transaction(world, client)
    run_for(world, 0.3)  # the followers have every record so far
    current = leader_of(world, TXN_STATE)
    state = world.controller.partitions[TXN_STATE]
    follower = next(r for r in state.replicas if r != current)
    meta = txn_meta(world)
    bumped = meta.epoch + 1 if world.config.txn_v2 else meta.epoch  # KIP-890: EndTxn bumps
    prepared = dataclasses.replace(
        meta, state="PrepareCommit", epoch=bumped, marker_epoch=bumped
    ).record()
    # a PrepareCommit that reached this follower and no other replica
    world.brokers[follower].logs[TXN_STATE].append(Record(0, prepared, state.leader_epoch))
    image = state.image()
    brief = {**image, "leader": follower, "leader_epoch": image["leader_epoch"] + 1,
             "partition_epoch": image["partition_epoch"] + 1}  # fmt: skip
    back = {**image, "leader": current, "leader_epoch": image["leader_epoch"] + 2,
            "partition_epoch": image["partition_epoch"] + 2}  # fmt: skip
    world.brokers[follower].apply_image([brief])
    assert world.txn_coordinators[follower].refusal == "coordinator_load_in_progress"
    run_for(world, leads_for)
    world.brokers[follower].apply_image([back])
    run_for(world, 0.5)
    k0 = world.brokers[leader_of(world, "k0")].logs["k0"]
    markers = [r.control for r in k0.records if r.control is not None and r.pid == ids["pid"]]
    assert markers == (["commit"] if completes else [])
