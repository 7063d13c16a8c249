"""The transaction coordinator, hosted on the leader of ``__transaction_state``.

Follows Kafka's TransactionCoordinator and TransactionMetadata: InitProducerId bumps the epoch
of a transactional.id (fencing zombies) and aborts a transaction the old epoch left open; EndTxn
moves Ongoing -> PrepareCommit/PrepareAbort (persisted), answers the client, then writes control
markers to every partition in the transaction and finally CompleteCommit/CompleteAbort.
Expired transactions are aborted with a bumped epoch. Every transition is a record in the
replicated ``__transaction_state`` log, so a new coordinator resumes where the old one stopped.

Release-dependent (``kafka.version``; ``txn.protocol = v1`` turns KIP-890 off): before 3.6 the
epoch stays the same across transactions and partitions accept transactional data without asking
the coordinator. From 3.6 (KIP-890 part 1) the partition leader verifies with the coordinator
before a producer's first transactional append (see ``TxnPartitionGate``). From 4.0 (part 2,
transaction version 2) the epoch is bumped at every EndTxn.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.cluster import trace as tr
from sim.cluster.buggify import DISCONNECTED
from sim.cluster.coordinator import HostedCoordinator
from sim.cluster.network import Message
from sim.cluster.producer_state import marker_fenced

if TYPE_CHECKING:
    from sim.cluster.broker import Broker
    from sim.cluster.buggify import Buggify

EMPTY, ONGOING = "Empty", "Ongoing"
PREPARE_COMMIT, PREPARE_ABORT = "PrepareCommit", "PrepareAbort"
COMPLETE_COMMIT, COMPLETE_ABORT = "CompleteCommit", "CompleteAbort"
PREPARE_EPOCH_FENCE = "PrepareEpochFence"
MARKER_RETRY = 0.1
# the coordinator's timeout on a WriteTxnMarkers request (its marker channel's request.timeout.ms)
MARKER_TIMEOUT = 1.0
# TransactionStateManager.appendTransactionToLog: a failed write of the transaction's state is
# answered with a coordinator error the client retries, not the log's own error
APPEND_ERRORS = {
    "not_leader_or_follower": "not_coordinator",
    "request_timed_out": "coordinator_not_available",
    "not_enough_replicas": "coordinator_not_available",
}


@dataclass
class TxnMeta:
    txn_id: str
    pid: int
    epoch: int
    state: str = EMPTY
    partitions: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    started: float = 0.0
    timeout: float = 5.0
    marker_epoch: int = 0  # epoch the markers of the ending transaction carry
    last_epoch: int = -1  # the epoch before the last InitProducerId bump (retry detection)
    prepared_at: float = 0.0  # when the Prepare state took effect (in memory only: liveness)

    def record(self) -> dict[str, Any]:
        return {
            "type": "txn",
            "txn_id": self.txn_id,
            "pid": self.pid,
            "epoch": self.epoch,
            "state": self.state,
            "partitions": list(self.partitions),
            "groups": list(self.groups),
            "started": self.started,
            "timeout": self.timeout,
            "marker_epoch": self.marker_epoch,
            "last_epoch": self.last_epoch,
        }


class TxnCoordinator(HostedCoordinator):
    key = "__transaction_state"

    def __init__(self, broker: Broker) -> None:
        super().__init__(broker)
        cfg = broker.world.config
        self.v2 = cfg.txn_v2
        self.fencing = "no-epoch-fencing" not in broker.bugs
        self.lost_marker = "lost-marker" in broker.bugs
        self.abort_prepared = "txn-timeout-aborts-prepared" in broker.bugs
        self.timed_out_prepared: set[str] = set()  # (bug) commits the scan already aborted
        self.txns: dict[str, TxnMeta] = {}
        self.busy: set[str] = set()  # txn ids with a state write or markers in flight
        self.stats = {
            "fenced": 0,
            "timeouts": 0,
            "aborts": 0,
            "commits": 0,
            "end_txn_while_preparing": 0,  # retried EndTxn that met a pending Prepare write
        }
        broker.handlers.update(
            {
                "InitTxnProducerId": self.on_init,
                "AddPartitionsToTxn": self.on_add_partitions,
                "AddOffsetsToTxn": self.on_add_offsets,
                "EndTxn": self.on_end_txn,
                "VerifyTxn": self.on_verify,
            }
        )

    # --- state ---------------------------------------------------------------------------
    def load(self, payloads: list[Any]) -> None:
        self.txns = {}
        self.busy = set()
        for p in payloads:
            if p.get("type") == "txn":
                self.txns[p["txn_id"]] = TxnMeta(
                    p["txn_id"],
                    p["pid"],
                    p["epoch"],
                    p["state"],
                    list(p["partitions"]),
                    list(p["groups"]),
                    p["started"],
                    p["timeout"],
                    p["marker_epoch"],
                    p.get("last_epoch", -1),
                )
        # A coordinator that takes over mid-commit finishes the job (markers are idempotent).
        for meta in sorted(self.txns.values(), key=lambda m: m.txn_id):
            if meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
                meta.prepared_at = self.env.now
                self._write_markers(meta)

    def unload(self) -> None:
        self.txns = {}
        self.busy = set()

    def _persist(self, meta: TxnMeta, then: Any) -> None:
        """Write ``meta``'s record; ``then`` gets None or the coordinator error for a failed
        write (``APPEND_ERRORS``), the one the client is answered with."""
        self.busy.add(meta.txn_id)

        def done(err: str | None) -> None:
            self.busy.discard(meta.txn_id)
            then(APPEND_ERRORS.get(err, err) if err else None)

        self.persist(meta.record(), done)

    def _guard(self, msg: Message) -> TxnMeta | None | bool:
        """Common checks: coordinator, a known id, the caller's epoch (fencing)."""
        if self.refused(msg):
            return False
        b = msg.body
        meta = self.txns.get(b["txn_id"])
        if meta is None or meta.pid != b["pid"]:
            self.broker.reply(msg, {"error": "invalid_producer_id_mapping"})
            return False
        # TransactionCoordinator: "Strict equality is enforced on the client side requests, as
        # they shouldn't bump the producer epoch": a higher epoch than issued is fenced too.
        if b["epoch"] != meta.epoch and self.fencing:
            self._note_fenced(msg, meta.epoch)
            self.broker.reply(msg, {"error": "producer_fenced"})
            self.stats["fenced"] += 1
            return False
        if meta.txn_id in self.busy:
            self.broker.reply(msg, {"error": "concurrent_transactions"})
            return False
        return meta

    def _note_fenced(self, msg: Message, current: Any) -> None:
        trace = self.broker.net.trace
        if trace is not None and trace.live:
            b = msg.body
            trace.note(
                self.broker.name,
                tr.FENCED,
                f"{msg.api} from {msg.src} fenced: {b.get('txn_id')} pid {b.get('pid')} "
                f"epoch {b.get('epoch')}, current epoch {current} (PRODUCER_FENCED)",
            )

    def _note(self, meta: TxnMeta, text: str) -> None:
        trace = self.broker.net.trace
        if trace is not None and trace.live:
            trace.note(self.broker.name, "txn-state", f"{meta.txn_id} {text}")

    # --- InitProducerId ------------------------------------------------------------------
    def on_init(self, msg: Message) -> None:
        if self.refused(msg):
            return
        b = msg.body
        txn_id = b["txn_id"]
        if txn_id in self.busy:
            self.broker.reply(msg, {"error": "concurrent_transactions"})
            return
        meta = self.txns.get(txn_id)
        expected = b.get("epoch")  # KIP-360: the caller's pid and epoch, to bump after an error
        if expected is not None and self.fencing:
            if meta is None or meta.pid != b["pid"]:
                self._note_fenced(msg, None if meta is None else meta.epoch)
                self.broker.reply(msg, {"error": "producer_fenced"})
                return
            if expected == meta.last_epoch and meta.state == EMPTY:
                # a retry of a bump that went through: answer it again, do not bump twice
                self.broker.reply(msg, {"pid": meta.pid, "epoch": meta.epoch})
                return
            if expected != meta.epoch:
                self._note_fenced(msg, meta.epoch)
                self.broker.reply(msg, {"error": "producer_fenced"})
                return
        if meta is None:
            meta = TxnMeta(txn_id, self.broker.world.next_id("pid"), 0, timeout=b["timeout"])
            self.txns[txn_id] = meta
        elif meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
            self.broker.reply(msg, {"error": "concurrent_transactions"})
            return
        elif meta.state == ONGOING:
            # Fence the old epoch and abort what it left open; the client retries.
            self._abort(meta, fence=True)
            self.broker.reply(msg, {"error": "concurrent_transactions"})
            return
        else:
            if self.fencing:
                meta.last_epoch = meta.epoch
                meta.epoch += 1
                self._note(meta, f"InitProducerId: epoch bumped to {meta.epoch} (fences older)")
            meta.state = EMPTY
            meta.partitions, meta.groups = [], []
        meta.timeout = b["timeout"]

        def done(err: str | None) -> None:
            self.broker.reply(
                msg, {"error": err} if err else {"pid": meta.pid, "epoch": meta.epoch}
            )

        self._persist(meta, done)

    # --- building a transaction ----------------------------------------------------------
    def _begin_if_needed(self, meta: TxnMeta) -> bool:
        if meta.state == ONGOING:
            return True
        if meta.state in (EMPTY, COMPLETE_COMMIT, COMPLETE_ABORT):
            meta.state = ONGOING
            meta.partitions, meta.groups = [], []
            # txnStartTimestamp = time.milliseconds() on the coordinator's broker (wall clock;
            # TransactionMetadata.prepareAddPartitions), persisted with the state
            meta.started = self.broker.clock.now()
            return True
        return False

    def on_add_partitions(self, msg: Message) -> None:
        self._add_to_txn(msg, "partitions", msg.body.get("keys", []))

    def on_add_offsets(self, msg: Message) -> None:
        self._add_to_txn(msg, "groups", [msg.body.get("group")])

    def _add_to_txn(self, msg: Message, field_name: str, items: list[Any]) -> None:
        """AddPartitionsToTxn / AddOffsetsToTxn: begin the transaction if needed, record the
        new participants, answer once that state is committed in __transaction_state."""
        meta = self._guard(msg)
        if not isinstance(meta, TxnMeta):
            return
        # BUGGIFY: CONCURRENT_TRANSACTIONS although nothing is in the way, decided before any
        # state changes (as Kafka answers it for a pending transition or an ending transaction)
        bug = self.broker.buggify
        site = "concurrent-transactions"
        if field_name == "groups":
            site = "concurrent-transactions-offsets"
        if (bug is not None and bug(site)) or not self._begin_if_needed(meta):
            self.broker.reply(msg, {"error": "concurrent_transactions"})
            return
        participants: list[str] = getattr(meta, field_name)
        for item in items:
            if item not in participants:
                participants.append(item)
        self._persist(
            meta,
            lambda err: self.broker.reply(msg, {"error": err} if err else {"ok": True}),
        )

    def on_verify(self, msg: Message) -> None:
        """KIP-890 part 1: a partition leader asks whether this producer's transaction includes
        the partition before the first transactional append."""
        if self.refused(msg):
            return
        b = msg.body
        meta = self.txns.get(b["txn_id"])
        if meta is not None and meta.pid == b["pid"] and meta.epoch != b["epoch"] and self.fencing:
            self._note_fenced(msg, meta.epoch)
            self.broker.reply(msg, {"error": "producer_fenced"})
            return
        ok = (
            meta is not None
            and meta.pid == b["pid"]
            and meta.state == ONGOING
            and (b["group"] in meta.groups if "group" in b else b["key"] in meta.partitions)
        )
        self.broker.reply(msg, {"ok": True} if ok else {"error": "invalid_txn_state"})

    # --- ending a transaction ------------------------------------------------------------
    def on_end_txn(self, msg: Message) -> None:
        b = msg.body
        commit = bool(b["commit"])
        meta = self.txns.get(b["txn_id"]) if self.active else None
        if (
            meta is not None
            and meta.pid == b["pid"]
            and meta.state in (COMPLETE_COMMIT, COMPLETE_ABORT, PREPARE_COMMIT, PREPARE_ABORT)
        ):
            # A retried EndTxn whose first attempt went through (v2: it carries the old epoch).
            same = (
                meta.state in (COMPLETE_COMMIT, PREPARE_COMMIT)
                if commit
                else meta.state in (COMPLETE_ABORT, PREPARE_ABORT)
            )
            retry_epoch = meta.marker_epoch - 1 if self.v2 and self.fencing else meta.marker_epoch
            if same and b["epoch"] in (retry_epoch, meta.epoch):
                # TransactionCoordinator.endTransaction: a retry is answered once the
                # transaction is complete; while its markers are still being written the
                # client is told to come back (CONCURRENT_TRANSACTIONS)
                if meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
                    self.broker.reply(msg, {"error": "concurrent_transactions"})
                else:
                    self.broker.reply(msg, {"ok": True, "epoch": meta.epoch})
                return
        if meta is not None and meta.state == ONGOING and meta.txn_id in self.busy:
            self.stats["end_txn_while_preparing"] += 1  # _guard answers concurrent_transactions
        guarded = self._guard(msg)
        if not isinstance(guarded, TxnMeta):
            return
        meta = guarded
        if meta.state != ONGOING:
            self.broker.reply(
                msg,
                {"error": "invalid_txn_state"}
                if meta.state != EMPTY
                else {"ok": True, "epoch": meta.epoch},
            )
            return
        if commit:
            self.stats["commits"] += 1
        else:
            self.stats["aborts"] += 1
        self._prepare(meta, commit, bump=self.v2, reply_to=msg)

    def _abort(self, meta: TxnMeta, fence: bool) -> None:
        self.stats["aborts"] += 1
        self._prepare(meta, commit=False, bump=fence or self.v2, reply_to=None)

    def _prepare(self, meta: TxnMeta, commit: bool, bump: bool, reply_to: Message | None) -> None:
        """Ongoing -> PrepareCommit/PrepareAbort. As Kafka's ``pendingState``, the transition
        takes effect only once its record is committed: until then the transaction stays
        Ongoing and busy (a retried EndTxn gets concurrent_transactions), and a failed write
        leaves it Ongoing to be ended again. Answering a retry "ok" from a Prepare state whose
        record then failed to commit would acknowledge a commit that a later coordinator
        aborts: a lost write."""
        state = PREPARE_COMMIT if commit else PREPARE_ABORT
        epoch = meta.epoch + 1 if bump and self.fencing else meta.epoch
        prepared = dataclasses.replace(meta, state=state, epoch=epoch, marker_epoch=epoch)

        def done(err: str | None) -> None:
            if err is None:
                meta.state, meta.epoch, meta.marker_epoch = state, epoch, epoch
                meta.prepared_at = self.env.now
                self._note(meta, f"{state} (epoch {epoch}): writing markers")
            if reply_to is not None:
                self.broker.reply(
                    reply_to, {"error": err} if err else {"ok": True, "epoch": meta.epoch}
                )
            if err is None:
                self._write_markers(meta)

        self._persist(prepared, done)

    def _write_markers(self, meta: TxnMeta) -> None:
        """WriteTxnMarkers to every partition leader (and group coordinator), retried until all
        have it; then the transaction completes."""
        commit = meta.state == PREPARE_COMMIT
        targets = [("partition", k) for k in meta.partitions] + [("group", g) for g in meta.groups]
        if self.lost_marker and commit and len(meta.partitions) > 1:
            targets = targets[1:]  # bug: one partition never gets its commit marker
        pending = {t for t in targets}
        self.busy.add(meta.txn_id)
        epoch_at_start = self.active_epoch

        def finish() -> None:
            if self.active_epoch != epoch_at_start:
                return
            meta.state = COMPLETE_COMMIT if commit else COMPLETE_ABORT
            self._note(meta, meta.state)
            self.busy.discard(meta.txn_id)
            self._persist(meta, lambda err: None)

        def send(target: tuple[str, str]) -> None:
            if self.active_epoch != epoch_at_start or not self.broker.alive:
                return
            kind, name = target
            key = name if kind == "partition" else "__consumer_offsets"
            leader = self.broker.meta.get(key, {}).get("leader")
            body = {
                "key": key,
                "pid": meta.pid,
                "epoch": meta.marker_epoch,
                "commit": commit,
                "group": name if kind == "group" else None,
            }

            def reply(r: dict[str, Any]) -> None:
                if r.get("ok"):
                    pending.discard(target)
                    if not pending:
                        finish()
                else:
                    self.env.timeout(MARKER_RETRY).callbacks.append(lambda _e: send(target))

            if leader is None:
                self.env.timeout(MARKER_RETRY).callbacks.append(lambda _e: send(target))
                return
            self.broker.call(leader, "WriteTxnMarkers", body, MARKER_TIMEOUT, reply)

        if not pending:
            finish()
        for target in sorted(pending):
            send(target)

    # --- timeouts ------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """TransactionCoordinator.abortTimedOutTransactions, run every tick: the scan's period
        is the scheduler's (monotonic), but TransactionStateManager.timedOutTransactions compares
        ``txnStartTimestamp + txnTimeoutMs < time.milliseconds()``, the broker's wall clock, so a
        forward jump of this broker's clock expires transactions that are well within their
        timeout, and a backward jump keeps expired ones alive."""
        if not self.active:
            return
        wall = self.broker.clock.now()
        for txn_id in sorted(self.txns):
            meta = self.txns[txn_id]
            if (
                meta.state == ONGOING
                and txn_id not in self.busy
                and wall - meta.started > meta.timeout
            ):
                self.stats["timeouts"] += 1
                self._note(meta, "timed out (transaction.timeout.ms): abort, fence")
                self._abort(meta, fence=True)
            elif (
                self.abort_prepared
                and meta.state == PREPARE_COMMIT
                and wall - meta.started > meta.timeout
                and txn_id not in self.timed_out_prepared
            ):
                # bug txn-timeout-aborts-prepared: the scan skips neither pending transitions nor
                # Prepare states, so it aborts a commit whose markers are being written
                self.timed_out_prepared.add(txn_id)
                self.stats["timeouts"] += 1
                self._note(meta, "timed out while PrepareCommit (bug): abort, fence")
                self._abort(meta, fence=True)


class TxnPartitionGate(HostedCoordinator):
    """The partition side of transactions on every broker: control markers, and (v2) the
    verification with the coordinator before a producer's first transactional append."""

    key = ""

    def __init__(self, broker: Broker) -> None:
        super().__init__(broker)
        self.verify = broker.world.config.partition_verification
        self.strict_markers = broker.world.config.strict_marker_epoch
        broker.handlers["WriteTxnMarkers"] = self.on_write_markers

    def on_metadata(self) -> None:
        pass

    def _marker_lost(self, msg: Message, bug: Buggify) -> bool:
        """BUGGIFY marker-retry: the coordinator's connection to this broker breaks while the
        marker request is on it, before it is handled (True: nothing is written) or after the
        marker is written (False: handled as usual, the answer replaced by the disconnection).
        Either way the coordinator re-sends the marker
        (TransactionMarkerRequestCompletionHandler.onComplete: wasDisconnected re-enqueues it),
        so a leader may get a second marker for a transaction it has already completed."""
        written = bug.uniform("marker-retry", 0.0, 1.0) < 0.5
        b = msg.body
        trace = self.broker.net.trace
        if trace is not None and trace.live:
            what = "COMMIT" if b["commit"] else "ABORT"
            where = f"group {b['group']}" if b.get("group") is not None else b["key"]
            fate = "after it is written" if written else "before it is handled"
            trace.note(
                self.broker.name,
                tr.BUGGIFY,
                f"BUGGIFY marker-retry: {what} marker for {where} pid {b['pid']}: "
                f"connection broken {fate}",
            )
        if written:
            bug.lose_answer(self.broker.name, msg.src, msg.corr)
            return False
        self.broker.reply(msg, dict(DISCONNECTED))
        return True

    def needs_verification(self, key: str, body: dict[str, Any]) -> bool:
        if not (self.verify and body.get("txn")):
            return False
        entry = self.broker.logs[key].producers.get(body["pid"])
        return entry is None or entry.txn_first_offset is None or entry.epoch != body["epoch"]

    def on_write_markers(self, msg: Message) -> None:
        bug = self.broker.buggify
        if bug is not None and bug("slow-marker"):
            # BUGGIFY slow-marker: the request waits in this broker's queue (a GC pause, a full
            # request queue) and is handled up to just before the coordinator's marker timeout
            late = bug.uniform("slow-marker", 0.3, 0.95) * MARKER_TIMEOUT
            self.broker.later(late, self._handle_markers, msg)  # dies with the process
            return
        if bug is not None and bug("late-marker"):
            # BUGGIFY late-marker: it waits past the coordinator's timeout; the coordinator has
            # re-sent the markers on a new connection by then, and this one is still handled
            late = bug.uniform("late-marker", 1.05, 2.0) * MARKER_TIMEOUT
            self.broker.note(
                tr.BUGGIFY,
                f"BUGGIFY late-marker: WriteTxnMarkers from {msg.src} handled {late:.3f} s late",
                held=msg,
            )
            self.broker.later(late, self._handle_markers, msg)
            return
        self._handle_markers(msg)

    def _handle_markers(self, msg: Message) -> None:
        b = msg.body
        bug = self.broker.buggify
        if bug is not None and bug("marker-retry") and self._marker_lost(msg, bug):
            return
        if b.get("group") is not None:
            for ext in self.broker.extensions:
                if hasattr(ext, "on_txn_marker"):
                    ext.on_txn_marker(msg)
                    return
            self.broker.reply(msg, {"error": "not_coordinator"})
            return
        key = b["key"]
        st = self.broker.leading.get(key)
        if st is None:
            self.broker.reply(msg, {"error": "not_leader_or_follower"})
            return
        log = self.broker.logs[key]
        entry = log.producers.get(b["pid"])
        trace = self.broker.net.trace
        if trace is not None and not trace.live:
            trace = None
        if entry is not None and marker_fenced(
            b["epoch"], entry.epoch, entry.txn_first_offset is not None, self.strict_markers
        ):
            if trace is not None:
                trace.note(
                    self.broker.name,
                    tr.FENCED,
                    f"marker for {key} pid {b['pid']} fenced: epoch {b['epoch']} against "
                    f"{entry.epoch} (INVALID_PRODUCER_EPOCH)",
                )
            self.broker.reply(msg, {"error": "invalid_producer_epoch"})
            return
        from sim.cluster.log import Record

        lso_before, hw_before = (log.lso, log.hw) if trace is not None else (0, 0)

        log.append(
            Record(
                0,
                None,
                b["pid"],
                b["epoch"],
                -1,
                st.epoch,
                True,
                "commit" if b["commit"] else "abort",
            )
        )
        end = log.leo
        if trace is not None:
            what = "COMMIT" if b["commit"] else "ABORT"
            trace.note(
                self.broker.name,
                tr.MARKER,
                f"{what} marker written: {key} offset {end - 1} pid {b['pid']} epoch {b['epoch']}",
            )
        self.broker.after_append(key)
        if trace is not None:
            self.broker.note_lso(key, lso_before, hw_before)
        self.broker.wait_for_hw(
            key, end, lambda err: self.broker.reply(msg, {"error": err} if err else {"ok": True})
        )
