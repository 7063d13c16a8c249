"""What a broker's disk holds: the flushed prefix of every partition log, and what a power loss
leaves of the rest.

Kafka acknowledges acks=all once the ISR has the batch *in memory*; it never fsyncs by default.
Three things move a log's on-disk prefix (``PartitionLog.on_disk``) forward:

- ``log.flush.interval.messages`` (default Long.MAX_VALUE: never): inside the append, once the
  log holds that many unflushed messages, the log is fsynced to its end before the append
  returns (UnifiedLog.append: ``if (localLog.unflushedMessages >= config.flushInterval)
  flush(false)``), so before the leader can advance its high watermark and before a follower
  fetches again (reporting the new end to the leader).
- ``log.flush.interval.ms`` (default null: ``log.flush.scheduler.interval.ms``, itself
  Long.MAX_VALUE): LogManager's "kafka-log-flusher" task runs every
  ``log.flush.scheduler.interval.ms`` and flushes each log whose last flush is at least
  ``log.flush.interval.ms`` old (LogManager.flushDirtyLogs). Without the scheduler interval the
  task never runs, whatever ``log.flush.interval.ms`` says. The model checks on the broker's
  tick (50 ms), so the scheduler's period is rounded up to a tick.
- The operating system: written data sits in the page cache, and the kernel's flusher threads
  write back pages dirty for longer than ``vm.dirty_expire_centisecs`` (3000: 30 s). The model
  knob ``os.dirty.expire.ms`` (default 1000, scaled down like the other times) is that age; 0
  turns writeback off. This, not Kafka, is what makes data durable in a default deployment.

A process crash (``kill-broker``) keeps the page cache, so it loses nothing. A power loss loses
everything past the on-disk prefix, except that the disk may have been in the middle of a
writeback: some of the dirty writes reached the platter whole and the next one only partly (a
torn tail). On restart after an unclean shutdown LogLoader.recoverLog runs LogSegment.recover
from the recovery point, which checks each batch (``batch.ensureValid()``: size and CRC) and
truncates the log at the first invalid one, so the torn write goes and the whole ones stay.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from sim.cluster.log import PartitionLog


class Disk:
    """One broker's flush policy (its knobs) applied to the logs it holds."""

    def __init__(self, config: Any, bugs: frozenset[str]) -> None:
        self.flush_messages: int | None = config.log_flush_interval_messages
        scheduler = config.log_flush_scheduler_interval_ms
        flush_ms = config.log_flush_interval_ms
        if flush_ms is None:
            flush_ms = scheduler  # KafkaConfig.logFlushIntervalMs
        self.scheduler = scheduler / 1000.0 if scheduler is not None else None
        self.flush_after = flush_ms / 1000.0 if flush_ms is not None else None
        self.next_check = self.scheduler if self.scheduler is not None else 0.0
        expire = config.dirty_expire_ms
        self.expire = expire / 1000.0 if expire is not None else None
        # Bug ack-before-flush: the message-count flush runs on the next tick, after the append
        # has returned (and the batch may have been acknowledged).
        self.deferred = "ack-before-flush" in bugs
        self.pending: list[PartitionLog] = []
        self.flushes = 0

    def appended(self, log: PartitionLog, now: float) -> None:
        """After every append (leader or follower), as UnifiedLog.append ends."""
        end = len(log.records)  # the log end
        if end <= log.on_disk:
            return
        log.dirty.append((now, end))
        if self.flush_messages is not None and end - log.on_disk >= self.flush_messages:
            if self.deferred:
                self.pending.append(log)
            else:
                self.flush(log, now)

    def flush(self, log: PartitionLog, now: float) -> None:
        """UnifiedLog.flush(false): fsync up to the log end; the recovery point moves there."""
        if log.leo > log.on_disk:
            log.on_disk = log.leo
            log.last_flush = now
            self.flushes += 1
        log.dirty.clear()

    def tick(self, logs: Iterable[PartitionLog], now: float) -> None:
        """Background work, once per broker tick: deferred flushes (the bug), the flush
        scheduler, and the page cache's writeback."""
        if self.pending:
            pending, self.pending = self.pending, []
            for log in pending:
                self.flush(log, now)
        run_scheduler = self.scheduler is not None and now >= self.next_check
        if run_scheduler:
            assert self.scheduler is not None
            while self.next_check <= now:  # a fixed rate; rounded so 0.1 + 0.2 is 0.3
                self.next_check = round(self.next_check + self.scheduler, 9)
        expire = self.expire
        for log in logs:
            if (
                run_scheduler
                and self.flush_after is not None
                and now - log.last_flush >= self.flush_after
            ):
                self.flush(log, now)
            dirty = log.dirty
            if expire is not None and dirty and dirty[0][0] <= now - expire:
                end = log.on_disk
                while dirty and dirty[0][0] <= now - expire:
                    end = max(end, dirty.popleft()[1])
                log.on_disk = min(end, log.leo)


def power_loss(log: PartitionLog, rng: random.Random | None, torn_tail: float) -> dict[str, int]:
    """Cut the power: keep the on-disk prefix; with probability ``torn_tail`` the disk was mid-
    writeback, so a random number of the dirty writes reached it whole and the next one torn,
    which recovery (LogSegment.recover) truncates. Returns what happened, for the history:
    {"lost": records gone, "torn": 1 if a torn write was truncated}."""
    keep = log.on_disk
    torn = 0
    dirty = [end for _, end in log.dirty if end > keep]
    if dirty and rng is not None and torn_tail > 0 and rng.random() < torn_tail:
        whole = rng.randrange(len(dirty))  # writes that reached the disk whole, in order
        if whole:
            keep = dirty[whole - 1]
        torn = 1
    lost = log.leo - keep
    log.truncate_to(keep)
    log.on_disk = log.leo
    log.dirty.clear()
    return {"lost": lost, "torn": torn}
