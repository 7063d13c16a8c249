"""The group coordinator: membership, generations, rebalances and committed offsets.

Membership follows Kafka's eager protocol in one round trip (JoinGroup answers with the
assignment): a member that misses heartbeats for ``session.timeout.ms`` is removed and the
generation moves on, so a zombie of an old generation cannot commit (ILLEGAL_GENERATION).
Committed offsets and generations are records in ``__consumer_offsets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.cluster import trace as tr
from sim.cluster.coordinator import HostedCoordinator
from sim.cluster.network import Message
from sim.cluster.producer_state import marker_fenced

if TYPE_CHECKING:
    from sim.cluster.broker import Broker

JOIN_WINDOW = 0.1
REBALANCE_TIMEOUT = 0.5


@dataclass
class Group:
    name: str
    generation: int = 0
    members: dict[str, float] = field(default_factory=dict)  # member -> last heartbeat
    joining: dict[str, Message] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    rebalance_started: float | None = None
    assignment: dict[str, list[str]] = field(default_factory=dict)


class GroupCoordinator(HostedCoordinator):
    key = "__consumer_offsets"

    def __init__(self, broker: Broker) -> None:
        super().__init__(broker)
        self.session_timeout = broker.world.config.session_timeout_ms / 1000.0
        self.groups: dict[str, Group] = {}
        cfg = broker.world.config
        self.offsets: dict[tuple[str, str], int] = {}
        # Position in __consumer_offsets of the record each committed offset came from: a
        # transaction's offsets replace a committed one only if written after it.
        self.written_at: dict[tuple[str, str], int] = {}
        # KIP-320: the leader epoch a committed offset carries (OffsetAndMetadata.leaderEpoch),
        # when its committer sent one; a commit without one clears it, as the whole value is
        # replaced (OffsetCommitRequest committed_leader_epoch -1)
        self.offset_epochs: dict[tuple[str, str], int] = {}
        self.records = 0
        # (group, pid) -> key -> (offset, position of its record): merged per partition
        self.pending_txn_offsets: dict[tuple[str, int], dict[str, tuple[int, int]]] = {}
        self.pending_txn_epochs: dict[tuple[str, int], dict[str, int]] = {}
        self.producer_epochs: dict[int, int] = {}  # highest epoch seen per producer id
        self.offsets_outside_txn = "offsets-outside-txn" in broker.bugs
        # KAFKA-15449 (3.7+): TxnOffsetCommit is verified with the transaction coordinator
        self.verify = cfg.partition_verification and cfg.release >= (3, 7)
        self.strict_markers = cfg.strict_marker_epoch
        broker.handlers.update(
            {
                "FindCoordinator": self.on_find_coordinator,
                "JoinGroup": self.on_join,
                "Heartbeat": self.on_heartbeat,
                "LeaveGroup": self.on_leave,
                "OffsetCommit": self.on_offset_commit,
                "OffsetFetch": self.on_offset_fetch,
                "TxnOffsetCommit": self.on_txn_offset_commit,
            }
        )

    # --- state ---------------------------------------------------------------------------
    def load(self, payloads: list[Any]) -> None:
        self.unload()
        for p in payloads:
            self.apply(p, live=False)

    def unload(self) -> None:
        self.groups = {}
        self.offsets = {}
        self.written_at = {}
        self.offset_epochs = {}
        self.records = 0
        self.pending_txn_offsets = {}
        self.pending_txn_epochs = {}
        self.producer_epochs = {}

    def apply(self, p: dict[str, Any], live: bool = True) -> None:
        """One state change (a write now, or ``live=False`` a record replayed at load)."""
        kind = p["type"]
        self.records += 1
        at = self.records
        if "pid" in p and p.get("epoch") is not None:
            self.producer_epochs[p["pid"]] = max(self.producer_epochs.get(p["pid"], -1), p["epoch"])
        if kind == "offsets":
            for key, off in p["offsets"].items():
                if live:
                    old = self.offsets.get((p["group"], key))
                    self._note_regression("committed", p["group"], key, old, off)
                self.offsets[(p["group"], key)] = off
                self.written_at[(p["group"], key)] = at
                self._set_epoch(self.offset_epochs, (p["group"], key), p.get("epochs", {}).get(key))
        elif kind == "generation":
            self.group(p["group"]).generation = max(
                self.group(p["group"]).generation, p["generation"]
            )
        elif kind == "txn-offsets":
            # GroupMetadata.prepareTxnOffsetCommit / OffsetMetadataManager.replay: merged per
            # partition into the producer's pending offsets, never replaced wholesale
            pending = self.pending_txn_offsets.setdefault((p["group"], p["pid"]), {})
            epochs = self.pending_txn_epochs.setdefault((p["group"], p["pid"]), {})
            for key, off in p["offsets"].items():
                if live and key in pending:
                    self._note_regression("pending", p["group"], key, pending[key][0], off)
                pending[key] = (off, at)
                self._set_epoch(epochs, key, p.get("epochs", {}).get(key))
        elif kind == "txn-marker":
            pending = self.pending_txn_offsets.pop((p["group"], p["pid"]), {})
            epochs = self.pending_txn_epochs.pop((p["group"], p["pid"]), {})
            if p["commit"]:
                for key, (off, written) in pending.items():
                    if written > self.written_at.get((p["group"], key), -1):
                        if live:
                            old = self.offsets.get((p["group"], key))
                            self._note_regression("committed", p["group"], key, old, off)
                        self.offsets[(p["group"], key)] = off
                        self.written_at[(p["group"], key)] = written
                        self._set_epoch(self.offset_epochs, (p["group"], key), epochs.get(key))

    @staticmethod
    def _set_epoch(epochs: dict[Any, int], key: Any, epoch: int | None) -> None:
        if epoch is None:
            epochs.pop(key, None)
        else:
            epochs[key] = epoch

    def _note_regression(
        self, which: str, group: str, key: str, old: int | None, offset: int
    ) -> None:
        """Tracing only (and guided search's coverage): a commit moves a group's committed
        offset, or a transaction's pending one, backwards, as a late TxnOffsetCommit or
        OffsetCommit can; whoever reads the offsets next processes those records again."""
        if old is None or offset >= old:
            return
        self.broker.note(
            tr.OFFSETS, f"{which} offset moves back: group {group} {key} {old} -> {offset}"
        )

    def group(self, name: str) -> Group:
        g = self.groups.get(name)
        if g is None:
            g = self.groups[name] = Group(name)
        return g

    # --- requests ------------------------------------------------------------------------
    def on_find_coordinator(self, msg: Message) -> None:
        kind = msg.body.get("kind", "group")
        key = self.key if kind == "group" else "__transaction_state"
        meta = self.broker.meta.get(key)
        leader = meta["leader"] if meta else None
        if leader is None:
            self.broker.reply(msg, {"error": "coordinator_not_available"})
        else:
            self.broker.reply(msg, {"coordinator": leader})

    def _guard(self, msg: Message) -> bool:
        return not self.refused(msg)

    def on_join(self, msg: Message) -> None:
        if not self._guard(msg):
            return
        b = msg.body
        g = self.group(b["group"])
        member = b["member"]
        g.keys = list(b["keys"])
        g.members[member] = self.env.now
        g.joining[member] = msg
        if g.rebalance_started is None:
            g.rebalance_started = self.env.now

    def on_heartbeat(self, msg: Message) -> None:
        if not self._guard(msg):
            return
        b = msg.body
        g = self.group(b["group"])
        member = b["member"]
        if member not in g.members:
            self.broker.reply(msg, {"error": "unknown_member_id"})
            return
        g.members[member] = self.env.now
        if g.rebalance_started is not None:
            self.broker.reply(msg, {"error": "rebalance_in_progress"})
        elif b["generation"] != g.generation:
            self.broker.reply(msg, {"error": "illegal_generation"})
        else:
            self.broker.reply(msg, {"ok": True})

    def on_leave(self, msg: Message) -> None:
        if not self._guard(msg):
            return
        g = self.group(msg.body["group"])
        if g.members.pop(msg.body["member"], None) is not None and g.rebalance_started is None:
            g.rebalance_started = self.env.now
        self.broker.reply(msg, {"ok": True})

    def check_generation(self, group: str, member: str | None, generation: int) -> str | None:
        """KIP-447: offsets from a member of an older generation are rejected."""
        if member is None:
            return None
        g = self.group(group)
        if member not in g.members:
            return "unknown_member_id"
        if generation != g.generation:
            return "illegal_generation"
        return None

    def on_offset_commit(self, msg: Message) -> None:
        if not self._guard(msg):
            return
        b = msg.body
        err = self.check_generation(b["group"], b.get("member"), b.get("generation", -1))
        if err is not None:
            self.broker.reply(msg, {"error": err})
            return
        payload: dict[str, Any] = {
            "type": "offsets",
            "group": b["group"],
            "offsets": dict(b["offsets"]),
        }
        if b.get("epochs"):
            payload["epochs"] = dict(b["epochs"])
        self.apply(payload)

        def done(err: str | None) -> None:
            self.broker.reply(msg, {"error": err} if err else {"ok": True})

        self.persist(payload, done)

    def on_txn_offset_commit(self, msg: Message) -> None:
        """Offsets of a transaction: pending until the commit marker arrives (KIP-447 checks the
        generation, so a zombie of an old generation is fenced)."""
        if not self._guard(msg):
            return
        b = msg.body
        err = self.check_generation(b["group"], b.get("member"), b.get("generation", -1))
        if err is None and b["epoch"] < self.producer_epochs.get(b["pid"], -1):
            # written as a transactional batch: ProducerAppendInfo.checkProducerEpoch fences it
            err = "invalid_producer_epoch"
        if err is not None:
            self.broker.reply(msg, {"error": err})
            return
        if (
            self.verify
            and not b.get("verified")
            and (b["group"], b["pid"]) not in self.pending_txn_offsets
        ):
            self._verify_then_commit(msg)
            return
        if self.offsets_outside_txn:
            payload: dict[str, Any] = {
                "type": "offsets",
                "group": b["group"],
                "offsets": dict(b["offsets"]),
            }
        else:
            payload = {
                "type": "txn-offsets",
                "group": b["group"],
                "pid": b["pid"],
                "epoch": b["epoch"],
                "offsets": dict(b["offsets"]),
            }
        if b.get("epochs"):
            payload["epochs"] = dict(b["epochs"])
        self._apply_and_persist(msg, payload)

    def _verify_then_commit(self, msg: Message) -> None:
        """KIP-890 part 1 for offsets (GroupCoordinator.handleTxnCommitOffsets ->
        maybeStartTransactionVerificationForPartition): before the producer's first offsets of
        a transaction, ask the transaction coordinator whether that transaction is ongoing at
        this epoch and includes the group. Before transaction version 2 the epoch does not
        change between transactions, so a late request from the previous one still passes
        once the next transaction has added the group."""
        coordinator = self.broker.meta.get("__transaction_state", {}).get("leader")
        b = msg.body
        body = {
            "txn_id": b.get("txn_id"),
            "pid": b["pid"],
            "epoch": b["epoch"],
            "group": b["group"],
        }

        def verified(reply: dict[str, Any]) -> None:
            if reply.get("ok"):
                msg.body = {**b, "verified": True}
                self.on_txn_offset_commit(msg)
            elif reply.get("error") in ("invalid_txn_state", "producer_fenced"):
                err = (
                    "invalid_txn_state"
                    if reply["error"] == "invalid_txn_state"
                    else "invalid_producer_epoch"
                )
                self.broker.reply(msg, {"error": err})
            else:  # coordinator unreachable or moving: retriable, nothing was written
                self.broker.reply(msg, {"error": "not_enough_replicas"})

        if coordinator is None:
            self.broker.reply(msg, {"error": "not_enough_replicas"})
            return
        self.broker.call(coordinator, "VerifyTxn", body, 0.5, verified)

    def _apply_and_persist(self, msg: Message, payload: dict[str, Any]) -> None:
        """Apply a state change now and answer once its record is committed."""
        self.apply(payload)
        self.persist(
            payload, lambda err: self.broker.reply(msg, {"error": err} if err else {"ok": True})
        )

    def on_txn_marker(self, msg: Message) -> None:
        """A marker for the group's pending transactional offsets. It is appended to
        __consumer_offsets like any marker, so the partition's producer-epoch check applies
        (ProducerAppendInfo.appendEndTxnMarker -> checkProducerEpoch; GroupCoordinator
        completeTransaction path of KAFKA-19446)."""
        if not self._guard(msg):
            return
        b = msg.body
        txn_open = any(pid == b["pid"] for _, pid in self.pending_txn_offsets)
        if marker_fenced(
            b["epoch"], self.producer_epochs.get(b["pid"]), txn_open, self.strict_markers
        ):
            self.broker.reply(msg, {"error": "invalid_producer_epoch"})
            return
        payload = {
            "type": "txn-marker",
            "group": b["group"],
            "pid": b["pid"],
            "epoch": b["epoch"],
            "commit": b["commit"],
        }
        self._apply_and_persist(msg, payload)

    def on_offset_fetch(self, msg: Message) -> None:
        if not self._guard(msg):
            return
        b = msg.body
        if b.get("require_stable") and any(g == b["group"] for g, _ in self.pending_txn_offsets):
            self.broker.reply(msg, {"error": "unstable_offset_commit"})
            return
        offsets = {k: self.offsets.get((b["group"], k)) for k in b["keys"]}
        epochs = {
            k: e for k in b["keys"] if (e := self.offset_epochs.get((b["group"], k))) is not None
        }
        self.broker.reply(
            msg, {"offsets": offsets, "epochs": epochs} if epochs else {"offsets": offsets}
        )

    # --- rebalancing ---------------------------------------------------------------------
    def tick(self, now: float) -> None:
        if not self.active:
            return
        for name in sorted(self.groups):
            g = self.groups[name]
            expired = [m for m, seen in g.members.items() if now - seen > self.session_timeout]
            for m in expired:
                del g.members[m]
                g.joining.pop(m, None)
            if expired and g.rebalance_started is None:
                g.rebalance_started = now
            bug = self.broker.buggify
            if (
                bug is not None
                and g.rebalance_started is None
                and g.members
                and bug("spurious-rebalance")
            ):
                self._spurious_rebalance(g, now)
            if g.rebalance_started is None:
                continue
            waited = now - g.rebalance_started
            everyone = set(g.joining) >= set(g.members)
            if (everyone and waited >= JOIN_WINDOW) or waited >= REBALANCE_TIMEOUT:
                self._complete_rebalance(g)

    def _spurious_rebalance(self, g: Group, now: float) -> None:
        """BUGGIFY spurious-rebalance: a stable group starts rebalancing with no fault behind it,
        as when its leader rejoins after noticing a metadata change or a client calls
        enforceRebalance() (GroupCoordinator.doCurrentMemberJoinGroup, Stable: a JoinGroup
        from the leader, or from a member with changed metadata, -> updateMemberAndRebalance ->
        maybePrepareRebalance -> prepareRebalance). Every member hears REBALANCE_IN_PROGRESS on its next heartbeat and
        must rejoin; one that does not within the rebalance timeout is removed."""
        g.rebalance_started = now
        trace = self.broker.net.trace
        if trace is not None and trace.live:
            trace.note(
                self.broker.name,
                tr.BUGGIFY,
                f"BUGGIFY spurious-rebalance: group {g.name} generation {g.generation} "
                "rebalances with no fault",
            )

    def _complete_rebalance(self, g: Group) -> None:
        for m in [m for m in g.members if m not in g.joining]:
            del g.members[m]
        g.rebalance_started = None
        g.generation += 1
        members = sorted(g.joining)
        assignment: dict[str, list[str]] = {m: [] for m in members}
        for i, key in enumerate(g.keys):
            if members:
                assignment[members[i % len(members)]].append(key)
        g.assignment = assignment
        joiners = g.joining
        g.joining = {}
        generation = g.generation
        payload = {"type": "generation", "group": g.name, "generation": generation}

        def done(err: str | None) -> None:
            for m in members:
                body = (
                    {"error": err}
                    if err
                    else {"generation": generation, "assignment": assignment[m]}
                )
                self.broker.reply(joiners[m], body)

        self.persist(payload, done)
