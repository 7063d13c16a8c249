"""The producer client: accumulator, batches, in-flight limit, retries, idempotence.

Mirrors Kafka's Java producer closely enough for its delivery semantics: records to one partition
are batched for ``linger.ms``; a batch keeps its sequence numbers across retries (so the broker can
deduplicate it); a request that times out may still have been written, so a batch that gives up
after such an attempt completes as *unknown* (``info``) rather than failed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simpy import Event

from sim.clients.connections import OrderedConnections

if TYPE_CHECKING:
    from sim.cluster.world import World

RETRIABLE = {
    "not_leader_or_follower",
    "request_timed_out",
    "not_enough_replicas",
    "not_enough_replicas_after_append",
    "fenced_leader_epoch",
    "unknown_topic_or_partition",
    "concurrent_transactions",
}
# Errors after which the batch may nevertheless be in the log.
MAYBE_WRITTEN = {"request_timed_out", "not_enough_replicas_after_append"}

Completion = Callable[[str, "int | None"], Any]  # (type, offset) -> None


@dataclass
class Batch:
    key: str
    values: list[int]
    callbacks: list[Completion]
    created: float
    seq: int = -1
    epoch: int = -1
    sent_epoch: int = -1  # the epoch of the attempt in flight: renumbered since, if different
    attempts: int = 0
    maybe_written: bool = False
    txn: bool = False
    inflight_to: str | None = None
    done: bool = False


@dataclass
class ProducerStats:
    batches: int = 0
    requests: int = 0
    retries: int = 0
    duplicates_answered: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class Producer(OrderedConnections):
    """One producer session. ``pid``/``epoch`` come from InitProducerId when idempotent."""

    # An idempotent producer holds a partition's new batches while an expired batch's sequence
    # is unresolved; a transactional one instead fails the transaction (an abortable error) and
    # the abort's epoch bump starts the sequences again.
    HOLD_WHILE_UNRESOLVED = True

    def __init__(self, world: World, name: str) -> None:
        super().__init__(world, name)
        self.cluster = world  # clients see the whole world; cluster nodes only its Context
        cfg = world.config
        self.cfg = cfg
        self.rng = world.rng(f"client/{name}")
        self.idempotent = cfg.idempotent
        self.acks = cfg.acks
        self.linger = cfg.linger_ms / 1000.0
        self.request_timeout = cfg.request_timeout_ms / 1000.0
        self.delivery_timeout = cfg.delivery_timeout_ms / 1000.0
        self.backoff = cfg.retry_backoff_ms / 1000.0
        self.pid = -1
        self.epoch = -1
        self.next_seq: dict[str, int] = {}
        # The epoch each partition's sequence numbers belong to. After a bump a partition keeps
        # its old epoch until its in-flight batches drain (TransactionManager's
        # hasStaleProducerIdAndEpoch / maybeUpdateProducerIdAndEpoch), so no batch in flight
        # elsewhere is answered InvalidProducerEpoch.
        self.key_epoch: dict[str, int] = {}
        # TransactionManager's lastAckedSequence and partitionsWithUnresolvedSequences: the last
        # sequence acknowledged under the partition's epoch, and the last sequence of a batch
        # that expired after being sent (it may or may not be in the log).
        self.last_acked: dict[str, int] = {}
        self.unresolved_seq: dict[str, int] = {}
        self.leaders: dict[str, tuple[str | None, int]] = {}
        self.queues: dict[str, list[tuple[int, Completion]]] = {}
        self.drain_scheduled: set[str] = set()
        self.unresolved: dict[str, list[Batch]] = {}  # per key, in sequence order
        self.inflight: dict[str, int] = {}
        self.blocked: dict[str, list[Batch]] = {}  # waiting for an in-flight slot, per broker
        self.held: dict[str, list[Batch]] = {}  # waiting for an earlier batch to go out, per key
        self.refreshing = False
        self.txn_in_progress = False
        self.stats = ProducerStats()
        self.fatal: str | None = None
        self.oos_behavior = cfg.external.get("client.oos", "java") if cfg.external else "java"
        # linger timers armed on a moved clock: key -> (due on the clock, timer token)
        self.linger_due: dict[str, tuple[float, int]] = {}
        self.next_linger_token = 0
        self.clock.listeners.append(self._on_clock_change)

    # --- setup ---------------------------------------------------------------------------
    def init(self) -> Event:
        """Fetch metadata and, when idempotent, a producer id (InitProducerId)."""
        ev = self.env.event()
        self.refresh_metadata(lambda: self._init_pid(ev) if self.idempotent else ev.succeed("ok"))
        return ev

    def _init_pid(self, ev: Event) -> None:
        broker = self.any_broker()

        def reply(body: dict[str, Any]) -> None:
            if "pid" in body:
                self.pid, self.epoch = body["pid"], body["epoch"]
                ev.succeed("ok")
            else:
                self.env.timeout(self.backoff).callbacks.append(lambda _e: self._init_pid(ev))

        self.call(broker, "InitProducerId", {}, self.request_timeout, reply)

    def any_broker(self) -> str:
        names = self.cluster.broker_names()
        return names[self.rng.randrange(len(names))]

    def refresh_metadata(self, then: Callable[[], Any] | None = None) -> None:
        broker = self.any_broker()

        def reply(body: dict[str, Any]) -> None:
            self.refreshing = False
            if "leaders" in body:
                for key, (leader, epoch) in body["leaders"].items():
                    old = self.leaders.get(key)
                    if old is None or epoch >= old[1]:
                        self.leaders[key] = (leader, epoch)
            if then is not None:
                if "leaders" in body:
                    then()
                else:
                    self.env.timeout(self.backoff).callbacks.append(
                        lambda _e: self.refresh_metadata(then)
                    )

        if then is None and self.refreshing:
            return
        self.refreshing = True
        self.call(broker, "Metadata", {}, self.request_timeout, reply)

    # --- send ----------------------------------------------------------------------------
    def send(self, key: str, value: int, on_done: Completion) -> None:
        """Queue a record; ``on_done(type, offset)`` fires once with ok/fail/info."""
        if self.fatal is not None:
            on_done("fail", None)
            return
        queue = self.queues.setdefault(key, [])
        queue.append((value, on_done))
        if key not in self.drain_scheduled:
            self.drain_scheduled.add(key)
            if self.clock.perfect:
                self.env.timeout(self.linger).callbacks.append(
                    functools.partial(self._on_linger, key)
                )
            else:
                self._arm_linger(key, self.clock.now() + self.linger)
        elif key in self.linger_due and len(queue) >= self.cfg.batch_size:
            # RecordAccumulator.ready: a full batch is sendable whatever linger.ms says, so a
            # linger stretched by a backward clock jump holds back only partial batches
            self._drain(key)

    def send_event(self, key: str, value: int) -> Event:
        """``send`` for generator code: an event whose value is (type, offset)."""
        done = self.env.event()
        self.send(key, value, lambda t, o: done.succeed((t, o)))
        return done

    def _on_linger(self, key: str, _ev: object) -> None:
        self._drain(key)

    # linger.ms on the client's wall clock: RecordAccumulator.ready sends a batch once
    # ProducerBatch.waitedTimeMs(now) = max(0, time.milliseconds() - lastAttemptMs) reaches
    # linger.ms. Only a moved clock takes this path (the perfect one arms the plain timer above):
    # a backward jump holds partial batches until the clock is back past their due time.
    def _arm_linger(self, key: str, due: float) -> None:
        token = self.next_linger_token
        self.next_linger_token += 1
        self.linger_due[key] = (due, token)
        delay = max(0.0, self.clock.sim_time(due) - self.env.now)
        self.env.timeout(delay).callbacks.append(functools.partial(self._on_linger_at, key, token))

    def _on_linger_at(self, key: str, token: int, _ev: object) -> None:
        armed = self.linger_due.get(key)
        if armed is None or armed[1] != token:
            return  # re-armed since (the clock moved) or already drained
        due = armed[0]
        if not self.clock.perfect and self.clock.sim_time(due) > self.env.now + 1e-9:
            self._arm_linger(key, due)  # the clock went back while this timer was armed
            return
        self._drain(key)

    def _on_clock_change(self) -> None:
        """A clock jump or a new rate: re-arm every clock-linger timer for its due time."""
        for key in sorted(self.linger_due):
            self._arm_linger(key, self.linger_due[key][0])

    def _on_backoff(self, batch: Batch, _ev: object) -> None:
        self._send_batch(batch)

    def flush_key(self, key: str) -> None:
        self._drain(key)

    def _drain(self, key: str) -> None:
        self.drain_scheduled.discard(key)
        if self.linger_due:
            self.linger_due.pop(key, None)
        if not self.alive:
            return
        queue = self.queues.get(key)
        if queue and self.idempotent and not self._key_on_current_epoch(key):
            return  # drained when the old epoch's batches of this partition resolve
        if queue and self.idempotent and self.HOLD_WHILE_UNRESOLVED and key in self.unresolved_seq:
            # RecordAccumulator.shouldStopDrainBatchesForPartition: no new batch while an expired
            # batch's sequence is unresolved; _complete drains it once that is settled.
            return
        while queue:
            chunk, rest = queue[: self.cfg.batch_size], queue[self.cfg.batch_size :]
            self.queues[key] = queue = rest
            batch = Batch(
                key,
                [v for v, _ in chunk],
                [cb for _, cb in chunk],
                # createdMs: time.milliseconds() (delivery.timeout.ms)
                self.env.now if self.clock.perfect else self.clock.now(),
                txn=self.txn_in_progress,
            )
            if self.idempotent:
                batch.seq = self.next_seq.get(key, 0)
                batch.epoch = self.epoch
                self.next_seq[key] = batch.seq + len(batch.values)
                self.unresolved.setdefault(key, []).append(batch)
            self.stats.batches += 1
            self._send_batch(batch)

    def _send_batch(self, batch: Batch) -> None:
        if batch.done or not self.alive:
            return
        if self.idempotent and (self._behind_unsent(batch) or self._retry_behind(batch)):
            # As Kafka's RecordAccumulator: with idempotence a batch goes out only when every
            # earlier batch of its partition is in flight or resolved, so sequences stay ordered.
            self.held.setdefault(batch.key, []).append(batch)
            return
        leader = self.leaders.get(batch.key, (None, -1))[0]
        if leader is None:
            self.refresh_metadata()
            self._retry_later(batch, "leader_not_available")
            return
        if self.inflight.get(leader, 0) >= self.cfg.max_in_flight:
            self.blocked.setdefault(leader, []).append(batch)
            return
        self.inflight[leader] = self.inflight.get(leader, 0) + 1
        batch.inflight_to = leader
        batch.sent_epoch = batch.epoch
        batch.attempts += 1
        self.stats.requests += 1
        body = {
            "key": batch.key,
            "values": batch.values,
            "pid": self.pid if self.idempotent else -1,
            "epoch": batch.epoch,
            "seq": batch.seq,
            "acks": self.acks,
            "txn": batch.txn,
            "txn_id": self.txn_id(),
        }
        if self.acks == "0":
            self.net_send_produce(leader, body)
            self._release(leader)
            self._complete(batch, "ok", None)
            return
        # ProducerBatch.hasReachedDeliveryTimeout: deliveryTimeoutMs <= now - createdMs, both
        # read from the client's wall clock
        clock = self.clock
        if clock.perfect:  # the same arithmetic as clock.sim_delay/now, without the calls
            remaining = batch.created + self.delivery_timeout - self.env.now
        else:
            remaining = clock.sim_delay(batch.created + self.delivery_timeout - clock.now())
        self.call(
            leader,
            "Produce",
            body,
            max(0.001, min(self.request_timeout, remaining)),
            functools.partial(self._on_reply, batch, leader),
        )
        self._release_held(batch.key)  # after this batch is on the wire, so order is kept

    def txn_id(self) -> str | None:
        return None

    def net_send_produce(self, leader: str, body: dict[str, Any]) -> None:
        from sim.cluster.network import Message

        self.transmit(Message(self.name, leader, "Produce", body))

    def _release(self, broker: str) -> None:
        self.inflight[broker] -= 1
        waiting = self.blocked.get(broker)
        if waiting:
            self._send_batch(waiting.pop(0))

    def _on_reply(self, batch: Batch, leader: str, body: dict[str, Any]) -> None:
        # Not in flight any more *before* the slot is handed on: a later batch of this partition
        # must not overtake this one's retry (the accumulator keeps retries first, in sequence
        # order), or it could push this batch out of the broker's five-batch dedup window.
        batch.inflight_to = None
        self._release(leader)
        if batch.done:
            return
        if "offset" in body:
            if body.get("duplicate"):
                self.stats.duplicates_answered += 1
            if self.idempotent and batch.sent_epoch == self.key_epoch.get(batch.key):
                last = batch.seq + len(batch.values) - 1
                self.last_acked[batch.key] = max(self.last_acked.get(batch.key, -1), last)
            self._complete(batch, "ok", body["offset"])
            return
        err = body["error"]
        self.stats.errors[err] = self.stats.errors.get(err, 0) + 1
        if self.net.trace is not None and self.net.trace.live:
            self.net.trace.note(
                self.name,
                "client-error",
                f"Produce {batch.key} {batch.values} attempt {batch.attempts}: {err.upper()}",
            )
        if err in MAYBE_WRITTEN or body.get("appended"):
            batch.maybe_written = True
        if err in ("not_leader_or_follower", "request_timed_out", "fenced_leader_epoch"):
            self.refresh_metadata()
        if err == "request_timed_out" and self.idempotent and self.oos_behavior == "bump-and-retry":
            self._bump_and_resequence()
            self._retry_later(batch, err)
        elif err in RETRIABLE:
            self._retry_later(batch, err)
        elif err in ("out_of_order_sequence", "unknown_producer_id"):
            self._on_out_of_order(batch, err)
        elif err in ("producer_fenced", "invalid_producer_epoch"):
            self.on_fenced(batch, err)
        else:
            self._give_up(batch, err)

    def _retry_later(self, batch: Batch, err: str) -> None:
        elapsed = self.clock.now() - batch.created  # the client's wall clock
        if elapsed + self.backoff >= self.delivery_timeout or batch.attempts > self.cfg.retries:
            self._give_up(batch, err)
            return
        self.stats.retries += 1
        self.env.timeout(self.backoff).callbacks.append(functools.partial(self._on_backoff, batch))

    def _on_out_of_order(self, batch: Batch, err: str) -> None:
        """OutOfOrderSequence / UnknownProducerId, decided as the Java client's
        TransactionManager.canRetry does for an idempotent producer. A batch renumbered since it
        was sent, or one that is not the next sequence after the last acknowledged one, is
        retried as it is: an earlier batch explains the gap, or this one already landed (its
        retry then expires, unknown, rather than being appended twice). The next sequence
        rejected means the gap is real (a broker lost our state, or an expired batch never
        landed): bump the epoch for this partition, renumber from sequence 0 and retry."""
        if not self._sequence_gap_is_real(batch):
            self._retry_later(batch, err)
            return
        if self.oos_behavior == "bump-and-retry":
            # librdkafka #4953 / redpanda #3039: every partition moves to the new epoch at once.
            self._bump_and_resequence()
        else:
            self._bump_for_partition(batch.key)
        self._retry_later(batch, err)

    def _sequence_gap_is_real(self, batch: Batch) -> bool:
        if batch.sent_epoch != batch.epoch:
            return False  # renumbered after a bump while this attempt was in flight
        key = batch.key
        if key in self.unresolved_seq:
            return batch.seq == self.unresolved_seq[key] + 1
        return batch.seq == self.last_acked.get(key, -1) + 1

    def _maybe_resolve(self, key: str) -> None:
        """TransactionManager.maybeResolveSequences: once a partition with an expired batch has
        nothing in flight, either later batches were acknowledged past it (resolved) or the
        sequence has a hole that only a new epoch can close."""
        if key not in self.unresolved_seq or any(not b.done for b in self.unresolved.get(key, [])):
            return
        if self.last_acked.get(key, -1) + 1 == self.next_seq.get(key, 0):
            del self.unresolved_seq[key]
        else:
            self.on_unresolved_gap(key)

    def on_unresolved_gap(self, key: str) -> None:
        """An idempotent producer bumps its epoch for the partition (KIP-360, locally)."""
        self._bump_for_partition(key)

    def _bump_for_partition(self, key: str) -> None:
        """TransactionManager.bumpIdempotentProducerEpoch: a local epoch bump (KIP-360); the
        partition that needed it restarts its unresolved batches at sequence 0 under the new
        epoch (startSequencesAtBeginning), the others follow once their in-flight batches drain."""
        self.epoch += 1
        self._renumber(key)

    def _renumber(self, key: str) -> None:
        seq = 0
        for b in sorted(self.unresolved.get(key, []), key=lambda b: b.seq):
            if b.done:
                continue
            b.epoch, b.seq = self.epoch, seq
            seq += len(b.values)
        self.key_epoch[key] = self.epoch
        self.next_seq[key] = seq
        self.last_acked.pop(key, None)
        self.unresolved_seq.pop(key, None)

    def _key_on_current_epoch(self, key: str) -> bool:
        """True once ``key`` numbers its batches under the producer's current epoch; a stale
        partition switches (from sequence 0) only when none of its batches is unresolved."""
        epoch = self.key_epoch.get(key)
        if epoch == self.epoch:
            return True
        if epoch is not None and any(not b.done for b in self.unresolved.get(key, [])):
            return False
        self.key_epoch[key] = self.epoch
        self.next_seq[key] = 0
        self.last_acked.pop(key, None)
        self.unresolved_seq.pop(key, None)
        return True

    def bump_epoch(self) -> None:
        """A new epoch for every partition at once (nothing of the old epoch is unresolved)."""
        self.epoch += 1
        self.next_seq = {}
        self.key_epoch = {}
        self.last_acked = {}
        self.unresolved_seq = {}

    def _bump_and_resequence(self) -> None:
        """librdkafka's drain-and-bump (#4953): after a timed-out request the state of in-flight
        batches is unknown, so the producer bumps its epoch and renumbers every unresolved batch
        from sequence 0. A batch whose first attempt landed is then appended a second time."""
        self.bump_epoch()
        for key in sorted(self.unresolved):
            self._renumber(key)

    def on_fenced(self, batch: Batch, err: str) -> None:
        self.fatal = err
        self._give_up(batch, err)

    def _give_up(self, batch: Batch, err: str) -> None:
        if self.idempotent and batch.attempts and batch.epoch == self.key_epoch.get(batch.key):
            # Sender.failBatch + markSequenceUnresolved: its sequences may or may not be taken
            last = batch.seq + len(batch.values) - 1
            self.unresolved_seq[batch.key] = max(self.unresolved_seq.get(batch.key, -1), last)
        self._complete(batch, "info" if batch.maybe_written else "fail", None)

    def _behind_unsent(self, batch: Batch) -> bool:
        return any(
            b.seq < batch.seq and not b.done and b.inflight_to is None
            for b in self.unresolved.get(batch.key, ())
        )

    def _retry_behind(self, batch: Batch) -> bool:
        """A retry goes out only as the partition's first unfinished sequence: the others wait
        until it completes (RecordAccumulator.shouldStopDrainBatchesForPartition: "we wait
        until the next immediate batch is ready and drain that ... This effectively reduces
        our in flight request count to 1")."""
        return batch.attempts > 0 and any(
            b.seq < batch.seq and not b.done for b in self.unresolved.get(batch.key, ())
        )

    def _release_held(self, key: str) -> None:
        held = self.held.get(key)
        if not held:
            return
        waiting = sorted(held, key=lambda b: b.seq)
        self.held[key] = []
        for b in waiting:
            self._send_batch(b)

    def _complete(self, batch: Batch, type_: str, base_offset: int | None) -> None:
        if batch.done:
            return
        batch.done = True
        pending = self.unresolved.get(batch.key)
        if pending is not None and batch in pending:
            pending.remove(batch)
        self._release_held(batch.key)
        if self.idempotent:
            self._maybe_resolve(batch.key)
        if self.queues.get(batch.key) and self.key_epoch.get(batch.key, self.epoch) != self.epoch:
            self._drain(batch.key)  # the stale partition has drained: on to the new epoch
        elif self.queues.get(batch.key) and batch.key not in self.drain_scheduled:
            self._drain(batch.key)  # held back while a sequence was unresolved, or now free
        for i, cb in enumerate(batch.callbacks):
            cb(type_, None if base_offset is None else base_offset + i)
