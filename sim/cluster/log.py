"""One replica of one partition: records, leader-epoch cache, high watermark, producer state,
open transactions (for the Last Stable Offset) and the aborted-transaction index."""

from __future__ import annotations

from collections import deque
from typing import Any

from sim.cluster.producer_state import ProducerEntry, record_batch


class Record:
    """A record or a control marker. ``seq`` is -1 for non-idempotent records."""

    __slots__ = (
        "offset",
        "value",
        "pid",
        "epoch",
        "seq",
        "leader_epoch",
        "txn",
        "control",
        "last_seq",
    )

    def __init__(
        self,
        offset: int,
        value: Any,
        pid: int = -1,
        epoch: int = -1,
        seq: int = -1,
        leader_epoch: int = 0,
        txn: bool = False,
        control: str | None = None,
        last_seq: int = -1,
    ) -> None:
        self.offset = offset
        self.value = value
        self.pid = pid
        self.epoch = epoch
        self.seq = seq
        self.leader_epoch = leader_epoch
        self.txn = txn
        self.control = control  # None, "commit" or "abort"
        self.last_seq = last_seq  # set on the first record of a batch: the batch's last sequence

    def copy(self) -> Record:
        return Record(
            self.offset,
            self.value,
            self.pid,
            self.epoch,
            self.seq,
            self.leader_epoch,
            self.txn,
            self.control,
            self.last_seq,
        )


class PartitionLog:
    def __init__(self, key: str, track_producers: bool = True) -> None:
        self.key = key
        self.records: list[Record] = []
        self.hw = 0
        self.epoch_cache: list[tuple[int, int]] = []  # (leader_epoch, start_offset), ascending
        self.producers: dict[int, ProducerEntry] = {}
        self.aborted: list[tuple[int, int, int]] = []  # (pid, first_offset, marker_offset)
        self.track_producers = track_producers
        # Storage (sim.cluster.storage): the prefix that is on disk, fsynced by Kafka's flush
        # (LocalLog.recoveryPoint) or written back by the OS, and the page cache's dirty writes
        # beyond it: (time written, log end after the write), oldest first.
        self.on_disk = 0
        self.dirty: deque[tuple[float, int]] = deque()
        self.last_flush = 0.0  # UnifiedLog.lastFlushTime

    # --- offsets -------------------------------------------------------------------------
    @property
    def leo(self) -> int:
        return len(self.records)

    @property
    def last_epoch(self) -> int:
        return self.epoch_cache[-1][0] if self.epoch_cache else -1

    @property
    def lso(self) -> int:
        """Last Stable Offset: first offset of the earliest open transaction, else the HW."""
        firsts = [
            e.txn_first_offset for e in self.producers.values() if e.txn_first_offset is not None
        ]
        return min([self.hw, *firsts])

    def open_txn_offsets(self) -> list[int]:
        return sorted(
            e.txn_first_offset for e in self.producers.values() if e.txn_first_offset is not None
        )

    def note_epoch(self, leader_epoch: int) -> None:
        if not self.epoch_cache or self.epoch_cache[-1][0] < leader_epoch:
            self.epoch_cache.append((leader_epoch, self.leo))

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """(epoch, end offset) as Kafka's OffsetsForLeaderEpoch: where ``epoch`` ends in this log."""
        cache = self.epoch_cache
        if cache and cache[-1][0] == epoch:
            return (epoch, len(self.records))  # the latest epoch (a follower's usual ask) ends here
        if not cache or epoch < cache[0][0]:
            return (-1, 0)
        best = -1
        for i, (e, _start) in enumerate(self.epoch_cache):
            if e > epoch:
                return (self.epoch_cache[i - 1][0] if i else -1, _start)
            best = e
        return (best, self.leo)

    # --- appends -------------------------------------------------------------------------
    def append(self, rec: Record, replicated: bool = False) -> None:
        """Append one record (leader or follower); keeps producer and transaction state."""
        rec.offset = len(self.records)
        self.records.append(rec)
        if rec.leader_epoch > self.last_epoch:
            self.epoch_cache.append((rec.leader_epoch, rec.offset))
        if replicated and not self.track_producers and rec.control is None:
            # Bug dedup-not-replicated: a follower copies the records but not the producer
            # state, so idempotence survives only on the leader that wrote them.
            return
        self._apply(rec)

    def append_batch(self, recs: list[Record], replicated: bool = False) -> None:
        """Append records in order, as ``append`` does one by one, but touching producer state
        only for the records that change it: the first record of an idempotent batch, markers,
        and non-idempotent transactional records. (The rest of a batch is covered by its first
        record's sequence range, so ``_apply`` would do nothing for them.)"""
        records = self.records
        cache = self.epoch_cache
        last_epoch = cache[-1][0] if cache else -1
        skip_state = replicated and not self.track_producers
        offset = len(records)
        records.extend(recs)
        for rec in recs:
            rec.offset = offset
            if rec.leader_epoch > last_epoch:
                last_epoch = rec.leader_epoch
                cache.append((last_epoch, offset))
            offset += 1
            if rec.pid < 0 or (rec.last_seq < 0 and rec.seq >= 0 and rec.control is None):
                continue
            if skip_state and rec.control is None:
                continue
            self._apply(rec)

    def _apply(self, rec: Record) -> None:
        if rec.pid < 0:
            return
        if rec.control is not None:
            entry = self.producers.get(rec.pid)
            if entry is None:
                entry = self.producers[rec.pid] = ProducerEntry(epoch=rec.epoch)
            if rec.control == "abort" and entry.txn_first_offset is not None:
                self.aborted.append((rec.pid, entry.txn_first_offset, rec.offset))
            entry.txn_first_offset = None
            if rec.epoch > entry.epoch:  # a marker with a bumped epoch starts a new sequence
                entry.epoch = rec.epoch
                entry.batches.clear()
            return
        if rec.seq >= 0 and rec.last_seq >= 0:  # first record of an idempotent batch
            n = rec.last_seq - rec.seq
            entry = record_batch(
                self.producers,
                rec.pid,
                rec.epoch,
                rec.seq,
                rec.last_seq,
                rec.offset,
                rec.offset + n,
            )
            if rec.txn and entry.txn_first_offset is None:
                entry.txn_first_offset = rec.offset
        elif rec.txn:
            entry = self.producers.setdefault(rec.pid, ProducerEntry(epoch=rec.epoch))
            if entry.txn_first_offset is None:
                entry.txn_first_offset = rec.offset

    def truncate_to(self, offset: int) -> None:
        """Drop the suffix from ``offset`` and rebuild derived state by replaying the log.

        The leader-epoch cache loses every epoch starting at or after ``offset`` even when no
        record goes (LeaderEpochFileCache.truncateFromEnd): an epoch a broker led without
        writing anything would otherwise be sent as its last epoch for ever, and a leader
        that never had it would answer "diverging" for ever."""
        if offset > self.leo:
            return
        self.epoch_cache = [(e, s) for e, s in self.epoch_cache if s < offset]
        if offset == self.leo:
            return
        if self.on_disk > offset:  # LocalLog.truncateTo: the recovery point follows the end
            self.on_disk = offset
        if self.dirty and self.dirty[-1][1] > offset:
            self.dirty = deque((t, min(end, offset)) for t, end in self.dirty)
        del self.records[offset:]
        if self.hw > offset:
            self.hw = offset
        self.rebuild()

    def rebuild(self) -> None:
        self.producers = {}
        self.aborted = []
        for rec in self.records:
            self._apply(rec)

    # --- reads ---------------------------------------------------------------------------
    def read(
        self, start: int, end: int, read_committed: bool, limit: int = 500
    ) -> tuple[list[Record], int]:
        """Data records in [start, end) and the next fetch offset. Control markers are skipped;
        read_committed also skips records of aborted transactions (the aborted-txn index)."""
        out: list[Record] = []
        records = self.records
        aborted = self.aborted if read_committed else ()
        i = max(start, 0)
        stop = min(end, len(records))
        while i < stop:
            rec = records[i]
            i += 1
            if rec.control is not None:
                continue
            if aborted and rec.txn and self._is_aborted(rec):
                continue
            out.append(rec)
            if len(out) >= limit:
                break
        return out, max(i, start)

    def _is_aborted(self, rec: Record) -> bool:
        for pid, first, marker in self.aborted:
            if pid == rec.pid and first <= rec.offset < marker:
                return True
        return False
