"""Broker-side idempotence: producer id + epoch + per-partition sequence numbers.

Follows Kafka's ProducerStateManager: the leader caches the metadata of the last five batches of
each producer, answers a retried batch that matches one of them with its original offsets, rejects
a gap or a batch older than the window with OutOfOrderSequence, and an older epoch as fenced. The
state is rebuilt from the log by every replica, so it survives leader failover.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

DEDUP_WINDOW = 5

OK = "ok"
DUPLICATE = "duplicate"
OUT_OF_ORDER = "out_of_order_sequence"
UNKNOWN_PRODUCER = "unknown_producer_id"
FENCED = "invalid_producer_epoch"


@dataclass
class BatchMeta:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int


@dataclass
class ProducerEntry:
    epoch: int
    batches: deque[BatchMeta] = field(default_factory=lambda: deque(maxlen=DEDUP_WINDOW))
    txn_first_offset: int | None = None  # first offset of this producer's open transaction

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1


@dataclass(frozen=True)
class Verdict:
    status: str
    duplicate_of: BatchMeta | None = None


def check_batch(entry: ProducerEntry | None, epoch: int, first_seq: int, last_seq: int) -> Verdict:
    """Decide whether a batch may be appended, is a retry of a cached batch, or must be rejected."""
    if entry is None:
        # Kafka (since KIP-360) accepts any sequence from a producer it has no state for: the
        # state may have been removed with the log by retention. So lost state means lost dedup.
        return Verdict(OK)
    if epoch < entry.epoch:
        return Verdict(FENCED)
    if epoch > entry.epoch:
        return Verdict(OK) if first_seq == 0 else Verdict(OUT_OF_ORDER)
    for meta in entry.batches:
        if meta.first_seq == first_seq and meta.last_seq == last_seq:
            return Verdict(DUPLICATE, meta)
    if first_seq != entry.last_seq + 1:
        return Verdict(OUT_OF_ORDER)
    return Verdict(OK)


def record_batch(
    producers: dict[int, ProducerEntry],
    pid: int,
    epoch: int,
    first_seq: int,
    last_seq: int,
    first_offset: int,
    last_offset: int,
) -> ProducerEntry:
    """Update state after an append (on the leader, and on followers replaying the log)."""
    entry = producers.get(pid)
    if entry is None or epoch > entry.epoch:
        txn = entry.txn_first_offset if entry is not None else None
        entry = ProducerEntry(epoch=epoch, txn_first_offset=txn)
        producers[pid] = entry
    entry.batches.append(BatchMeta(first_seq, last_seq, first_offset, last_offset))
    return entry


def marker_fenced(
    marker_epoch: int, current_epoch: int | None, txn_open: bool, strict: bool
) -> bool:
    """ProducerAppendInfo.checkProducerEpoch for a transaction marker: True when the partition
    answers INVALID_PRODUCER_EPOCH instead of writing it.

    Before 4.2 a marker is fenced only by an older epoch. With transaction version 2 a marker
    carries the epoch bumped at EndTxn, which is also the epoch the producer's next transaction
    writes with, so a marker of the previous transaction that arrives late (held in the network
    or a request queue past the coordinator's retry) passes that check and commits or aborts the
    next transaction's records. ``strict`` (KAFKA-19446, 4.2) undoes the bump before comparing;
    KAFKA-19999 (same release) still accepts a marker with the current epoch when no transaction
    of that producer is open, since that is a retry of one already written."""
    if current_epoch is None:
        return False
    if not strict:
        return marker_epoch < current_epoch
    if marker_epoch == current_epoch and not txn_open:
        return False
    return marker_epoch - 1 < current_epoch
