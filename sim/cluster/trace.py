"""An opt-in record of every message and of the decisions nodes take on them.

``Network.trace`` is None in every ordinary run: the model then pays one ``if`` per message. A
run that wants a message diagram (``sim.runs.runner.simulate(..., trace=MessageTrace(...))``)
attaches one: the network records each message's send, its fate (delivered at T, dropped and
why, delayed, duplicated, reordered) and brokers and coordinators note what they decided
(deduplicated, fenced, OutOfOrderSequence, a transaction marker, the LSO moving, an append).

Recording never draws randomness and never schedules an event, so a traced run's history is
byte-identical to an untraced one. A window ``[start, end]`` keeps only what touches it (a
message sent before ``start`` and delivered after it is kept: it is in flight across the edge).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simpy import Environment

# Messages are ``sim.cluster.network.Message`` (typed Any here: the network imports this module).
DELIVERED, DROPPED, LOCAL = "delivered", "dropped", "local"

# Decision kinds a node can note (the diagram's markers).
DEDUPLICATED = "deduplicated"
FENCED = "fenced"
OUT_OF_ORDER = "out-of-order-sequence"
UNKNOWN_PRODUCER = "unknown-producer-id"
MARKER = "marker"
LSO = "lso-advanced"
APPEND = "append"
COORDINATOR = "coordinator"
ELECTION = "election"  # a preferred election met a replica outside the ISR (elect_preferred)
BUGGIFY = "buggify"  # a BUGGIFY site took its rare path (sim.cluster.buggify)
OFFSETS = "offsets"  # a group's committed or pending offset moved back (sim.cluster.group)
TRUNCATED = "log-truncated"  # a follower dropped records below its high watermark (broker)
METADATA_LOG = "metadata-log"  # a KRaft controller dropped uncommitted records (sim.cluster.quorum)
OFFLINE = "offline"  # a partition's last ISR member was fenced: its leader is gone (controller)
# Hazards: decisions a correct Kafka takes only when something has gone wrong, one step from an
# invariant breaking. State moving backwards (a group's offset, a log below its high watermark,
# metadata records the quorum never committed), a replica outside the ISR put up for
# leadership, and a partition whose every committed record is on brokers that are down.
# Guided search returns to them first (sim.runs.guided).
HAZARDS = frozenset({OFFSETS, TRUNCATED, METADATA_LOG, ELECTION, OFFLINE})


@dataclass(slots=True)
class Sent:
    """One copy of one message on the wire (a duplicated message has two)."""

    id: int
    sent: float
    src: str
    dst: str
    api: str
    response: bool
    corr: int
    summary: str
    detail: str
    fate: str = DELIVERED  # delivered | dropped | local (a node talking to itself)
    at: float | None = None  # delivered (or found its node down) at; None: lost on the wire
    reason: str = ""  # why it was dropped
    delayed: str = ""  # "delay 0.3 s" etc. when a fault held it back
    reordered: bool = False
    duplicate: bool = False  # the network's second copy of a message
    duplicate_of: int | None = None  # the first copy's id (when it is in the window too)
    reply_to: int | None = None  # the request (its id) this response answers
    attempt: int = 1  # a Produce of the same records from the same client: its retry number
    body: Any = None  # the message body: ``detail_of`` renders it for what gets drawn


@dataclass(slots=True)
class Decision:
    time: float
    node: str
    kind: str
    text: str
    msg: int | None = None  # the message being handled when it was taken


@dataclass
class MessageTrace:
    start: float = 0.0
    end: float = float("inf")
    messages: list[Sent] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    # filled by the runner once the run is over: node -> role, process number -> node
    roles: dict[str, str] = field(default_factory=dict)
    processes: dict[int, str] = field(default_factory=dict)
    # (time, broker, coordinator kind, active) for every coordinator move, whatever the window
    coordinators: list[tuple[float, str, str, bool]] = field(default_factory=list)
    sim_end: float = 0.0
    env: Environment | None = field(default=None, repr=False)
    current: int | None = field(default=None, repr=False)  # message being handled
    _next: int = field(default=0, repr=False)
    _requests: dict[tuple[str, str, int], int] = field(default_factory=dict, repr=False)
    _attempts: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False)

    # --- recording (called by the network and the nodes) ------------------------------------
    @property
    def live(self) -> bool:
        """Inside the window: nodes format their notes only then (formatting costs)."""
        t = self.env.now if self.env is not None else 0.0
        return self.start <= t <= self.end

    @property
    def now(self) -> float:
        return self.env.now if self.env is not None else 0.0

    def begin(self, msg: Any, now: float) -> Sent:
        """A new entry for ``msg``; recorded once its fate says whether it touches the window."""
        return Sent(-1, now, msg.src, msg.dst, msg.api, msg.is_response, msg.corr, "", "",
                    body=msg.body)  # fmt: skip

    def _keep(self, entry: Sent) -> None:
        end = entry.at if entry.at is not None else entry.sent
        if entry.sent > self.end or end < self.start:
            return
        entry.id = self._next
        self._next += 1
        if not entry.summary:
            body = entry.body if isinstance(entry.body, dict) else {}
            entry.summary = summarize(entry.api, entry.response, body)
            if entry.api == "Produce" and not entry.response:
                batch = (entry.src, str(body.get("key")), str(body.get("values")))
                entry.attempt = self._attempts.get(batch, 0) + 1
                self._attempts[batch] = entry.attempt
            entry.body = body  # ``detail`` is made from it only for what gets drawn
        if entry.corr:
            if entry.response:
                entry.reply_to = self._requests.pop((entry.dst, entry.src, entry.corr), None)
            elif entry.duplicate_of is None:
                self._requests[(entry.src, entry.dst, entry.corr)] = entry.id
        self.messages.append(entry)

    def dropped(self, msg: Any, now: float, reason: str) -> None:
        entry = self.begin(msg, now)
        entry.fate, entry.reason = DROPPED, reason
        self._keep(entry)

    def scheduled(self, entry: Sent, at: float) -> None:
        entry.at = at
        if entry.src == entry.dst:
            entry.fate = LOCAL
        self._keep(entry)

    def copy_of(self, entry: Sent) -> Sent:
        return Sent(
            -1,
            entry.sent,
            entry.src,
            entry.dst,
            entry.api,
            entry.response,
            entry.corr,
            entry.summary,
            entry.detail,
            delayed=entry.delayed,
            attempt=entry.attempt,
            duplicate=True,
            duplicate_of=entry.id if entry.id >= 0 else None,
            body=entry.body,
        )

    def arrived(self, entry: Sent, node_up: bool, node_known: bool) -> None:
        if not node_up:
            entry.fate = DROPPED
            entry.reason = "node down" if node_known else "node gone"

    def held_request(self, msg: Any) -> None:
        """A node will handle this request late (BUGGIFY's late-request): guided search's
        coverage counts its answer as a late answer; a plain trace has the note already."""

    def note(self, node: str, kind: str, text: str) -> None:
        t = self.now
        if self.start <= t <= self.end:
            self.decisions.append(Decision(t, node, kind, text, self.current))

    def coordinator_moved(self, broker: str, kind: str, active: bool) -> None:
        self.coordinators.append((self.now, broker, kind, active))
        self.note(broker, COORDINATOR, f"{kind} coordinator {'active' if active else 'resigned'}")

    # --- reading -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "sim_end": self.sim_end,
            "roles": dict(self.roles),
            "processes": {str(k): v for k, v in sorted(self.processes.items())},
            "coordinators": [list(c) for c in self.coordinators],
            "messages": [
                {
                    **{k: getattr(m, k) for k in Sent.__slots__ if k != "body"},
                    "detail": detail_of(m),
                }
                for m in self.messages
            ],
            "decisions": [asdict(d) for d in self.decisions],
        }


# --- summaries ---------------------------------------------------------------------------------
def _seq(body: dict[str, Any]) -> str:
    seq = body.get("seq", -1)
    if not isinstance(seq, int) or seq < 0:
        return ""
    n = len(body.get("values") or ())
    return f" seq {seq}-{seq + max(n, 1) - 1} epoch {body.get('epoch')}"


def summarize(api: str, response: bool, body: dict[str, Any]) -> str:
    """One short line: ``Produce k3 seq 5-9 epoch 0``, ``ProduceResponse offset 42``,
    ``ProduceResponse DUPLICATE_SEQUENCE offset 42``, ``FetchResponse NOT_LEADER_OR_FOLLOWER``."""
    key = body.get("key")
    where = f" {key}" if isinstance(key, str) else ""
    if response:
        name = f"{api}Response"
        err = body.get("error")
        if err:
            extra = " (appended)" if body.get("appended") else ""
            return f"{name}{where if api == 'Fetch' else ''} {str(err).upper()}{extra}"
        if api == "Produce":
            dup = " DUPLICATE_SEQUENCE" if body.get("duplicate") else ""
            return f"{name}{dup} offset {body.get('offset')}"
        if api == "Fetch" and "records" in body:
            recs = body["records"]
            hw = body.get("hw")
            return f"{name} {len(recs)} recs hw {hw}"
        if "pid" in body:
            return f"{name} pid {body['pid']} epoch {body.get('epoch')}"
        return name if not body.get("ok") else f"{name} ok"
    if api == "Produce":
        values = body.get("values") or []
        txn = " txn" if body.get("txn") else ""
        seq = _seq(body)
        if seq:
            return f"Produce{where}{seq}{txn}"
        return f"Produce{where} {_values(values)}{txn}"
    if api == "Fetch":
        who = " replica" if body.get("replica") else ""
        return f"Fetch{who}{where} @{body.get('offset')}"
    if api == "WriteTxnMarkers":
        what = "COMMIT" if body.get("commit") else "ABORT"
        return f"WriteTxnMarkers {what}{where} pid {body.get('pid')} epoch {body.get('epoch')}"
    if api == "EndTxn":
        what = "commit" if body.get("commit") else "abort"
        return f"EndTxn {what} {body.get('txn_id')} epoch {body.get('epoch')}"
    if api in ("AddPartitionsToTxn", "AddOffsetsToTxn", "InitTxnProducerId", "VerifyTxn"):
        return f"{api} {body.get('txn_id')}{where}"
    if api in ("OffsetCommit", "TxnOffsetCommit", "JoinGroup", "Heartbeat", "SyncGroup"):
        group = body.get("group")
        return f"{api} {group}" if group else api
    return f"{api}{where}"


def _values(values: list[Any]) -> str:
    if len(values) <= 3:
        return "[" + ",".join(str(v) for v in values) + "]"
    return f"[{values[0]},{values[1]},…,{values[-1]}] ({len(values)})"


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-able, bounded copy of a message body (records become [offset, value])."""
    if depth > 4:
        return "…"
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in list(value.items())[:20]}
    if isinstance(value, (list, tuple)):
        items = [_plain(v, depth + 1) for v in value[:12]]
        if len(value) > 12:
            items.append(f"… {len(value) - 12} more")
        return items
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    offset = getattr(value, "offset", None)
    if offset is not None:  # a log Record
        return [offset, _plain(getattr(value, "value", None), depth + 1)]
    return str(value)


def detail_of(m: Sent) -> str:
    if not m.detail:
        m.detail = detail(m.body if isinstance(m.body, dict) else {})
    return m.detail


def detail(body: dict[str, Any]) -> str:
    text = json.dumps(_plain(body), separators=(",", ":"), default=str)
    return text if len(text) <= 600 else text[:600] + "…"
