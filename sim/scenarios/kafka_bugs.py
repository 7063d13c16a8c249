"""Real Kafka protocol bugs, reproduced deterministically, each next to what fixed it."""

from __future__ import annotations

from typing import Any

from sim.config import Config
from sim.scenarios.base import Case, Scenario, scenario
from sim.scenarios.gallery import QUICK, fault


def delayed_endtxn(seed: int) -> list[dict[str, Any]]:
    """Six EndTxn requests, each held back 0.9 s (past the client's retry) on its way."""
    base = 0.5 + 0.1 * (seed % 5)
    return [
        fault(base + 0.8 * i, "delay-request", 0.7, "producers", api="EndTxn", delay=0.9, count=1)
        for i in range(6)
    ]


V1_TXN: dict[str, Any] = {
    "workload": "produce",
    "rate": 400.0,
    "external": {"workload.abort-probability": 0.3},
}

scenario(
    Scenario(
        name="delayed-endtxn-v1",
        ticket="KAFKA-17754 (Jepsen 2024)",
        claim="pre-KIP-890: a delayed EndTxn lands in the next transaction (aborted reads, lost writes, torn transactions)",
        explanation=(
            "EndTxn travels to the coordinator on its own connection and is retried on timeout. The retry "
            "finishes the transaction, the producer starts the next one with the same epoch, and then the "
            "delayed original arrives: the coordinator takes it for an EndTxn of the new transaction and "
            "commits or aborts it half-way through."
        ),
        cases=(
            Case(
                "v1",
                Config(mode="transactional", txn_protocol="v1", **V1_TXN, **QUICK),
                delayed_endtxn,
                found_any=("G1a", "lost-write", "uncommitted-read", "stalled"),
            ),
        ),
        seeds=20,
    )
)

scenario(
    Scenario(
        name="delayed-endtxn-v2",
        ticket="KIP-890",
        claim="with KIP-890 the epoch is bumped at every EndTxn: the delayed request is fenced, nothing breaks",
        explanation="The delayed EndTxn carries the previous transaction's epoch and is answered as a retry, never applied to the new transaction.",
        cases=(
            Case(
                "v2",
                Config(mode="transactional", txn_protocol="v2", **V1_TXN, **QUICK),
                delayed_endtxn,
                absent=("G1a", "lost-write", "uncommitted-read", "stalled"),
            ),
        ),
        seeds=20,
    )
)


def delayed_produce(seed: int) -> list[dict[str, Any]]:
    """Produce requests held back 1.5 s just before the producers stop: the client gives up and
    aborts, and the late batch lands after the abort marker with nobody left to end it."""
    at = QUICK["time_limit"] - 1.4 - 0.05 * (seed % 5)
    return [fault(at, "delay-request", 1.3, "producers", api="Produce", delay=1.5, count=10_000)]


HANG: dict[str, Any] = {
    "workload": "produce",
    "delivery_timeout_ms": 1000.0,
    "request_timeout_ms": 400.0,
}

scenario(
    Scenario(
        name="hanging-transaction-v1",
        ticket="KIP-890 motivation (hanging transactions)",
        claim="pre-KIP-890: a produce delayed past the abort opens a transaction nobody ends; the LSO is stuck",
        explanation=(
            "The producer gave up on a slow produce request and aborted. The request was still in the "
            "network; it reaches the partition after the abort marker and, with nothing to check it "
            "against, starts a new transaction on that partition that no coordinator knows about. The "
            "Last Stable Offset cannot pass it, so read_committed consumers stall."
        ),
        cases=(
            Case(
                "v1",
                Config(mode="transactional", txn_protocol="v1", **HANG, **QUICK),
                delayed_produce,
                found=("stalled",),
            ),
        ),
        seeds=10,
    )
)

scenario(
    Scenario(
        name="hanging-transaction-v2",
        ticket="KIP-890",
        claim="with KIP-890 the partition verifies with the coordinator before the first transactional append: rejected",
        explanation="The late produce fails verification (the coordinator no longer lists the partition for that epoch) and is rejected with InvalidTxnState.",
        cases=(
            Case(
                "v2",
                Config(mode="transactional", txn_protocol="v2", **HANG, **QUICK),
                delayed_produce,
                absent=("stalled", "G1a", "lost-write"),
            ),
        ),
        seeds=10,
    )
)


def failover_with_drops(seed: int) -> list[dict[str, Any]]:
    return [
        fault(1.0, "drop-acks", 2.5, "all-producers"),
        fault(1.5, "kill-broker", 1.0, f"leader-of:k{seed % 6}"),
        fault(2.7, "kill-broker", 1.0, f"leader-of:k{(seed + 3) % 6}"),
    ]


scenario(
    Scenario(
        name="epoch-bump-duplicate",
        ticket="librdkafka #4953, redpanda #3039",
        claim="an idempotent producer that bumps its epoch and renumbers in-flight batches after a timeout duplicates them",
        explanation=(
            "Acks are lost while leaders fail over, so produce requests time out with their outcome "
            "unknown. librdkafka then drains, bumps the epoch and renumbers the in-flight batches from "
            "sequence 0: the broker sees a new epoch and cannot recognise the retry of a batch that did "
            "land, so it appends it again. The Java client keeps the batch's sequence and gets it deduplicated."
        ),
        cases=(
            Case(
                "bump-and-retry",
                Config(
                    mode="idempotent",
                    external={"client.oos": "bump-and-retry"},
                    **QUICK,
                ),
                failover_with_drops,
                found=("duplicate",),
            ),
            Case(
                "keep the sequence (Java)",
                Config(mode="idempotent", **QUICK),
                failover_with_drops,
                absent=("duplicate",),
            ),
        ),
        seeds=10,
    )
)


def first_batches_lost(seed: int) -> list[dict[str, Any]]:
    """Producer requests dropped from the first moment, before any partition knows the
    producer: a partition's first batch can be lost while the one after it lands."""
    return [fault(0.0, "drop-requests", 1.5 + 0.1 * (seed % 5), "producers", p=0.3)]


scenario(
    Scenario(
        name="first-batch-oos-duplicate",
        ticket="KAFKA-14034 (family)",
        claim="the Java idempotent producer duplicates when its first batch to a partition is lost and the next one lands: the OutOfOrderSequence on the retry bumps the epoch and renumbers the batch already written",
        explanation=(
            "A partition that has never seen the producer accepts its first batch whatever its "
            "sequence (ProducerAppendInfo.checkSequence: no producer epoch yet). With several "
            "requests in flight, batch 0's request is lost and batch 1 lands; its answer waits "
            "behind the lost request and times out with it. Retries go one at a time, so the "
            "retried batch 0 goes alone and gets OUT_OF_ORDER_SEQUENCE_NUMBER as the next "
            "expected sequence with nothing unresolved, so the Java client "
            "(TransactionManager.canRetry) bumps the epoch and renumbers every in-flight batch "
            "from 0 (bumpIdempotentProducerEpoch -> startSequencesAtBeginning): batch 1, already "
            "written, goes again under the new epoch and is appended twice. KAFKA-14034's fix "
            "(wait for the in-flight batches before any reset) was never merged. One request in "
            "flight at a time cannot be overtaken, so it cannot happen."
        ),
        cases=(
            Case(
                "5 in flight (Java default)",
                Config(mode="idempotent", **QUICK),
                first_batches_lost,
                found=("duplicate",),
            ),
            Case(
                "1 in flight",
                Config(mode="idempotent", max_in_flight=1, **QUICK),
                first_batches_lost,
                absent=("duplicate",),
            ),
        ),
        seeds=10,
    )
)


def long_drop(seed: int) -> list[dict[str, Any]]:
    return [fault(1.0 + 0.2 * (seed % 5), "drop-acks", 2.5, "producers")]


scenario(
    Scenario(
        name="timeout-retry-duplicate",
        ticket="KAFKA-18579",
        claim="a TimeoutException retried by the application as a new batch (new sequence numbers) duplicates",
        explanation=(
            "delivery.timeout.ms expired while the acks were being lost, so the send failed with a "
            "timeout although the record was written. Sending it again makes a new batch with new "
            "sequence numbers, which the broker has no reason to drop."
        ),
        cases=(
            Case(
                "resend on timeout",
                Config(
                    mode="idempotent",
                    delivery_timeout_ms=1000.0,
                    external={"workload.resend-on-timeout": 1},
                    **QUICK,
                ),
                long_drop,
                found=("duplicate",),
            ),
            Case(
                "no resend",
                Config(mode="idempotent", delivery_timeout_ms=1000.0, **QUICK),
                long_drop,
                absent=("duplicate",),
            ),
        ),
    )
)


def inflight_batch(seed: int) -> list[dict[str, Any]]:
    """Produce requests held back past the client's delivery timeout, mid-run: the client aborts
    while they are in flight and they land after the abort marker."""
    return [
        fault(
            1.0 + 0.2 * (seed % 5) + 2.0 * i,
            "delay-request",
            1.1,
            "producers",
            api="Produce",
            delay=1.2,
            count=10_000,
        )
        for i in range(2)
    ]


scenario(
    Scenario(
        name="abort-marker-before-inflight-batch",
        ticket="KAFKA-14053",
        claim="pre-KIP-890: an abort marker written before an in-flight batch lands leaves that batch outside any transaction's end",
        explanation=(
            "The producer aborted while one of its batches was still in flight. The coordinator wrote the "
            "abort marker first; the batch landed after it and began a new transaction on the partition. "
            "Either nobody ends it (the LSO is stuck) or the producer's next transaction commits it: an "
            "aborted write becomes visible."
        ),
        cases=(
            Case(
                "v1",
                Config(mode="transactional", txn_protocol="v1", **HANG, **QUICK),
                inflight_batch,
                found_any=("G1a", "uncommitted-read", "stalled"),
            ),
            Case(
                "v2",
                Config(mode="transactional", txn_protocol="v2", **HANG, **QUICK),
                inflight_batch,
                absent=("G1a", "uncommitted-read", "stalled"),
            ),
        ),
        seeds=10,
    )
)


def delayed_txn_offset_commit(seed: int) -> list[dict[str, Any]]:
    """One processor's TxnOffsetCommit held 1.4 s (past its 0.8 s timeout and retry), so it
    lands inside the next transaction; then every processor crashes and resumes from the
    committed offsets."""
    at = 1.0 + 0.1 * (seed % 5)
    return [
        fault(at, "delay-request", 0.5, "processors", api="TxnOffsetCommit", delay=1.4, count=1),
        fault(at + 1.7 + 0.08 * (seed % 4), "crash-consumer", 0.3, "all-processors"),
    ]


CTP_SLOW: dict[str, Any] = {
    "workload": "ctp",
    "external": {"workload.txn-think-ms": 300.0},  # processing time inside each transaction
}

scenario(
    Scenario(
        name="delayed-txn-offset-commit",
        ticket="KIP-890 part 2 (late TxnOffsetCommit)",
        claim="a TxnOffsetCommit delayed past its retry lands in the next transaction and commits older offsets: after a crash the inputs are processed twice, until transaction version 2 (4.0)",
        explanation=(
            "sendOffsetsToTransaction times out and is retried; the transaction commits and the next one "
            "starts with the same producer epoch. The held original then reaches the group coordinator: "
            "its older offsets replace the new ones in the open transaction and are committed with it. "
            "A processor that crashes now resumes from the older offsets and writes those outputs again. "
            "KIP-890 part 1 (3.6, and for offsets 3.7) verifies that the transaction is ongoing, which the "
            "late request still passes; from 4.0 every transaction has a new epoch, and the late request's "
            "older epoch is fenced (INVALID_PRODUCER_EPOCH)."
        ),
        cases=(
            Case(
                "3.5",
                Config(mode="transactional", kafka_version="3.5", **CTP_SLOW, **QUICK),
                delayed_txn_offset_commit,
                found=("pipeline-duplicate",),
            ),
            Case(
                "3.7",
                Config(mode="transactional", kafka_version="3.7", **CTP_SLOW, **QUICK),
                delayed_txn_offset_commit,
                found=("pipeline-duplicate",),
            ),
            Case(
                "4.0",
                Config(mode="transactional", kafka_version="4.0", **CTP_SLOW, **QUICK),
                delayed_txn_offset_commit,
                absent=("pipeline-duplicate", "pipeline-loss", "duplicate", "lost-write"),
            ),
        ),
        seeds=10,
    )
)


def late_markers(seed: int) -> list[dict[str, Any]]:
    """WriteTxnMarkers requests held back 1.2 s, past the coordinator's 1 s marker timeout and
    its retry, eight times through the run (two requests each): the retry completes the
    transaction, the producer starts the next one, and then the held marker arrives."""
    base = 0.5 + 0.1 * (seed % 5)
    return [
        fault(
            base + 0.6 * i,
            "delay-request",
            0.5,
            "producers",
            api="WriteTxnMarkers",
            delay=1.2,
            count=2,
        )  # fmt: skip
        for i in range(8)
    ]


LATE_MARKER: dict[str, Any] = {
    "workload": "produce",
    "rate": 400.0,
    # processing time inside each transaction: the next one is open when the late marker lands
    "external": {"workload.abort-probability": 0.3, "workload.txn-think-ms": 300.0},
}

scenario(
    Scenario(
        name="late-marker",
        ticket="KAFKA-19446",
        claim="transaction version 2 before 4.2: a marker of the previous transaction that arrives late commits or aborts the next one half-way",
        explanation=(
            "With transaction version 2 the coordinator bumps the producer's epoch at EndTxn and writes "
            "the markers with the bumped epoch, which is also the epoch of the producer's next "
            "transaction. A marker request held back past the coordinator's retry reaches the partition "
            "while that next transaction is open; the epoch check (fenced only if older) lets it through, "
            "so the next transaction's first records are committed before it aborts, or aborted before "
            "it commits. Found by a swarm campaign (ctp, seed 22) before it was modelled as a bug; 4.2 "
            "undoes the bump before the check and fences the late marker."
        ),
        cases=(
            Case(
                "4.0",
                Config(mode="transactional", kafka_version="4.0", **LATE_MARKER, **QUICK),
                late_markers,
                found_any=("G1a", "lost-write", "uncommitted-read"),
            ),
            Case(
                "4.2",
                Config(mode="transactional", kafka_version="4.2", **LATE_MARKER, **QUICK),
                late_markers,
                absent=("G1a", "lost-write", "uncommitted-read", "stalled"),
            ),
        ),
        seeds=10,
    )
)


def last_isr_member_crashes(seed: int) -> list[dict[str, Any]]:
    """b1 cut off first (k0's ISR shrinks to its leader b0 and b2); then b2 cut off and, a
    tenth of a second later, b0 crashes losing its page cache: what it acknowledged with b2
    since the last writeback goes with it. b2 is fenced first, so b0 is the last ISR member."""
    d = 0.1 * (seed % 5)
    return [
        fault(1.0, "partition-node", 4.0, "b1"),
        fault(3.0 + d, "partition-node", 2.0, "b2"),
        fault(3.1 + d, "kill-broker", 1.5, "b0", **{"lose-unflushed": True}),
    ]


LAST_ISR: dict[str, Any] = {"mode": "idempotent", "external": {"controller.quorum.voters": 3}}

scenario(
    Scenario(
        name="unclean-shutdown-last-isr",
        ticket="KIP-966",
        claim="before Eligible Leader Replicas, acks=all with min.insync.replicas=2 loses acknowledged records when the last ISR member crashes with its page cache and is elected again",
        explanation=(
            "Kafka acknowledges from the page cache: acks=all means every ISR member has the "
            "record in memory. b1 drops out, so k0's records are acknowledged by b0 and b2; b2 is "
            "cut off and fenced, leaving b0 as the ISR's last member (the controller never empties "
            "an ISR), and b0 crashes, losing what the OS had not written back. On registering "
            "again it is the only replica allowed to lead and is elected without those records; "
            "b2, which has them, truncates to it. KIP-966's Eligible Leader Replicas (4.0 by "
            "opt-in, new clusters from 4.1) keep b2 eligible when it leaves an ISR below "
            "min.insync.replicas, empty the ISR when b0 is fenced, and take b0 out of the eligible "
            "set when it registers after an unclean shutdown: b2 leads once it is back, with "
            "every acknowledged record. Found first as a false alarm of guided search's clean "
            "runs, now a known real class (sim.runs.known)."
        ),
        cases=(
            Case(
                "4.0",
                Config(kafka_version="4.0", **LAST_ISR, **QUICK),
                last_isr_member_crashes,
                found=("lost-write", "inconsistent-offsets"),
            ),
            Case(
                "4.1 (ELR)",
                Config(kafka_version="4.1", **LAST_ISR, **QUICK),
                last_isr_member_crashes,
                absent=("lost-write", "inconsistent-offsets"),
            ),
        ),
        seeds=10,
    )
)
