"""messages-<from>-<to>.html: a message (sequence / Lamport) diagram of a window of a stored run.

One vertical line per node (clients on the left, brokers, the controller), time downward; every
request and response is an arrow from (sender, send time) to (receiver, arrival time). A message
the network lost ends in a red X halfway, with the reason; a delayed one is dashed; the network's
second copy of a duplicated one is marked; what a node decided (deduplicated, fenced,
OutOfOrderSequence, a transaction marker written, the LSO moving, an append) is a labelled marker
on its line. Inline SVG with <title> hover details: no script, no external asset.

Traces are not stored: ``write_messages`` re-runs the store with tracing on
(``sim.runs.runner.trace_store``), which also proves it is the same run (same digest).

The time axis is not linear: every distinct instant gets at least a row (so a 0.5 ms round trip
is readable) and quiet stretches are compressed (marked on the axis with the time they skip).
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sim.cluster.trace import DROPPED, LOCAL, Decision, MessageTrace, Sent, detail_of
from sim.errors import UsageError

MAX_MESSAGES = 400
MAX_DECISIONS = 300
DEFAULT_SPAN = 1.0  # seconds drawn when only one edge of the window (or none) is given
PAGE_PX = 1400
LEFT_PX = 96  # time axis
RIGHT_PX = 300  # room for the last lane's labels (an "AGAIN ... duplicate" append)
TOP_PX = 58  # lane heads
MIN_GAP_PX = 15  # between two distinct instants
MAX_GAP_PX = 54  # a longer quiet stretch is compressed to this
PX_PER_S = 3000.0  # 1 ms = 3 px where the run is not crowded or quiet
LABEL_CHARS = 44

ROLE_ORDER = {"producer": 0, "processor": 1, "consumer": 2, "reader": 3, "broker": 4}
ROLE_LABEL = {"reader": "final reader"}

# API families: colour of the arrow
FAMILY = {
    "Produce": "produce",
    "Fetch": "fetch",
    "OffsetsForLeaderEpoch": "fetch",
    "InitProducerId": "txn",
    "InitTxnProducerId": "txn",
    "AddPartitionsToTxn": "txn",
    "AddOffsetsToTxn": "txn",
    "EndTxn": "txn",
    "VerifyTxn": "txn",
    "WriteTxnMarkers": "txn",
    "TxnOffsetCommit": "txn",
    "OffsetCommit": "group",
    "OffsetFetch": "group",
    "JoinGroup": "group",
    "SyncGroup": "group",
    "Heartbeat": "group",
    "LeaveGroup": "group",
    "FindCoordinator": "group",
}
COLOURS = {
    "produce": "#1f5fa8",
    "fetch": "#6b7b8c",
    "txn": "#7b3fb0",
    "group": "#b86e00",
    "cluster": "#9aa3ab",
}
BACKGROUND_APIS = ("BrokerHeartbeat", "UpdateMetadata", "AlterPartition")

# decision kind -> (css class, shape, colour, legend text)
DECISIONS = {
    "deduplicated": ("deduplicated", "diamond", "#13803a", "deduplicated (DUPLICATE_SEQUENCE)"),
    "fenced": ("fenced", "square", "#c0001a", "fenced (InvalidProducerEpoch / ProducerFenced)"),
    "out-of-order-sequence": ("out-of-order", "triangle", "#e06c00", "OutOfOrderSequence"),
    "unknown-producer-id": ("out-of-order", "triangle", "#e06c00", "UnknownProducerId"),
    "marker": ("marker", "diamond", "#7b3fb0", "transaction marker written"),
    "lso-advanced": ("lso", "triangle", "#00838f", "LSO advanced"),
    "append": ("append", "dot", "#1f5fa8", "appended at offsets"),
    "client-error": ("client-error", "dot", "#e06c00", "client saw an error"),
    "txn-state": ("txn-state", "dot", "#7b3fb0", "transaction state change"),
    "coordinator": ("coordinator", "dot", "#555555", "coordinator moved"),
    "buggify": ("buggify", "dot", "#b0008a", "BUGGIFY took a rare path"),
}

CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:10px;color:#222;max-width:1400px}
h1{font-size:18px;margin:0 0 4px}
p{margin:3px 0}
.note{color:#555}
.cap{background:#fff4d6;border:1px solid #e0b84a;padding:4px 8px;margin:6px 0}
.legend{margin:6px 0 8px;font-size:12px}
.legend span{display:inline-block;margin-right:14px;white-space:nowrap}
svg{display:block;font-family:ui-monospace,Menlo,Consolas,monospace}
svg text{font-size:10px;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.lane{stroke:#c9ced3;stroke-width:1}
.head{font:bold 12px system-ui,sans-serif}
.role{font:11px system-ui,sans-serif;fill:#555}
.axis{font-size:10px;fill:#555}
.gap{font-size:10px;fill:#8a6d00}
.edge{stroke:#e0b84a;stroke-dasharray:2 3}
.edge-label{fill:#8a6d00}
.msg line,.msg path{fill:none;stroke-width:1.4}
.msg.response line{stroke-width:1}
.msg.delayed line{stroke-dasharray:6 3}
.msg.duplicated line{stroke-width:2.6;stroke-opacity:.55}
.msg.dropped line{stroke:#c0001a}
.msg.retry text.lbl{font-weight:bold}
.msg text.lbl{fill:#222}
.msg.response text.lbl{fill:#444;font-style:italic}
.msg.dropped text.why{fill:#c0001a;font-weight:bold}
.x{stroke:#c0001a;stroke-width:2.4}
.msg:hover line,.msg:hover path{stroke-width:3}
.dec text{font-weight:bold}
.dec.append text{font-weight:normal}
.dec.append.again text{font-weight:bold}
.dec.coordinator text,.dec.txn-state text{font-weight:normal}
"""


# --- selection -----------------------------------------------------------------------------------
def _family(m: Sent) -> str:
    return FAMILY.get(m.api, "cluster")


def _priority(m: Sent, roles: Mapping[str, str], decided: set[int]) -> int:
    """Lower draws first when the cap bites: what went wrong, then what clients asked."""
    if (
        m.fate == DROPPED
        or m.delayed
        or m.duplicate
        or m.reordered
        or m.attempt > 1
        or m.id in decided
        or "DUPLICATE" in m.summary
    ):
        return 0
    client = {roles.get(m.src, ""), roles.get(m.dst, "")} - {"broker", "controller", ""}
    if m.api == "Produce" or (client and _family(m) == "txn"):
        return 1
    if client and m.api not in ("Fetch", "Heartbeat", "Metadata"):
        return 2
    if client or _family(m) == "txn":
        return 3
    if m.api in BACKGROUND_APIS:
        return 5
    return 4


def select(
    trace: MessageTrace,
    start: float,
    end: float,
    focus_nodes: Iterable[str] | None = None,
    cap: int = MAX_MESSAGES,
    background: bool = False,
) -> tuple[list[Sent], list[Decision], Counter[str], Counter[str]]:
    """The messages and decisions to draw (time order), what the cap left out and what was
    hidden as background (replication, heartbeats, metadata between cluster nodes), per API."""
    focus = set(focus_nodes or ())
    msgs = [
        m
        for m in trace.messages
        if m.sent <= end
        and (m.at if m.at is not None else m.sent) >= start
        and (not focus or m.src in focus or m.dst in focus)
    ]
    decisions = [
        d
        for d in trace.decisions
        if start <= d.time <= end and (not focus or d.node in focus or d.msg is not None)
    ]
    decided = {d.msg for d in decisions if d.msg is not None and d.kind != "append"}
    prio = {m.id: _priority(m, trace.roles, decided) for m in msgs}
    by_id = {m.id: m for m in msgs}
    for m in msgs:  # a request and its response go together
        if m.reply_to is not None and m.reply_to in by_id:
            best = min(prio[m.id], prio[m.reply_to])
            prio[m.id] = prio[m.reply_to] = best
    hidden: Counter[str] = Counter()
    if not background:
        inside = ("broker", "controller")
        keep = []
        for m in msgs:
            quiet = trace.roles.get(m.src) in inside and trace.roles.get(m.dst) in inside
            if quiet and prio[m.id] > 0 and _family(m) in ("fetch", "cluster"):
                hidden[m.api] += 1
            else:
                keep.append(m)
        msgs = keep
    ranked = sorted(msgs, key=lambda m: (prio[m.id], m.sent, m.id))
    kept = sorted(ranked[:cap], key=lambda m: (m.sent, m.id))
    left_out = Counter(m.api for m in ranked[cap:])
    shown = {m.id for m in kept}
    decisions = [
        d
        for d in decisions
        if d.msg is None
        or d.msg in shown
        or d.kind not in ("append", "client-error", "txn-state", "coordinator")
    ]
    if focus:
        decisions = [d for d in decisions if d.node in focus or d.msg in shown]
    if len(decisions) > MAX_DECISIONS:
        decisions = sorted(
            sorted(decisions, key=lambda d: (d.kind == "append", d.time))[:MAX_DECISIONS],
            key=lambda d: d.time,
        )
    return kept, decisions, left_out, hidden


# --- layout --------------------------------------------------------------------------------------
def _node_key(name: str, roles: Mapping[str, str]) -> tuple[int, int, str]:
    role = roles.get(name, "")
    rank = 6 if role == "controller" else ROLE_ORDER.get(role, 5)
    digits = re.sub(r"\D", "", name)
    return (rank, int(digits) if digits else -1, name)


class TimeScale:
    """Distinct instants in order, each at least MIN_GAP_PX below the last; long quiet
    stretches compressed to MAX_GAP_PX (``gaps`` says where, and how long they were)."""

    def __init__(self, times: Iterable[float], top: float) -> None:
        self.times = sorted(set(times))
        self.ys: list[float] = []
        self.gaps: list[tuple[float, float, float]] = []  # (y from, y to, seconds skipped)
        y = top
        prev: float | None = None
        for t in self.times:
            if prev is not None:
                step = (t - prev) * PX_PER_S
                if step > MAX_GAP_PX:
                    self.gaps.append((y, y + MAX_GAP_PX, t - prev))
                y += min(MAX_GAP_PX, max(MIN_GAP_PX, step))
            self.ys.append(y)
            prev = t
        self.index = dict(zip(self.times, self.ys, strict=True))
        self.bottom = (self.ys[-1] if self.ys else top) + MIN_GAP_PX

    def y(self, t: float) -> float:
        return self.index[t]


class Labels:
    """Places text where it does not cover text already placed: tries the spot, a row above
    and a row below, else leaves the label to the hover title."""

    ROW = 10.0
    CHAR = 6.1

    def __init__(self) -> None:
        self.rows: dict[int, list[tuple[float, float]]] = {}

    def place(self, x: float, y: float, text: str, anchor: str) -> float | None:
        w = len(text) * self.CHAR
        x0 = x if anchor == "start" else x - w if anchor == "end" else x - w / 2
        for dy in (0.0, -self.ROW, self.ROW):
            yy = y + dy
            row = round(yy / self.ROW)
            near = [b for r in (row - 1, row, row + 1) for b in self.rows.get(r, ())]
            if not any(x0 < b1 and b0 < x0 + w for b0, b1 in near):
                self.rows.setdefault(row, []).append((x0, x0 + w))
                return yy
        return None

    def text(self, x: float, y: float, text: str, anchor: str, cls: str, extra: str = "") -> str:
        yy = self.place(x, y, text, anchor)
        if yy is None:
            return ""
        return (
            f'<text class="{cls}" x="{x:.1f}" y="{yy:.1f}" text-anchor="{anchor}"{extra}>'
            f"{_esc(text)}</text>"
        )


def _fmt(t: float) -> str:
    return f"{t:.4f}"


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _short(text: str, n: int = LABEL_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _decision_label(d: Decision) -> str:
    t = d.text
    if d.kind == "append":
        m = re.match(r"append (\S+) (offsets? [\d-]+)", t)
        return f"append {m.group(1)} @{m.group(2).split()[-1]}" if m else "append"
    if d.kind == "deduplicated":
        m = re.search(r"(\S+) pid \S+ epoch \S+ seq ([\d-]+)", t)
        return f"DEDUPLICATED {m.group(1)} seq {m.group(2)}" if m else "DEDUPLICATED"
    if d.kind == "fenced":
        return "FENCED " + _short(t.split(":")[0], 30)
    if d.kind == "out-of-order-sequence":
        return "OutOfOrderSequence " + t.split(":")[-1].strip()
    if d.kind == "marker":
        m = re.match(r"(\w+) marker written: (\S+) offset (\d+)", t)
        return f"{m.group(1)} marker {m.group(2)} @{m.group(3)}" if m else "marker"
    if d.kind == "lso-advanced":
        return t.replace("->", "→")
    if d.kind == "client-error":
        return t.rsplit(": ", 1)[-1] + ""
    return _short(t, 34)


def _shape(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "diamond":
        return (
            f'<path d="M{x:.1f},{y - 6:.1f} L{x + 6:.1f},{y:.1f} L{x:.1f},{y + 6:.1f} '
            f'L{x - 6:.1f},{y:.1f} Z" fill="{colour}"/>'
        )
    if kind == "square":
        return f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{colour}"/>'
    if kind == "triangle":
        return (
            f'<path d="M{x:.1f},{y - 6:.1f} L{x + 6:.1f},{y + 5:.1f} L{x - 6:.1f},{y + 5:.1f} Z" '
            f'fill="{colour}"/>'
        )
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{colour}"/>'


def _coordinator_roles(trace: MessageTrace, start: float, end: float) -> dict[str, list[str]]:
    """Which brokers hosted the active group / transaction coordinator during the window."""
    active: dict[tuple[str, str], bool] = {}
    during: dict[str, set[str]] = {}
    for t, broker, kind, on in trace.coordinators:
        if t > end:
            break
        active[(broker, kind)] = on
        if on and t >= start:
            during.setdefault(broker, set()).add(kind)
    for (broker, kind), on in active.items():
        if on:
            during.setdefault(broker, set()).add(kind)
    return {b: sorted(k) for b, k in during.items()}


def _title(m: Sent) -> str:
    lines = [
        f"#{m.id} {m.summary}",
        f"{m.src} → {m.dst} ({'response' if m.response else 'request'} {m.api}, corr {m.corr})",
    ]
    lines.append(f"sent {_fmt(m.sent)} s")
    if m.fate == DROPPED:
        where = f" at {_fmt(m.at)} s" if m.at is not None else " on the wire"
        lines.append(f"DROPPED{where}: {m.reason}")
    elif m.at is not None:
        lines.append(f"delivered {_fmt(m.at)} s ({(m.at - m.sent) * 1000:.2f} ms)")
    if m.delayed:
        lines.append(f"delayed by {m.delayed}")
    if m.reordered:
        lines.append("reordered (taken out of its link's FIFO order)")
    if m.duplicate:
        of = f" of #{m.duplicate_of}" if m.duplicate_of is not None else ""
        lines.append(f"the network's second copy{of} (duplicated)")
    if m.attempt > 1:
        lines.append(f"attempt {m.attempt}: the same records were sent before (a retry)")
    if m.reply_to is not None:
        lines.append(f"answers request #{m.reply_to}")
    lines.append(f"body: {detail_of(m)}")
    return "\n".join(lines)


def render_messages(
    trace: MessageTrace,
    start: float | None = None,
    end: float | None = None,
    focus_nodes: Iterable[str] | None = None,
    cap: int = MAX_MESSAGES,
    title: str = "",
    subtitle: str = "",
    narrow_hint: str = "",
    background: bool = False,
) -> str:
    """The diagram of ``trace`` over [start, end] (default: the trace's window) as one HTML page."""
    start = trace.start if start is None else start
    end = (trace.end if math.isfinite(trace.end) else trace.sim_end) if end is None else end
    focus = sorted(set(focus_nodes or ()))
    msgs, decisions, left_out, hidden = select(trace, start, end, focus, cap, background)
    roles = trace.roles
    nodes = {m.src for m in msgs} | {m.dst for m in msgs} | {d.node for d in decisions}
    nodes |= {n for n in focus if n in roles}
    order = sorted(nodes, key=lambda n: _node_key(n, roles))
    n = len(order)
    usable = PAGE_PX - LEFT_PX - RIGHT_PX - 20
    spacing = min(170.0, usable / max(1, n - 1)) if n > 1 else 0.0
    lane_x = {name: LEFT_PX + 20 + i * spacing for i, name in enumerate(order)}
    width = int(min(PAGE_PX, LEFT_PX + 20 + spacing * max(0, n - 1) + RIGHT_PX))

    times = [start, end]
    for m in msgs:
        times.append(m.sent)
        if m.at is not None:
            times.append(m.at)
    times += [d.time for d in decisions]
    scale = TimeScale(times, TOP_PX + 14)
    height = int(scale.bottom + 20)
    coords = _coordinator_roles(trace, start, end)

    svg: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="message diagram">',
        '<defs><marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="context-stroke"/></marker></defs>',
    ]
    # lanes and heads
    for name in order:
        x = lane_x[name]
        role = roles.get(name, "node")
        label = ROLE_LABEL.get(role, role)
        if name in coords:
            label += " · " + " + ".join(f"{k} coord" for k in coords[name])
        svg.append(
            f'<g class="node" data-node="{_esc(name)}"><title>{_esc(name)}: {_esc(label)}</title>'
            f'<text class="head" x="{x:.1f}" y="18" text-anchor="middle">{_esc(name)}</text>'
            f'<text class="role" x="{x:.1f}" y="32" text-anchor="middle">{_esc(label)}</text>'
            f'<line class="lane" x1="{x:.1f}" y1="40" x2="{x:.1f}" y2="{height - 8}"/></g>'
        )
    # time axis: a label wherever the last one is 36 px above, the compressed stretches, edges
    svg.append(f'<text class="axis" x="4" y="{TOP_PX - 4}">time (s) ↓</text>')
    last = -1e9
    for t, y in zip(scale.times, scale.ys, strict=True):
        if y - last >= 36:
            svg.append(
                f'<text class="axis" x="4" y="{y + 3:.1f}">{_fmt(t)}</text>'
                f'<line x1="{LEFT_PX - 8}" y1="{y:.1f}" x2="{LEFT_PX - 2}" y2="{y:.1f}" stroke="#999"/>'
            )
            last = y
    for y0, y1, skipped in scale.gaps:
        mid = (y0 + y1) / 2
        svg.append(
            f'<g class="gap"><title>{skipped:.4f} s with nothing drawn, compressed</title>'
            f'<path d="M{LEFT_PX - 14},{y0 + 8:.1f} l8,6 l-8,6 l8,6" fill="none" stroke="#c9a227"/>'
            f'<text class="gap" x="4" y="{mid + 3:.1f}">⋮ +{skipped:.3f}s</text></g>'
        )
    for t, what in ((start, "window start"), (end, "window end")):
        y = scale.y(t)
        svg.append(
            f'<line class="edge" x1="{LEFT_PX}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}"/>'
            f'<text class="edge-label" x="{width - 6}" y="{y - 3:.1f}" text-anchor="end">'
            f"{what} {_fmt(t)} s</text>"
        )
    # messages and decisions; what went wrong claims label space first
    labels = Labels()
    items: list[tuple[int, float, int, Sent | Decision]] = []
    for m in msgs:
        items.append((0 if _striking(m) else 2, m.sent, len(items), m))
    for d in decisions:
        if d.node in lane_x:
            routine = d.kind in ("append", "coordinator", "txn-state")
            items.append((3 if routine else 1, d.time, len(items), d))
    again = _appended_again(decisions)
    items = [(1, t, i, it) if id(it) in again else (r, t, i, it) for r, t, i, it in items]
    items.sort(key=lambda e: (e[0], e[1], e[2]))
    drawn = [
        _message(it, lane_x, scale, labels)
        if isinstance(it, Sent)
        else _decision(it, lane_x, scale, labels, again.get(id(it), ""))
        for *_, it in items
    ]
    svg += reversed(drawn)  # the striking ones painted last, on top
    svg.append("</svg>")

    dropped = sum(1 for m in msgs if m.fate == DROPPED)
    total = len(msgs) + sum(left_out.values())
    head = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_esc(title or 'messages')}</title><style>{CSS}</style></head><body>",
        f"<h1>{_esc(title or 'Messages')}: {_fmt(start)} s to {_fmt(end)} s</h1>",
    ]
    if subtitle:
        head.append(f"<p class='note'>{_esc(subtitle)}</p>")
    head.append(
        f"<p>{len(msgs)} messages ({dropped} dropped), {len(decisions)} decisions, {n} nodes"
        + (f"; only messages to or from {_esc(', '.join(focus))}" if focus else "")
        + ". Arrows go from the sender at its send time to the receiver at the arrival time; "
        "hover over an arrow or a marker for its details. Time runs downward; quiet stretches "
        "are compressed and busy instants spread out, so read times off the axis.</p>"
    )
    if left_out:
        parts = ", ".join(f"{api} {k}" for api, k in left_out.most_common())
        head.append(
            f"<p class='cap'><b>{sum(left_out.values())} of {total} messages left out</b> "
            f"(at most {cap} are drawn): {_esc(parts)}. Dropped, delayed and duplicated "
            "messages, retries and client requests were kept first. To see everything, narrow "
            f"the window{_esc(narrow_hint)}.</p>"
        )
    if hidden:
        parts = ", ".join(f"{api} {k}" for api, k in hidden.most_common())
        head.append(
            f"<p class='note'>Hidden: {sum(hidden.values())} routine messages between brokers "
            f"and the controller ({_esc(parts)}); dropped or delayed ones are always drawn. "
            "<code>--all-messages</code> draws them too.</p>"
        )
    head.append(_legend())
    return "".join(head) + "".join(svg) + "</body></html>\n"


def _legend() -> str:
    sw = []
    for fam, colour in COLOURS.items():
        name = {"cluster": "controller / replication"}.get(fam, fam)
        sw.append(
            f'<span><svg width="28" height="8" style="display:inline"><line x1="0" y1="4" x2="28" '
            f'y2="4" stroke="{colour}" stroke-width="2"/></svg> {name}</span>'
        )
    sw.append(
        '<span><svg width="28" height="8" style="display:inline"><line x1="0" y1="4" x2="28" '
        'y2="4" stroke="#555" stroke-width="2" stroke-dasharray="6 3"/></svg> delayed by a fault</span>'
    )
    sw.append('<span><b style="color:#c0001a">✕</b> dropped (reason in red)</span>')
    sw.append("<span><b>×2</b> duplicated by the network</span>")
    sw.append("<span><b>retry n</b>: the same records sent again</span>")
    sw.append("<span><i>italic</i>: response</span>")
    for kind in (
        "deduplicated",
        "fenced",
        "out-of-order-sequence",
        "marker",
        "lso-advanced",
        "append",
        "client-error",
    ):
        _, shape, colour, text = DECISIONS[kind]
        sw.append(
            f'<span><svg width="14" height="14" style="display:inline">{_shape(shape, 7, 7, colour)}'
            f"</svg> {_esc(text)}</span>"
        )
    return "<div class='legend'>" + "".join(sw) + "</div>"


def _striking(m: Sent) -> bool:
    return bool(
        m.fate == DROPPED
        or m.delayed
        or m.duplicate
        or m.reordered
        or m.attempt > 1
        or "DUPLICATE" in m.summary
    )


APPEND_RE = re.compile(r"append (\S+) offsets? (\d+)(?:-\d+)?.* values \[(.*)\]$")


def _appended_again(decisions: Sequence[Decision]) -> dict[int, str]:
    """Appends of values this window already saw appended to the same partition: the
    duplicates an at-least-once retry makes. id(decision) -> where the values were before."""
    seen: dict[tuple[str, str], str] = {}
    out: dict[int, str] = {}
    for d in decisions:
        if d.kind != "append":
            continue
        m = APPEND_RE.match(d.text)
        if m is None:
            continue
        key, first, values = m.groups()
        before = [seen[(key, v)] for v in values.split(", ") if (key, v) in seen]
        if before:
            out[id(d)] = before[0]
        for v in values.split(", "):
            seen.setdefault((key, v), first)
    return out


def _decision(
    d: Decision, lane_x: Mapping[str, float], scale: TimeScale, labels: Labels, again: str = ""
) -> str:
    cls, shape, colour, _ = DECISIONS.get(d.kind, ("other", "dot", "#555", d.kind))
    x, y = lane_x[d.node], scale.y(d.time)
    about = f" (handling message #{d.msg})" if d.msg is not None else ""
    label = _decision_label(d)
    text = d.text
    if again:
        cls += " again"
        colour = "#c0001a"
        label += f" AGAIN (already @{again}): duplicate"
        text += f" -- these values were already appended at offset {again}: a duplicate"
    return (
        f'<g class="dec {cls}" data-kind="{_esc(d.kind)}"><title>{_esc(d.node)} at '
        f"{_fmt(d.time)} s{about}: {_esc(text)}</title>{_shape(shape, x, y, colour)}"
        + labels.text(x + 8, y + 11, label, "start", "dlbl", f' fill="{colour}"')
        + "</g>"
    )


def _message(m: Sent, lane_x: Mapping[str, float], scale: TimeScale, labels: Labels) -> str:
    cls = ["msg", "response" if m.response else "request", _family(m)]
    if m.fate == DROPPED:
        cls.append("dropped")
    if m.delayed:
        cls.append("delayed")
    if m.duplicate:
        cls.append("duplicated")
    if m.reordered:
        cls.append("reordered")
    if m.attempt > 1:
        cls.append("retry")
    colour = COLOURS[_family(m)]
    xs, xd = lane_x[m.src], lane_x[m.dst]
    ys = scale.y(m.sent)
    label = m.summary
    if m.attempt > 1:
        label = f"retry {m.attempt - 1}: {label}"
    if m.duplicate:
        label = f"×2 {label}"
    if m.delayed:
        label += f" (delayed {m.delayed})"
    parts = [
        f'<g class="{" ".join(cls)}" data-id="{m.id}" data-api="{_esc(m.api)}">'
        f"<title>{_esc(_title(m))}</title>"
    ]
    if m.fate == LOCAL or m.src == m.dst:
        yd = scale.y(m.at) if m.at is not None else ys + MIN_GAP_PX
        parts.append(
            f'<path d="M{xs:.1f},{ys:.1f} C{xs + 30:.1f},{ys:.1f} {xs + 30:.1f},{yd:.1f} '
            f'{xs + 2:.1f},{yd:.1f}" stroke="{colour}" marker-end="url(#ah)"/>'
        )
        parts.append(labels.text(xs + 32, ys - 2, _short(label), "start", "lbl"))
        return "".join(parts) + "</g>"
    right = xd >= xs
    anchor, dx = ("start", 6) if right else ("end", -6)
    if m.fate == DROPPED and m.at is None:  # lost on the wire: stops halfway, red X
        xm = (xs + xd) / 2
        ym = ys + MIN_GAP_PX * 0.8
        parts.append(f'<line x1="{xs:.1f}" y1="{ys:.1f}" x2="{xm:.1f}" y2="{ym:.1f}"/>')
        parts.append(_x(xm, ym))
        anchor_w = "start" if right else "end"
        why = f"dropped: {m.reason}"
        parts.append(
            labels.text(xm + (8 if right else -8), ym + 4, why, anchor_w, "why")
            or labels.text(xm, ym + 16, why, "middle", "why")
        )
    else:
        assert m.at is not None
        yd = scale.y(m.at)
        stroke = "#c0001a" if m.fate == DROPPED else colour
        end = xd - (4 if right else -4)
        marker = "" if m.fate == DROPPED else ' marker-end="url(#ah)"'
        parts.append(
            f'<line x1="{xs:.1f}" y1="{ys:.1f}" x2="{end:.1f}" y2="{yd:.1f}" stroke="{stroke}"{marker}/>'
        )
        if m.fate == DROPPED:  # arrived at a node that is down
            parts.append(_x(xd, yd))
            why = f"dropped: {m.reason}"
            side = "start" if right else "end"
            parts.append(labels.text(xd + (8 if right else -8), yd + 4, why, side, "why"))
    parts.append(labels.text(xs + dx, ys - 3, _short(label), anchor, "lbl"))
    return "".join(parts) + "</g>"


def _x(x: float, y: float) -> str:
    return (
        f'<path class="x" d="M{x - 5:.1f},{y - 5:.1f} L{x + 5:.1f},{y + 5:.1f} '
        f'M{x + 5:.1f},{y - 5:.1f} L{x - 5:.1f},{y + 5:.1f}"/>'
    )


# --- stores --------------------------------------------------------------------------------------
def check_window(start: float | None, end: float | None) -> None:
    for name, v in (("--from", start), ("--to", end)):
        if v is None:
            continue
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise UsageError(f"{name} must be a finite number of seconds, got {v!r}")
        if v < 0:
            raise UsageError(f"{name} must not be negative, got {v:g}")
    if start is not None and end is not None and start > end:
        raise UsageError(f"--from {start:g} is after --to {end:g}")


def default_window(
    schedule: Sequence[Mapping[str, Any]], start: float | None, end: float | None
) -> tuple[float, float]:
    """Both edges given: them. One: a second from (or to) it. None: the first fault's first
    second (from just before it starts), or the run's first second when nothing was injected."""
    if start is not None and end is not None:
        return float(start), float(end)
    if start is not None:
        return float(start), float(start) + DEFAULT_SPAN
    if end is not None:
        return max(0.0, float(end) - DEFAULT_SPAN), float(end)
    faults = sorted(
        (float(f["at"]), float(f.get("duration", 0.0)))
        for f in schedule
        if isinstance(f, Mapping) and isinstance(f.get("at"), (int, float))
    )
    if not faults:
        return 0.0, DEFAULT_SPAN
    at, duration = faults[0]
    lead = min(0.05, at)
    return round(at - lead, 6), round(at + min(max(duration, 0.1), DEFAULT_SPAN), 6)


def _stored_sim_time(results: Mapping[str, Any]) -> float | None:
    stats = results.get("stats")
    t = stats.get("sim_time") if isinstance(stats, Mapping) else None
    return float(t) if isinstance(t, (int, float)) else None


def messages_trace(
    store_dir: str | Path, start: float | None = None, end: float | None = None
) -> tuple[MessageTrace, float, float]:
    """Re-run the store with a trace of the window (checked; defaulted as ``default_window``)."""
    from sim.runs.runner import trace_store
    from sim.runs.store import read_store

    directory = Path(store_dir)
    check_window(start, end)
    _config, _seed, schedule, results = read_store(directory)
    start, end = default_window(schedule if isinstance(schedule, list) else [], start, end)
    check_window(start, end)
    sim_time = _stored_sim_time(results)
    if sim_time is not None and start > sim_time:
        raise UsageError(f"--from {start:g} is after the end of the run ({sim_time:g} s)")
    trace, _outcome = trace_store(directory, start, end)
    if start > trace.sim_end:
        raise UsageError(f"--from {start:g} is after the end of the run ({trace.sim_end:g} s)")
    return trace, start, min(end, trace.sim_end)


def write_messages(
    store_dir: str | Path,
    start: float | None = None,
    end: float | None = None,
    out_path: str | Path | None = None,
    focus_nodes: Iterable[str] | None = None,
    cap: int = MAX_MESSAGES,
    background: bool = False,
) -> Path:
    """Write the message diagram of [start, end] of a stored run (default file
    ``messages-<start>-<end>.html`` in the store) and return its path. ``focus_nodes`` keeps
    only the messages to or from those nodes; ``background`` also draws the routine traffic
    between brokers and the controller (replica fetches, heartbeats)."""
    directory = Path(store_dir)
    trace, start, end = messages_trace(directory, start, end)
    focus = sorted(set(focus_nodes or ()))
    return _write(directory, trace, start, end, out_path, focus, cap, background)


def witness_window(
    history: Sequence[Mapping[str, Any]], ops: Iterable[int], pad: float = 0.05
) -> tuple[float, float]:
    """The window a witness's history ops span (from invoke to completion), padded."""
    wanted = set(ops)
    times: list[float] = []
    invoked: dict[Any, float] = {}
    for op in history:
        p = op.get("process")
        if op.get("type") == "invoke":
            invoked[p] = float(op["time"])
        if op.get("index") in wanted:
            times.append(float(op["time"]))
            if op.get("type") != "invoke" and p in invoked:
                times.append(invoked[p])
    if not times:
        raise UsageError(f"none of the ops {sorted(wanted)} is in the history")
    return max(0.0, min(times) - pad), max(times) + pad


def write_witness_messages(
    store_dir: str | Path,
    witness_ops: Iterable[int],
    out_path: str | Path | None = None,
    cap: int = MAX_MESSAGES,
) -> Path:
    """The diagram for one witness of results.json (pass its ``ops``): the window those history
    ops span, limited to the client sessions that ran them and whoever they talked to."""
    from sim.report.model import load_history

    directory = Path(store_dir)
    ops = set(witness_ops)
    history = load_history(directory / "history.jsonl")
    start, end = witness_window(history, ops)
    processes = {op.get("process") for op in history if op.get("index") in ops}
    trace, start, end = messages_trace(directory, start, end)
    focus = sorted({trace.processes[p] for p in processes if p in trace.processes})
    return _write(directory, trace, start, end, out_path, focus, cap)


def _write(
    directory: Path,
    trace: MessageTrace,
    start: float,
    end: float,
    out_path: str | Path | None,
    focus: list[str],
    cap: int,
    background: bool = False,
) -> Path:
    from sim.runs.store import write_atomic

    unknown = [n for n in focus if n not in trace.roles]
    if unknown:
        known = ", ".join(sorted(trace.roles, key=lambda n: _node_key(n, trace.roles)))
        raise UsageError(f"no node named {', '.join(unknown)} in this run (nodes: {known})")
    results = _results(directory)
    valid = results.get("valid")
    verdict = "valid" if valid is True else "INVALID" if valid is False else "unknown"
    found = ", ".join(results.get("anomaly_types") or []) or "none"
    subtitle = (
        f"store {directory.name}: mode {results.get('mode', '?')}, seed {results.get('seed', '?')}; "
        f"verdict {verdict} for this mode, anomalies found: {found}. Drawn from a re-run "
        "with tracing, whose history digest matches the stored one."
    )
    hint = (
        f" (eosim report {directory} --messages --from {start:g} --to T with a T below {end:g})"
        " or keep only some nodes (--nodes c0,b1)"
    )
    page = render_messages(
        trace,
        start,
        end,
        focus,
        cap,
        title="Messages",
        subtitle=subtitle,
        narrow_hint=hint,
        background=background,
    )
    if out_path is None:
        path = directory / f"messages-{start:.3f}-{end:.3f}.html"
    else:
        path = Path(out_path)
    try:
        write_atomic(path, page)
    except OSError as exc:
        raise UsageError(f"cannot write {exc.filename or path}: {exc.strerror or exc}") from None
    return path


def _results(directory: Path) -> dict[str, Any]:
    try:
        data = json.loads((directory / "results.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
