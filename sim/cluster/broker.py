"""A broker: partition leader and follower, replication, high watermark, ISR proposals.

Leaders append produce batches after the idempotence check, answer acks=all once the high
watermark passes the batch, and long-poll fetches (followers and consumers) until data arrives.
Followers fetch with their last epoch and truncate when the leader reports divergence (KIP-279),
so a deposed leader's unreplicated suffix disappears, as in Kafka.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simpy import Event

from sim.cluster import producer_state as ps
from sim.cluster import trace as tr
from sim.cluster.buggify import DISCONNECTED
from sim.cluster.controller import CONTROLLER
from sim.cluster.log import PartitionLog, Record
from sim.cluster.network import Message
from sim.cluster.node import BaseNode
from sim.cluster.storage import Disk, power_loss

# Client requests a BUGGIFY'd broker may answer late (never replication or controller traffic).
SLOW_APIS = frozenset(
    {"Produce", "Fetch", "EndTxn", "AddPartitionsToTxn", "AddOffsetsToTxn", "TxnOffsetCommit",
     "OffsetCommit", "InitProducerId", "InitTxnProducerId", "FindCoordinator", "JoinGroup",
     "SyncGroup", "Heartbeat", "OffsetFetch"}
)  # fmt: skip

# Client requests BUGGIFY's late-request and late-produce sites may handle after the client's
# timeout (WriteTxnMarkers, a broker's own request, is slow-marker's and stays within its timeout).
LATE_SITES = {
    "EndTxn": "late-request",
    "TxnOffsetCommit": "late-request",
    "AddPartitionsToTxn": "late-request",
    "AddOffsetsToTxn": "late-request",
    "Produce": "late-produce",
}

if TYPE_CHECKING:
    import random

    from sim.cluster.context import Context

TICK = 0.05
FETCH_MAX_WAIT = 0.5
HEARTBEAT_EVERY = 0.1


@dataclass
class Waiter:
    """A request parked until the high watermark passes ``required`` (acks=all, coordinators)."""

    required: int
    deadline: float
    done: Callable[[str | None], None]


@dataclass
class LeaderState:
    epoch: int
    partition_epoch: int
    isr: list[str]
    follower_leo: dict[str, int] = field(default_factory=dict)
    caught_up: dict[str, float] = field(default_factory=dict)
    # the leader's log end and the time at each follower's previous fetch (Replica's
    # lastFetchLeaderLogEndOffset / lastFetchTimeMs)
    last_fetch_leo: dict[str, int] = field(default_factory=dict)
    last_fetch_time: dict[str, float] = field(default_factory=dict)
    parked: list[tuple[Message, float]] = field(default_factory=list)
    waiters: list[Waiter] = field(default_factory=list)
    alter_pending: float = -1.0
    joining: tuple[str, ...] = ()  # replicas an AlterPartition in flight adds to the ISR


@dataclass
class FollowerState:
    leader: str
    epoch: int
    corr: int = -1
    sent_at: float = -1.0


class Broker(BaseNode):
    def __init__(self, world: Context, name: str, keys: list[str]) -> None:
        super().__init__(world, name)
        cfg = world.config
        self.min_isr = cfg.min_insync_replicas
        self.hw_needs_min_isr = cfg.hw_needs_min_isr
        self.hw_waits_for_joining = cfg.hw_waits_for_joining
        self.lag_max = cfg.replica_lag_time_max_ms / 1000.0
        self.bugs = world.bugs
        self.buggify = world.buggify  # rare legal paths (sim.cluster.buggify), usually None
        self.logs: dict[str, PartitionLog] = {
            k: PartitionLog(k, track_producers="dedup-not-replicated" not in self.bugs)
            for k in keys
        }
        self.disk = Disk(cfg, self.bugs)  # what survives a power loss (sim.cluster.storage)
        # partitions whose records a crash took (log end before it, last leader epoch seen):
        # the simulator's bookkeeping for sim.runs.known, never read by the protocol
        self.lost_suffix: dict[str, tuple[int, int]] = {}
        # After a restart: register anew before taking any metadata (KRaft
        # BrokerLifecycleManager), so a new process never resumes its old leaderships.
        self.registering = False
        # KRaft controller quorum (controller.quorum.voters > 1): the voters, the one this broker
        # believes active, and this incarnation's broker epoch (BrokerLifecycleManager)
        self.voters: list[str] = list(getattr(world, "voter_names", ()))
        self.controller = self.voters[0] if self.voters else CONTROLLER
        self.broker_epoch = -1
        self.meta: dict[str, dict[str, Any]] = {}
        self.leading: dict[str, LeaderState] = {}
        self.following: dict[str, FollowerState] = {}
        self.handlers = {
            "UpdateMetadata": self.on_update_metadata,
            "Produce": self.on_produce,
            "Fetch": self.on_fetch,
            "OffsetsForLeaderEpoch": self.on_offsets_for_leader_epoch,
            "Metadata": self.on_metadata,
            "InitProducerId": self.on_init_producer_id,
        }
        self.extensions: list[Any] = []  # coordinators hosted here (group, transaction)
        self.gate: Any = None  # the transactional partition gate (TxnPartitionGate)
        # unclean-truncation bug: key -> the leader's offset this follower fetches from, after it
        # kept its divergent suffix and appends the leader's records behind it (shifted offsets)
        self.kept_divergent: dict[str, int] = {}
        self.start()

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.alive = True
        self.env.process(self._ticker(self.incarnation))

    @property
    def flushed(self) -> dict[str, int]:
        """Each partition's on-disk prefix: what a power loss keeps."""
        return {key: log.on_disk for key, log in self.logs.items()}

    def crash(self, lose_unflushed: bool = False) -> None:
        """A process crash keeps the page cache; ``lose_unflushed`` loses it too."""
        super().crash()
        self.meta = {}
        self.leading = {}
        self.following = {}
        for ext in self.extensions:
            ext.reset()
        if lose_unflushed:
            before = self._log_ends()
            for log in self.logs.values():
                power_loss(log, None, 0.0)
            self._note_lost_suffix(before)

    def lose_power(self, rng: random.Random, torn_tail: float) -> dict[str, dict[str, int]]:
        """Crash losing every log's suffix past its on-disk prefix (a torn last write with
        probability ``torn_tail``, truncated by recovery); returns what went, per partition."""
        before = self._log_ends()
        self.crash()
        out = {}
        for key, log in self.logs.items():
            lost = power_loss(log, rng, torn_tail)
            if lost["lost"] or lost["torn"]:
                out[key] = lost
        self._note_lost_suffix(before)
        return out

    def _log_ends(self) -> dict[str, tuple[int, int]]:
        """Per partition: the log end and the last leader epoch this replica had seen. (Not its
        high watermark: a follower learns the leader's one fetch late, so records it held may
        be committed beyond it.)"""
        return {k: (log.leo, log.last_epoch) for k, log in self.logs.items()}

    def _note_lost_suffix(self, before: dict[str, tuple[int, int]]) -> None:
        """Remember the partitions whose records this crash took from the log (the simulator's
        own bookkeeping, for ``_become_leader``'s observation). Not with
        log.flush.interval.messages=1: Kafka then fsyncs every append before it counts, so
        what a crash takes was never acknowledged, and an acknowledged record lost is a bug
        (the ack-before-flush switch), not this class."""
        if self.world.config.log_flush_interval_messages == 1:
            return
        for key, (end, epoch) in before.items():
            if self.logs[key].leo < end:
                self.lost_suffix[key] = (end, epoch)

    def restart(self) -> None:
        for log in self.logs.values():
            log.hw = min(log.hw, log.leo)
        # every broker process registers when it starts (BrokerLifecycleManager
        # .sendBrokerRegistration; with a quorum it gets a new broker epoch), a plain crash's
        # too: refused while its old session is valid, it comes back fenced, under new leader
        # epochs, and with Eligible Leader Replicas out of every ISR and ELR
        self.registering = True
        self.start()

    def _ticker(self, incarnation: int) -> Generator[Event, Any, None]:
        next_heartbeat = 0.0
        while self.incarnation == incarnation:
            now = self.env.now
            if now >= next_heartbeat:
                next_heartbeat = now + HEARTBEAT_EVERY
                body: dict[str, Any] = {}
                if self.registering:
                    body = {"register": True, "incarnation": self.incarnation}
                elif self.voters:
                    body = {"broker_epoch": self.broker_epoch}
                self.call(
                    self.controller,
                    "BrokerHeartbeat",
                    body,
                    0.5,
                    functools.partial(self._on_heartbeat_reply, self.controller),
                )
            for key, st in self.leading.items():
                self._leader_tick(key, st, now)
            for key, fs in self.following.items():
                if fs.corr < 0 or now - fs.sent_at > 1.0:
                    self._fetch_from_leader(key)
            self.disk.tick(self.logs.values(), now)
            for ext in self.extensions:
                ext.tick(now)
            yield self.env.timeout(TICK)

    def _next_controller(self, body: dict[str, Any], sent_to: str) -> bool:
        """KRaft: find the active controller (NOT_CONTROLLER carries a hint when the voter
        knows it; otherwise, or after a timeout, try the next voter). True if the answer was
        a failure. A failure from a voter the broker has already moved on from (heartbeats go
        every tick, so several may be in flight to a dead controller) changes nothing: Kafka's
        NodeToControllerChannelManager re-resolves the controller from the raft leader, it does
        not step past the one it has just found. Stepping on every stale timeout kept a live
        broker circling the voters past its session, and the new controller fenced it."""
        err = body.get("error")
        if not self.voters or err not in ("not_controller", "request_timed_out"):
            return False
        if sent_to != self.controller:
            return True
        hint = body.get("leader")
        if hint in self.voters:
            self.controller = hint
        else:
            self.controller = self.voters[
                (self.voters.index(self.controller) + 1) % len(self.voters)
            ]
        return True

    def _on_heartbeat_reply(self, sent_to: str, body: dict[str, Any]) -> None:
        if self._next_controller(body, sent_to):
            return
        if self.voters:
            if body.get("error") == "stale_broker_epoch":
                self.registering = True
                return
            if "broker_epoch" in body:
                self.broker_epoch = body["broker_epoch"]
        if self.registering:
            if "image" not in body:
                return  # refused (the old session is still valid) or timed out: retry
            self.registering = False
        if "image" in body:
            self.apply_image(body["image"])

    # --- metadata ------------------------------------------------------------------------
    def on_update_metadata(self, msg: Message) -> None:
        if not self.registering:
            self.apply_image(msg.body["image"])

    def apply_image(self, image: list[dict[str, Any]]) -> None:
        for p in image:
            key = p["key"]
            old = self.meta.get(key)
            if old is not None and (old["leader_epoch"], old["partition_epoch"]) >= (
                p["leader_epoch"],
                p["partition_epoch"],
            ):
                continue
            self.meta[key] = p
            if key not in self.logs:
                continue
            if p["leader"] == self.name:
                st = self.leading.get(key)
                if st is None or st.epoch != p["leader_epoch"]:
                    self._become_leader(key, p)
                else:
                    st.isr = list(p["isr"])
                    st.partition_epoch = p["partition_epoch"]
                    st.alter_pending = -1.0
                    st.joining = ()
                    if len(p["replicas"]) != len(st.follower_leo) + 1:
                        self._sync_replicas(st, p["replicas"])  # a reassignment moved them
                    self._advance_hw(key)
            elif self.name in p["replicas"] and p["leader"] is not None:
                fs = self.following.get(key)
                if key in self.leading or fs is None or fs.epoch != p["leader_epoch"]:
                    self._become_follower(key, p)
            else:
                self._step_down(key)
                if self.name not in p["replicas"] and (key in self.following or self.logs[key].leo):
                    self._delete_replica(key)
        for ext in self.extensions:
            ext.on_metadata()

    def _become_leader(self, key: str, p: dict[str, Any]) -> None:
        self._step_down(key)
        self.following.pop(key, None)
        log = self.logs[key]
        lost = self.lost_suffix.get(key)
        if lost is not None and log.leo < lost[0]:
            if p["leader_epoch"] > lost[1] and list(p["isr"]) == [self.name]:
                # elected anew as the last ISR member without the records its crash took:
                # Kafka does this too before KIP-966 (sim.runs.known)
                self.world.observe("leader-after-lost-suffix", key)
        elif lost is not None:
            del self.lost_suffix[key]
        log.note_epoch(p["leader_epoch"])
        st = LeaderState(p["leader_epoch"], p["partition_epoch"], list(p["isr"]))
        now = self.clock.now()  # lastCaughtUpTimeMs is wall-clock time (Partition.makeLeader)
        for r in p["replicas"]:
            if r != self.name:
                st.follower_leo[r] = 0
                if r in st.isr:
                    st.caught_up[r] = now
        self.leading[key] = st

    def _sync_replicas(self, st: LeaderState, replicas: list[str]) -> None:
        """The replica set changed under this leader (a reassignment added or removed
        replicas): a new replica starts at offset 0 and out of sync (Partition.updateAssignmentAndIsr)."""
        for r in replicas:
            if r != self.name and r not in st.follower_leo:
                st.follower_leo[r] = 0
        for r in [r for r in st.follower_leo if r not in replicas]:
            del st.follower_leo[r]
            st.caught_up.pop(r, None)
            st.last_fetch_leo.pop(r, None)
            st.last_fetch_time.pop(r, None)

    def _delete_replica(self, key: str) -> None:
        """No longer a replica (a reassignment removed it): stop fetching and delete the log
        (ReplicaManager.applyDelta -> stopPartitions with delete = true)."""
        self.following.pop(key, None)
        self.kept_divergent.pop(key, None)
        self.logs[key] = PartitionLog(key, track_producers="dedup-not-replicated" not in self.bugs)

    def _become_follower(self, key: str, p: dict[str, Any]) -> None:
        self._step_down(key)
        self.following[key] = FollowerState(p["leader"], p["leader_epoch"])
        self._fetch_from_leader(key)

    def _step_down(self, key: str) -> None:
        st = self.leading.pop(key, None)
        if st is None:
            return
        for msg, _ in st.parked:
            self.reply(msg, {"error": "not_leader_or_follower"})
        for w in st.waiters:
            w.done("not_leader_or_follower")

    def leader_epoch(self, key: str) -> int | None:
        st = self.leading.get(key)
        return st.epoch if st is not None else None

    def on_metadata(self, msg: Message) -> None:
        leaders = {k: (p["leader"], p["leader_epoch"]) for k, p in sorted(self.meta.items())}
        self.reply(msg, {"leaders": leaders})

    def on_init_producer_id(self, msg: Message) -> None:
        """Non-transactional InitProducerId: a fresh id from the cluster-wide allocator."""
        if msg.body.get("txn_id"):
            self.reply(msg, {"error": "not_coordinator"})
            return
        self.reply(msg, {"pid": self.world.next_id("pid"), "epoch": 0})

    def append_internal(
        self, key: str, payload: dict[str, Any], done: Callable[[str | None], None]
    ) -> None:
        """Coordinators persist state as records in an internal partition and answer only once
        the record is committed (acks=all), so their state survives a failover."""
        st = self.leading.get(key)
        if st is None:
            done("not_coordinator")
            return
        log = self.logs[key]
        log.append(Record(0, payload, leader_epoch=st.epoch))
        end = log.leo
        self.after_append(key)
        self.wait_for_hw(key, end, done)

    def receive(self, msg: Message) -> None:
        """With BUGGIFY's late-request / late-produce sites, a client's request may be handled
        only after the client timed out and retried on a new connection (it waited in the
        request queue; Kafka still handles a queued request whose connection has closed, and
        the answer goes nowhere)."""
        bug = self.buggify
        if bug is None or msg.is_response:
            super().receive(msg)
            return
        site = LATE_SITES.get(msg.api)
        if site is None or not bug(site):
            super().receive(msg)
            return
        timeout = self.world.config.request_timeout_ms / 1000
        late = bug.uniform(site, 1.05, 2.5) * timeout
        self.note(
            tr.BUGGIFY, f"BUGGIFY {site}: {msg.api} from {msg.src} handled {late:.3f} s late", msg
        )
        self.later(late, self._receive_now, msg)  # a queued request dies with its process

    def _receive_now(self, msg: Message) -> None:
        super().receive(msg)

    # --- produce -------------------------------------------------------------------------
    def reply(self, msg: Message, body: dict[str, Any]) -> None:
        """Answer a request; with BUGGIFY's slow-response site a client's answer may leave late,
        up to just before the client's request timeout (a broker stalled by a long GC pause)."""
        bug = self.buggify
        if bug is None:
            super().reply(msg, body)
            return
        if bug.lost_answers and bug.answer_lost(self.name, msg.src, msg.corr):
            body = dict(DISCONNECTED)  # BUGGIFY marker-retry: the connection broke first
        if msg.api not in SLOW_APIS or msg.body.get("replica") is not None:
            super().reply(msg, body)
            return
        if not bug("slow-response"):
            super().reply(msg, body)
            return
        late = bug.uniform("slow-response", 0.3, 0.95) * self.world.config.request_timeout_ms / 1000
        response = Message(self.name, msg.src, msg.api, body, msg.corr, is_response=True)
        self.later(late, self.transmit, response)

    def on_produce(self, msg: Message) -> None:
        b = msg.body
        key = b["key"]
        st = self.leading.get(key)
        if st is None:
            self.reply(msg, {"error": "not_leader_or_follower"})
            return
        acks = b["acks"]
        if acks == "all" and len(st.isr) < self.min_isr:
            self.reply(msg, {"error": "not_enough_replicas"})
            return
        if not b.get("verified") and self.gate is not None and self.gate.needs_verification(key, b):
            self._verify_then_produce(msg)
            return
        log = self.logs[key]
        values = b["values"]
        pid, epoch, seq = b["pid"], b["epoch"], b["seq"]
        last_seq = seq + len(values) - 1 if seq >= 0 else -1
        if seq >= 0 and "no-dedup" not in self.bugs:
            verdict = ps.check_batch(log.producers.get(pid), epoch, seq, last_seq)
            if self.net.trace is not None and self.net.trace.live and verdict.status != ps.OK:
                self._note_verdict(key, log, verdict, pid, epoch, seq, last_seq)
            if verdict.status == ps.DUPLICATE:
                meta = verdict.duplicate_of
                assert meta is not None
                self._respond_when_replicated(
                    msg, key, st, acks, meta.first_offset, meta.last_offset + 1, duplicate=True
                )
                return
            if verdict.status != ps.OK:
                # INVALID_PRODUCER_EPOCH for an old epoch, transactional or not: Produce never
                # answers PRODUCER_FENCED (ProducerAppendInfo.checkProducerEpoch, since 2.7)
                self.reply(msg, {"error": verdict.status})
                return
        txn = bool(b.get("txn"))
        first = log.leo
        leader_epoch = st.epoch
        if seq >= 0:
            recs = [
                Record(0, v, pid, epoch, seq + i, leader_epoch, txn) for i, v in enumerate(values)
            ]
            recs[0].last_seq = last_seq
        else:
            recs = [Record(0, v, pid, epoch, -1, leader_epoch, txn) for v in values]
        log.append_batch(recs)
        if self.net.trace is not None and self.net.trace.live:
            seqs = f" seq {seq}-{last_seq} pid {pid} epoch {epoch}" if seq >= 0 else ""
            where = f"offset {first}" if len(recs) == 1 else f"offsets {first}-{log.leo - 1}"
            self.net.trace.note(self.name, tr.APPEND, f"append {key} {where}{seqs} values {values}")
        self.after_append(key)
        self._respond_when_replicated(msg, key, st, acks, first, log.leo, duplicate=False)

    def _note_verdict(
        self,
        key: str,
        log: PartitionLog,
        verdict: ps.Verdict,
        pid: int,
        epoch: int,
        seq: int,
        last_seq: int,
    ) -> None:
        """Tracing only: what ProducerStateManager decided about a batch it did not append."""
        trace = self.net.trace
        assert trace is not None
        entry = log.producers.get(pid)
        batch = f"{key} pid {pid} epoch {epoch} seq {seq}-{last_seq}"
        if verdict.status == ps.DUPLICATE and verdict.duplicate_of is not None:
            m = verdict.duplicate_of
            trace.note(
                self.name,
                tr.DEDUPLICATED,
                f"deduplicated {batch}: already at offsets {m.first_offset}-{m.last_offset}, "
                "answered DUPLICATE_SEQUENCE with the original offset, not appended",
            )
        elif verdict.status == ps.FENCED:
            current = entry.epoch if entry is not None else "?"
            trace.note(
                self.name,
                tr.FENCED,
                f"fenced {batch}: epoch {epoch} < current {current} (INVALID_PRODUCER_EPOCH)",
            )
        elif verdict.status == ps.OUT_OF_ORDER:
            expected = entry.last_seq + 1 if entry is not None and epoch == entry.epoch else 0
            trace.note(
                self.name,
                tr.OUT_OF_ORDER,
                f"OutOfOrderSequence {batch}: expected seq {expected}",
            )

    def note_lso(self, key: str, lso_before: int, hw_before: int) -> None:
        """Tracing only: the LSO was held back by an open transaction and has moved on."""
        trace = self.net.trace
        assert trace is not None
        lso = self.logs[key].lso
        if lso_before < hw_before and lso > lso_before:
            trace.note(self.name, tr.LSO, f"LSO {key} {lso_before} -> {lso}")

    def _verify_then_produce(self, msg: Message) -> None:
        """KIP-890: ask the transaction coordinator whether this partition is part of the
        producer's ongoing transaction before the first transactional append."""
        coordinator = self.meta.get("__transaction_state", {}).get("leader")
        if coordinator is None:
            self.reply(msg, {"error": "not_enough_replicas"})
            return
        b = msg.body
        body = {"txn_id": b["txn_id"], "pid": b["pid"], "epoch": b["epoch"], "key": b["key"]}

        def verified(reply: dict[str, Any]) -> None:
            if reply.get("ok"):
                msg.body = {**b, "verified": True}
                self.on_produce(msg)
            elif reply.get("error") == "invalid_txn_state":
                self.reply(msg, {"error": "invalid_txn_state"})
            elif reply.get("error") == "producer_fenced":
                # AddPartitionsToTxnManager: "Producers expect to handle INVALID_PRODUCER_EPOCH"
                self.reply(msg, {"error": "invalid_producer_epoch"})
            else:  # coordinator unreachable or moving: nothing was written, try again
                self.reply(msg, {"error": "concurrent_transactions"})

        self.call(coordinator, "VerifyTxn", body, 0.5, verified)

    def _respond_when_replicated(
        self,
        msg: Message,
        key: str,
        st: LeaderState,
        acks: str,
        first: int,
        end: int,
        duplicate: bool,
    ) -> None:
        if acks == "0":
            return
        if acks == "1" or "ack-before-replication" in self.bugs:
            self.reply(msg, {"offset": first, "duplicate": duplicate})
            return

        def done(err: str | None) -> None:
            if (
                err is None
                and len(st.isr) < self.min_isr
                and "ack-before-replication" not in self.bugs
            ):
                err = "not_enough_replicas_after_append"
            # An error after the append is not a rejection: the records are in this log and may
            # survive (Kafka answers NOT_LEADER or a timeout, and the client cannot tell).
            self.reply(
                msg,
                {"error": err, "appended": True}
                if err
                else {"offset": first, "duplicate": duplicate},
            )

        self.wait_for_hw(key, end, done)

    def wait_for_hw(
        self, key: str, required: int, done: Callable[[str | None], None], timeout: float = 1.0
    ) -> None:
        """Call ``done(None)`` once the high watermark reaches ``required``, else an error."""
        st = self.leading.get(key)
        if st is None:
            done("not_leader_or_follower")
            return
        if self.logs[key].hw >= required:
            done(None)
            return
        st.waiters.append(Waiter(required, self.env.now + timeout, done))

    # --- replication ---------------------------------------------------------------------
    def after_append(self, key: str) -> None:
        self.disk.appended(self.logs[key], self.env.now)  # a flush happens inside the append
        self._advance_hw(key)
        self._serve_parked(key)

    def _advance_hw(self, key: str) -> None:
        st = self.leading.get(key)
        if st is None:
            return
        if self.hw_needs_min_isr and len(st.isr) < self.min_isr:
            return  # Partition.maybeIncrementLeaderHW: no HW progress under min ISR (3.7+)
        log = self.logs[key]
        # the smallest log end among the leader (its own, len(records)) and its "maximal" ISR
        hw = len(log.records)
        name = self.name
        follower_leo = st.follower_leo
        for r in st.isr:
            if r != name:
                leo = follower_leo.get(r, 0)
                if leo < hw:
                    hw = leo
        if len(follower_leo) >= len(st.isr) and (st.joining or self.hw_waits_for_joining):
            hw = self._hw_with_joining(st, hw)  # a replica is outside the ISR
        if hw > log.hw:
            trace = self.net.trace
            if trace is not None and trace.live:
                lso_before, hw_before = log.lso, log.hw
                log.hw = hw
                self.note_lso(key, lso_before, hw_before)
            log.hw = hw
            if st.waiters:
                ready = [w for w in st.waiters if w.required <= hw]
                if ready:
                    st.waiters = [w for w in st.waiters if w.required > hw]
                    for w in ready:
                        w.done(None)
            self._serve_parked(key)
            for ext in self.extensions:
                ext.on_hw(key, hw)

    def _leader_tick(self, key: str, st: LeaderState, now: float) -> None:
        if st.waiters:
            expired = [w for w in st.waiters if w.deadline <= now]
            if expired:
                st.waiters = [w for w in st.waiters if w.deadline > now]
                for w in expired:
                    w.done("request_timed_out")
        if st.parked:
            keep = []
            for msg, deadline in st.parked:
                if deadline <= now:
                    self._answer_fetch(msg, key, st, force=True)
                else:
                    keep.append((msg, deadline))
            st.parked = keep
        if st.alter_pending >= 0 and now - st.alter_pending < 0.5:
            return
        log = self.logs[key]
        isr = set(st.isr)
        new_isr = [self.name]
        # Replica.isCaughtUp compares lastCaughtUpTimeMs with time.milliseconds(): the leader's
        # wall clock, so a forward jump on the leader makes every follower look out of sync.
        wall = self.clock.now()
        for r, leo in sorted(st.follower_leo.items()):
            # In sync = fetched up to the leader's log end within replica.lag.time.max.ms;
            # a follower is re-admitted once it is in sync again and has reached the HW.
            in_sync = wall - st.caught_up.get(r, -1e9) <= self.lag_max
            if in_sync and (r in isr or leo >= log.hw):
                new_isr.append(r)
        if set(new_isr) != isr:
            st.alter_pending = now
            # the additions of an earlier proposal whose answer never came may still commit
            # (Kafka keeps the partition in PendingExpandIsr and retries the same request)
            st.joining = tuple(sorted({*st.joining, *(r for r in new_isr if r not in isr)}))
            body = {
                "key": key,
                "isr": new_isr,
                "leader_epoch": st.epoch,
                "partition_epoch": st.partition_epoch,
            }
            self.call(
                self.controller,
                "AlterPartition",
                body,
                0.5,
                functools.partial(self._on_alter_reply, key, self.controller),
            )

    def _hw_with_joining(self, st: LeaderState, hw: int) -> int:
        """Partition.maybeIncrementLeaderHW counts the *maximal* ISR: a replica that an
        AlterPartition in flight adds holds the high watermark already (the controller may
        commit the addition, and then it may be elected), and from 3.6 (KAFKA-15021,
        shouldWaitForReplicaToJoinIsr) so does any follower caught up to the leader's log end
        within replica.lag.time.max.ms. Otherwise a record could commit on the old ISR while a
        replica that lacks it joins, and be lost when that replica is elected."""
        wall = self.clock.now()
        for r, leo in st.follower_leo.items():
            if leo >= hw or r in st.isr:
                continue
            joining = r in st.joining or (
                self.hw_waits_for_joining and wall - st.caught_up.get(r, -1e9) <= self.lag_max
            )
            if joining:
                hw = leo
        return hw

    def _on_alter_reply(self, key: str, sent_to: str, body: dict[str, Any]) -> None:
        self._next_controller(body, sent_to)
        st = self.leading.get(key)
        if st is not None:
            st.alter_pending = -1.0
            if "state" in body:  # answered: what the controller holds is known now
                st.joining = ()
        if "state" in body:
            self.apply_image([body["state"]])

    def _fetch_from_leader(self, key: str) -> None:
        fs = self.following.get(key)
        if fs is None:
            return
        log = self.logs[key]
        kept = self.kept_divergent.get(key)  # None unless the unclean-truncation bug kept one
        body = {
            "key": key,
            "offset": len(log.records) if kept is None else kept,
            "replica": self.name,
            "leader_epoch": fs.epoch,
            "last_epoch": log.last_epoch if kept is None else -1,
            "hw": log.hw,
        }
        fs.sent_at = self.env.now
        fs.corr = self.call(
            fs.leader, "Fetch", body, 2.0, functools.partial(self._on_fetch_reply, key, fs)
        )

    def _on_fetch_reply(self, key: str, fs: FollowerState, body: dict[str, Any]) -> None:
        if self.following.get(key) is not fs:
            return
        log = self.logs[key]
        err = body.get("error")
        if err == "diverging":
            if "unclean-truncation" not in self.bugs:
                own_end = log.end_offset_for_epoch(body["epoch"])[1] if body["epoch"] >= 0 else 0
                end = min(body["end_offset"], own_end)
                if end < log.hw and self.net.trace is not None:
                    # records this replica counted committed: an unclean election or a leader
                    # that lost its page cache (KIP-966), never a clean one (KIP-101)
                    text = f"truncated below its high watermark: {key} to {end}, watermark {log.hw}"
                    self.note(tr.TRUNCATED, text)
                log.truncate_to(end)
            else:
                # Bug: keep the divergent suffix and append the leader's records after it.
                self.kept_divergent[key] = body["end_offset"]
            self._fetch_from_leader(key)
            return
        if err is not None:
            fs.corr = -1  # retried by the ticker once metadata moves on
            return
        records = body["records"]
        if key not in self.kept_divergent:
            # Records are never changed once written, so a follower shares the leader's objects
            # (its copy sits at the same offset); only the contiguous run at its log end is new.
            # The leader sends a contiguous slice of its log, so the new run is found in O(1).
            start = len(log.records)  # the log end
            n = len(records)
            i = start - records[0].offset if n else 0
            if (
                0 <= i < n
                and records[i].offset == start
                and records[-1].offset == start + n - 1 - i
            ):
                log.append_batch(records[i:] if i else records, replicated=True)
        else:  # the unclean-truncation bug: appended after a divergent suffix, at other offsets
            for rec in records:
                if rec.offset == self.kept_divergent[key]:
                    log.append(rec.copy(), replicated=True)
                    self.kept_divergent[key] += 1
        self.disk.appended(log, self.env.now)
        hw = body["hw"]
        end = len(log.records)  # the log end
        log.hw = hw if hw < end else end
        self._fetch_from_leader(key)

    # --- fetch (followers and consumers) --------------------------------------------------
    def on_fetch(self, msg: Message) -> None:
        key = msg.body["key"]
        st = self.leading.get(key)
        if st is None:
            self.reply(msg, {"error": "not_leader_or_follower"})
            return
        b = msg.body
        replica = b.get("replica")
        if replica is not None:
            if b["leader_epoch"] != st.epoch:
                self.reply(msg, {"error": "fenced_leader_epoch"})
                return
            log = self.logs[key]
            if b["last_epoch"] >= 0:
                epoch, end = log.end_offset_for_epoch(b["last_epoch"])
                if epoch != b["last_epoch"] or end < b["offset"]:
                    self.reply(msg, {"error": "diverging", "epoch": epoch, "end_offset": end})
                    return
            if replica not in st.follower_leo:  # not (or no longer) a replica
                self.reply(msg, {"error": "not_leader_or_follower"})
                return
            st.follower_leo[replica] = b["offset"]
            self._note_caught_up(st, replica, b["offset"], log.leo)
            self._advance_hw(key)
        if not self._answer_fetch(msg, key, st, force=False):
            st.parked.append((msg, self.env.now + b.get("max_wait", FETCH_MAX_WAIT)))

    def _note_caught_up(self, st: LeaderState, replica: str, offset: int, leo: int) -> None:
        """Kafka's Replica.updateFetchStateOrThrow: a follower is caught up at this fetch if it
        reached the leader's log end, and as of its *previous* fetch if it reached the log end
        the leader had then. Under steady writes a fetch never equals the current log end, so
        the second rule is what keeps a healthy but distant follower in the ISR. The fetch time
        is the leader's wall clock (ReplicaManager.fetchMessages: ``time.milliseconds``)."""
        clock = self.clock
        now = self.env.now if clock.perfect else clock.now()  # no call on the hot default path
        if offset >= leo:
            # math.max as in Kafka: after a backward jump the old (later) time is kept
            st.caught_up[replica] = max(st.caught_up.get(replica, now), now)
        elif offset >= st.last_fetch_leo.get(replica, leo + 1):
            st.caught_up[replica] = max(
                st.caught_up.get(replica, -1e9), st.last_fetch_time[replica]
            )
        st.last_fetch_leo[replica] = leo
        st.last_fetch_time[replica] = now

    def _answer_fetch(self, msg: Message, key: str, st: LeaderState, force: bool) -> bool:
        """Answer now if there is something to say (data or a newer HW), else leave it parked."""
        b = msg.body
        log = self.logs[key]
        records = log.records  # len(records) is the log end (log.leo)
        offset = b["offset"]
        if b.get("replica") is not None:
            # Follower fetches read to the log end (FetchIsolation.LOG_END): a newer HW alone
            # does not complete a parked one (DelayedFetch.tryComplete); the follower learns
            # the HW from the next answer that carries records, or when the wait expires.
            if offset < len(records) or force:
                self.reply(msg, {"records": records[offset : offset + 500], "hw": log.hw})
                return True
            return False
        committed = b.get("isolation") == "read_committed"
        end = log.lso if committed and "lso-ignores-open-txn" not in self.bugs else log.hw
        if offset > len(records):
            # and the leader epoch it answers under: the simulator's bookkeeping for
            # sim.runs.known (this broker may have stepped down by the time the consumer reads
            # the answer), never read by the protocol
            body = {"error": "offset_out_of_range", "hw": log.hw, "lso": log.lso}
            self.reply(msg, {**body, "answered_epoch": st.epoch})
            return True
        if offset >= end and not force:
            return False  # nothing readable yet (log.read would find no record and no marker)
        if committed and "abort-markers-skipped" in self.bugs:
            committed = False
        bug = self.buggify
        if bug is not None and offset < end and bug("empty-fetch"):
            # BUGGIFY: an empty answer although records are there (a legal fetch response)
            self.reply(msg, _consumer_fetch_answer(log, [], offset))
            return True
        recs, next_offset = log.read(offset, end, committed)
        if recs or force or next_offset > offset:
            self.reply(msg, _consumer_fetch_answer(log, recs, next_offset))
            return True
        return False

    def on_offsets_for_leader_epoch(self, msg: Message) -> None:
        """KIP-320 for consumers: where does ``epoch`` end in the leader's log?"""
        key = msg.body["key"]
        if key not in self.leading:
            self.reply(msg, {"error": "not_leader_or_follower"})
            return
        epoch, end = self.logs[key].end_offset_for_epoch(msg.body["epoch"])
        self.reply(msg, {"epoch": epoch, "end_offset": end})

    def _serve_parked(self, key: str) -> None:
        st = self.leading.get(key)
        if st is None or not st.parked:
            return
        parked = st.parked
        st.parked = []
        for item in parked:
            if not self._answer_fetch(item[0], key, st, False):
                st.parked.append(item)


def _consumer_fetch_answer(
    log: PartitionLog, recs: list[Record], next_offset: int
) -> dict[str, Any]:
    return {
        "records": [(r.offset, r.value) for r in recs],
        "next": next_offset,
        # the leader epoch of the last record up to ``next`` (the position's epoch)
        "epoch": log.records[next_offset - 1].leader_epoch if next_offset else -1,
        "hw": log.hw,
        "lso": log.lso,
        "leo": log.leo,
    }
