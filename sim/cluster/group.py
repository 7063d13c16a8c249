"""The group coordinator: membership, generations, rebalances and committed offsets.

Membership follows Kafka's eager protocol in one round trip (JoinGroup answers with the
assignment): a member that misses heartbeats for ``session.timeout.ms`` is removed and the
generation moves on, so a zombie of an old generation cannot commit (ILLEGAL_GENERATION).
Committed offsets and generations are records in ``__consumer_offsets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.cluster.coordinator import HostedCoordinator
from sim.cluster.network import Message

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
        self.offsets: dict[tuple[str, str], int] = {}
        self.pending_txn_offsets: dict[
            tuple[str, int], dict[str, int]
        ] = {}  # (group, pid) -> offsets
        self.offsets_outside_txn = "offsets-outside-txn" in broker.bugs
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
        self.groups = {}
        self.offsets = {}
        self.pending_txn_offsets = {}
        for p in payloads:
            self.apply(p)

    def unload(self) -> None:
        self.groups = {}
        self.offsets = {}
        self.pending_txn_offsets = {}

    def apply(self, p: dict[str, Any]) -> None:
        kind = p["type"]
        if kind == "offsets":
            for key, off in p["offsets"].items():
                self.offsets[(p["group"], key)] = off
        elif kind == "generation":
            self.group(p["group"]).generation = max(
                self.group(p["group"]).generation, p["generation"]
            )
        elif kind == "txn-offsets":
            self.pending_txn_offsets[(p["group"], p["pid"])] = dict(p["offsets"])
        elif kind == "txn-marker":
            pending = self.pending_txn_offsets.pop((p["group"], p["pid"]), None)
            if pending and p["commit"]:
                for key, off in pending.items():
                    self.offsets[(p["group"], key)] = off

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
        if not self.active:
            self.broker.reply(msg, {"error": "not_coordinator"})
            return False
        return True

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
        payload = {"type": "offsets", "group": b["group"], "offsets": dict(b["offsets"])}
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
        if err is not None:
            self.broker.reply(msg, {"error": err})
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
                "offsets": dict(b["offsets"]),
            }
        self._apply_and_persist(msg, payload)

    def _apply_and_persist(self, msg: Message, payload: dict[str, Any]) -> None:
        """Apply a state change now and answer once its record is committed."""
        self.apply(payload)
        self.persist(
            payload, lambda err: self.broker.reply(msg, {"error": err} if err else {"ok": True})
        )

    def on_txn_marker(self, msg: Message) -> None:
        if not self._guard(msg):
            return
        b = msg.body
        payload = {
            "type": "txn-marker",
            "group": b["group"],
            "pid": b["pid"],
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
        self.broker.reply(msg, {"offsets": offsets})

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
            if g.rebalance_started is None:
                continue
            waited = now - g.rebalance_started
            everyone = set(g.joining) >= set(g.members)
            if (everyone and waited >= JOIN_WINDOW) or waited >= REBALANCE_TIMEOUT:
                self._complete_rebalance(g)

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
