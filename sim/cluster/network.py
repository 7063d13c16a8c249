"""A lossy network over a networkx topology.

Every message is one simpy timeout whose callback hands it to the destination node. Requests and
responses travel separately, so a response (an ack) can be lost while its request took effect.
Links are FIFO like the TCP connections Kafka relies on; only a reorder fault breaks that.
A partition is a set of cut directed edges; reachability is read off the graph.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from math import log as _log
from typing import TYPE_CHECKING, Any, Protocol

from simpy import Environment
from simpy.events import NORMAL

if TYPE_CHECKING:
    from sim.cluster.trace import MessageTrace, Sent

# Every request type a node of the model answers (Kafka's API names where Kafka has one;
# InitTxnProducerId is InitProducerId with a transactional.id, VerifyTxn is KIP-890's
# verify-only AddPartitionsToTxn). Faults that hold back a request type name one of these.
REQUEST_APIS = (
    "AddOffsetsToTxn",
    "AddPartitionsToTxn",
    "AlterPartition",
    "BrokerHeartbeat",
    "EndTxn",
    "Fetch",
    "FindCoordinator",
    "Heartbeat",
    "InitProducerId",
    "InitTxnProducerId",
    "JoinGroup",
    "LeaveGroup",
    "Metadata",
    "OffsetCommit",
    "OffsetFetch",
    "OffsetsForLeaderEpoch",
    "Produce",
    "TxnOffsetCommit",
    "UpdateMetadata",
    "VerifyTxn",
    "WriteTxnMarkers",
)


class Node(Protocol):
    name: str
    alive: bool

    def receive(self, msg: Message) -> None: ...


class Connection:
    """A client's TCP connection to one broker. It is bound to the broker process that accepted
    it (``peer``: that process's incarnation, set when its first request arrives); a restarted
    broker never accepted it, so a request on it after the restart is answered with a reset
    (``CONNECTION_RESET``) instead of being processed, as a TCP stack answers a segment for a
    connection it does not know with RST. Without this a request sent before a broker crash
    could vanish while a later one on the "same" connection is processed, an order TCP never
    allows."""

    __slots__ = ("peer",)

    def __init__(self) -> None:
        self.peer: int | None = None


# The answer to a request on a connection its broker never accepted (see Connection).
CONNECTION_RESET: dict[str, Any] = {"error": "network_exception", "reset": True}


class Arrival:
    """A message's delivery, as the smallest object simpy's ``Environment.step`` can process:
    scheduled with ``Environment.schedule`` at the same (time, priority, id) a ``Timeout``
    would get, so the order of events is unchanged, without a Timeout's construction cost (a
    default run delivers ~16k messages)."""

    __slots__ = ("callbacks", "_ok", "_value")

    def __init__(self, msg: Message, callback: Callable[[Arrival], None]) -> None:
        self.callbacks: list[Callable[[Arrival], None]] | None = [callback]
        self._ok = True
        self._value = msg


class Message:
    """One request or response in flight. ``api`` is Kafka's request name (Produce, EndTxn...)."""

    __slots__ = ("src", "dst", "api", "body", "corr", "is_response", "conn")

    def __init__(
        self,
        src: str,
        dst: str,
        api: str,
        body: Any,
        corr: int = 0,
        is_response: bool = False,
        conn: Connection | None = None,
    ) -> None:
        self.src = src
        self.dst = dst
        self.api = api
        self.body = body
        self.corr = corr
        self.is_response = is_response
        self.conn = conn  # the client's TCP connection a request travels on (None: not modelled)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        kind = "resp" if self.is_response else "req"
        return f"<{self.api} {kind} {self.src}->{self.dst} #{self.corr}>"


@dataclass
class LinkProfile:
    """Latency distribution and fault probabilities of a link (seconds, probabilities)."""

    base: float = 0.0005
    jitter: float = 0.0005
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0


@dataclass
class Rule:
    """A nemesis-installed filter: matching messages are dropped, delayed, duplicated or reordered."""

    name: str
    match: Callable[[Message], bool]
    drop: float = 0.0
    delay: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    detach: bool = False  # held on a connection the client has given up on: outside FIFO order
    notify: Callable[[Message, float], None] | None = None  # told (message, delivery time)
    hits: int = field(default=0)


class Links:
    """The directed links between nodes, the part of a networkx ``DiGraph`` the network uses:
    ``nodes`` (in the order added), ``has_edge``, ``edges``, ``in``. Plain dicts of sets, as fast
    per message as networkx's ``has_edge``, so a run does not import networkx (~0.1 s) for it."""

    def __init__(self) -> None:
        self.succ: dict[str, set[str]] = {}  # node -> the nodes it can send to

    @property
    def nodes(self) -> list[str]:
        return list(self.succ)

    def __contains__(self, name: object) -> bool:
        return name in self.succ

    def add_node(self, name: str) -> None:
        self.succ.setdefault(name, set())

    def remove_node(self, name: str) -> None:
        self.succ.pop(name, None)
        for succ in self.succ.values():
            succ.discard(name)

    def add_edge(self, a: str, b: str) -> None:
        self.add_node(b)
        self.succ.setdefault(a, set()).add(b)

    def remove_edge(self, a: str, b: str) -> None:
        self.succ[a].discard(b)

    def has_edge(self, a: str, b: str) -> bool:
        succ = self.succ.get(a)
        return succ is not None and b in succ

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(a, b) for a, succ in self.succ.items() for b in sorted(succ)]


class Network:
    def __init__(
        self, env: Environment, rng: random.Random, profile: LinkProfile | None = None
    ) -> None:
        self.env = env
        self.rng = rng
        self.profile = profile or LinkProfile()
        self.graph = Links()
        self.nodes: dict[str, Node] = {}
        self.roles: dict[str, str] = {}
        self.rules: list[Rule] = []
        self._last_delivery: dict[tuple[str, str], float] = {}
        self._cuts: dict[tuple[str, str], int] = {}
        self.sent = 0
        self.dropped = 0
        # An opt-in message trace (sim.cluster.trace): None in ordinary runs, one ``if`` each.
        self.trace: MessageTrace | None = None
        self._on_arrival = self._arrive  # bound once, not once per message

    def attach_trace(self, trace: MessageTrace) -> None:
        trace.env = self.env
        self.trace = trace

    # --- topology ------------------------------------------------------------------------
    def add_node(self, node: Node, role: str) -> None:
        """Add a node fully connected to every other node (a LAN)."""
        name = node.name
        self.nodes[name] = node
        self.roles[name] = role
        self.graph.add_node(name)
        for other in self.graph.nodes:
            if other != name:
                self.graph.add_edge(name, other)
                self.graph.add_edge(other, name)

    def remove_node(self, name: str) -> None:
        """Forget a client node whose session ended (its name is never reused)."""
        self.nodes.pop(name, None)
        if name in self.graph:
            self.graph.remove_node(name)

    def names(self, role: str) -> list[str]:
        return sorted(n for n, r in self.roles.items() if r == role and n in self.nodes)

    def cut(self, edges: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Cut directed edges; counted, so overlapping partitions heal independently."""
        done = []
        for a, b in edges:
            if a == b or a not in self.graph or b not in self.graph:
                continue
            self._cuts[(a, b)] = self._cuts.get((a, b), 0) + 1
            if self.graph.has_edge(a, b):
                self.graph.remove_edge(a, b)
            done.append((a, b))
        return done

    def restore(self, edges: Iterable[tuple[str, str]]) -> None:
        for a, b in edges:
            n = self._cuts.get((a, b), 0) - 1
            if n > 0:
                self._cuts[(a, b)] = n
                continue
            self._cuts.pop((a, b), None)
            if a in self.graph and b in self.graph:
                self.graph.add_edge(a, b)

    def heal(self) -> None:
        self._cuts.clear()
        nodes = list(self.graph.nodes)
        for a in nodes:
            for b in nodes:
                if a != b:
                    self.graph.add_edge(a, b)

    def reachable(self, a: str, b: str) -> bool:
        return self.graph.has_edge(a, b)

    def components(self) -> list[list[str]]:
        """Groups of nodes that can talk both ways (for reports and tests)."""
        both: dict[str, list[str]] = {n: [] for n in self.graph.nodes}
        for a, b in self.graph.edges:
            if self.graph.has_edge(b, a):
                both[a].append(b)
        groups, seen = [], set()
        for start in both:
            if start in seen:
                continue
            seen.add(start)
            group, todo = [start], [start]
            while todo:
                for m in both[todo.pop()]:
                    if m not in seen:
                        seen.add(m)
                        group.append(m)
                        todo.append(m)
            groups.append(sorted(group))
        return sorted(groups)

    # --- delivery ------------------------------------------------------------------------
    def send(self, msg: Message) -> None:
        self.sent += 1
        tr = self.trace
        if tr is not None and self.env.now > tr.end:
            tr = None  # past the window: nothing more to record
        if msg.src == msg.dst:
            self._schedule(msg, 0.0, False, None if tr is None else tr.begin(msg, self.env.now))
            return
        succ = self.graph.succ.get(msg.src)  # graph.has_edge(src, dst), without the call
        if succ is None or msg.dst not in succ:
            self.dropped += 1
            if tr is not None:
                gone = msg.src not in self.graph or msg.dst not in self.graph
                tr.dropped(msg, self.env.now, "node gone" if gone else "network partition")
            return
        rng = self.rng
        p = self.profile
        # rng.expovariate(1.0 / p.jitter) inlined: its exact formula (the same draw, the same
        # float), without a method call per message
        delay = p.base + (-_log(1.0 - rng.random()) / (1.0 / p.jitter) if p.jitter > 0 else 0.0)
        copies = 1
        fifo = True
        marks: list[str] | None = None  # what faults did to it, kept only when tracing
        if p.loss and rng.random() < p.loss:
            self.dropped += 1
            if tr is not None:
                tr.dropped(msg, self.env.now, "link loss")
            return
        # A request on a client's TCP connection (``msg.conn``) is delivered once and in order:
        # duplication and reordering are what TCP hides, so they touch only other traffic.
        tcp = msg.conn is not None
        if p.duplicate and not tcp and rng.random() < p.duplicate:
            copies = 2
        if p.reorder and not tcp and rng.random() < p.reorder:
            fifo = False
            delay += rng.uniform(0, 0.02)
            if tr is not None:
                marks = ["reordered"]
        for rule in self.rules:
            if not rule.match(msg):
                continue
            rule.hits += 1
            if rule.drop and rng.random() < rule.drop:
                self.dropped += 1
                if tr is not None:
                    tr.dropped(msg, self.env.now, f"{rule.name} nemesis")
                return
            delay += rule.delay
            if tr is not None and rule.delay:
                marks = [*(marks or ()), f"{rule.name} +{rule.delay:g} s"]
            if rule.detach:
                fifo = False
            if rule.notify is not None:
                rule.notify(msg, self.env.now + delay)
            if rule.duplicate and not tcp and rng.random() < rule.duplicate:
                copies = 2
            if rule.reorder and not tcp and rng.random() < rule.reorder:
                fifo = False
                delay += rng.uniform(0, 0.05)
                if tr is not None:
                    marks = [*(marks or ()), "reordered"]
        if tr is None:
            if copies == 1 and fifo:
                # _schedule(msg, delay, True) inlined: the path of nearly every message
                env = self.env
                now = env.now
                at = now + delay
                link = (msg.src, msg.dst)
                last = self._last_delivery.get(link, 0.0)
                if at < last:
                    at = last
                self._last_delivery[link] = at
                env.schedule(Arrival(msg, self._on_arrival), NORMAL, at - now)  # type: ignore[arg-type]
                return
            self._schedule(msg, delay, fifo)
            if copies == 2:
                self._schedule(msg, delay + rng.uniform(0.001, 0.02), fifo=False)
            return
        entry = tr.begin(msg, self.env.now)
        if marks:
            entry.reordered = "reordered" in marks
            entry.delayed = ", ".join(m for m in marks if m != "reordered")
        self._schedule(msg, delay, fifo, entry)
        if copies == 2:
            self._schedule(msg, delay + rng.uniform(0.001, 0.02), False, tr.copy_of(entry))

    def _schedule(self, msg: Message, delay: float, fifo: bool, entry: Sent | None = None) -> None:
        env = self.env
        now = env.now
        at = now + delay
        if fifo:
            link = (msg.src, msg.dst)
            last = self._last_delivery.get(link, 0.0)
            if at < last:
                at = last
            self._last_delivery[link] = at
        if entry is None:
            env.schedule(Arrival(msg, self._on_arrival), NORMAL, at - now)  # type: ignore[arg-type]
            return
        assert self.trace is not None
        self.trace.scheduled(entry, at)
        env.timeout(at - now, (msg, entry)).callbacks.append(self._arrive_traced)

    def _arrive(self, ev: Arrival) -> None:
        """The callback of a message's delivery event: the message is the event's value."""
        self._deliver(ev._value)

    def _arrive_traced(self, ev: Any) -> None:
        """``_arrive`` for a traced run: the same delivery, with its fate and the message being
        handled noted (decisions taken while handling it point back to it)."""
        msg, entry = ev.value
        trace = self.trace
        node = self.nodes.get(msg.dst)
        if trace is None:
            self._deliver(msg)
            return
        trace.arrived(entry, node is not None and node.alive, node is not None)
        trace.current = entry.id if entry.id >= 0 else None
        try:
            self._deliver(msg)
        finally:
            trace.current = None

    def _deliver(self, msg: Message) -> None:
        node = self.nodes.get(msg.dst)
        if node is None or not node.alive:
            self.dropped += 1
            return
        node.receive(msg)
