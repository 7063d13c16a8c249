"""timeline.html: a self-contained, script-free Jepsen-style timeline.

Pure CSS absolute positioning (no JS, no external assets) so the page works offline, opens
without console errors, and stays a few MB even for tens of thousands of ops.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sim.report.model import Op, Window, Witness, short_json

HEADER_PX = 28  # sticky row of lane names
LEFT_PX = 70  # time axis gutter
NEM_COL_PX = 18  # one nemesis sub-column
MIN_BOX_PX = 3
TOP_PAD_PX = 12  # keeps the first tick label clear of the sticky lane header

CSS = """
body{font:13px/1.35 system-ui,sans-serif;margin:12px;color:#222}
h1{font-size:18px;margin:0 0 6px}
table{border-collapse:collapse;margin:6px 0 12px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.valid-true{color:#176b2c;font-weight:bold}.valid-false{color:#b00020;font-weight:bold}
.valid-unknown{color:#8a6d00;font-weight:bold}
.note{color:#555;margin:4px 0}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin-right:4px;border:1px solid #888}
.tl{position:relative;border-top:1px solid #ccc}
.heads{position:sticky;top:0;z-index:6;background:#fff;height:28px;border-bottom:1px solid #ccc}
.head{position:absolute;top:6px;text-align:center;font-weight:bold;overflow:hidden;white-space:nowrap}
.lane{position:absolute;top:0;bottom:0;border-left:1px solid #eee}
.tick{position:absolute;left:0;right:0;border-top:1px dotted #ddd;z-index:0}
.tick span{position:absolute;left:2px;top:-8px;font-size:11px;color:#666;background:#fff}
.nem{position:absolute;z-index:1;background:rgba(255,140,0,.10);border-top:1px dashed #d2691e}
.nem.instant{background:none;border-top:2px solid #d2691e}
.nem-label{position:absolute;font-size:11px;color:#a0460a;white-space:nowrap;z-index:5;
 background:rgba(255,255,255,.8);padding:0 2px}
.nem-bar{position:absolute;z-index:2;background:rgba(210,105,30,.55);border:1px solid #a0460a}
.op{position:absolute;z-index:3;box-sizing:border-box;border:1px solid rgba(0,0,0,.35);
 border-radius:2px;overflow:hidden;font-size:10px;white-space:nowrap}
.op:hover{z-index:7;outline:2px solid #000}
.ok{background:#8fd694}.fail{background:#f4a3b4}.info{background:#ffd166}
.pending{background:#c8c8c8}
.op.witness{z-index:4;outline:3px solid #6a00c8;outline-offset:1px}
.op:target,.nem-bar:target{outline:4px solid #0057ff}
.op span{position:absolute}
a.w{margin-right:4px}
"""


def render_timeline(
    ops: Sequence[Op],
    windows: Sequence[Window],
    results: Mapping[str, Any],
    witness_list: Sequence[Witness],
    counts: Mapping[str, int],
    dropped: int,
    cap: int,
) -> str:
    """Whole page as a string; deterministic for the same inputs."""
    layout = _Layout(ops, windows)
    present = {i for o in ops for i in o.indices} | {i for w in windows for i in w.indices}
    wit_ops = {i for w in witness_list for i in w.ops}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<link rel="icon" href="data:,">',
        f"<title>eosim timeline {html.escape(str(results.get('seed', '')))}</title>",
        f"<style>{CSS}</style></head><body>",
        _verdict(results),
        _anomaly_table(witness_list, counts, present),
        _legend(),
        _cap_note(len(ops), dropped, cap),
        layout.body(wit_ops),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _verdict(results: Mapping[str, Any]) -> str:
    valid = results.get("valid", "unknown")
    cls = {True: "valid-true", False: "valid-false"}.get(valid, "valid-unknown")
    shown = json.dumps(valid) if isinstance(valid, bool) else str(valid)
    rows = [("valid", f'<span class="{cls}">{_esc(shown)}</span>')]
    for key in ("mode", "seed", "digest", "anomaly_types", "stats"):
        if key in results:
            rows.append((key, _esc(short_json(results[key], 400))))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<h1>eosim timeline</h1><table class="verdict">{body}</table>'


def _anomaly_table(
    witness_list: Sequence[Witness], counts: Mapping[str, int], present: set[int]
) -> str:
    if not counts:
        return '<p class="note">No anomalies reported.</p>'
    rows = []
    for w in witness_list:
        links = " ".join(
            f'<a class="w" href="#op-{i}">op {i}</a>' if i in present else f"op {i} (absent)"
            for i in w.ops
        )
        rows.append(
            f"<tr><td>{_esc(w.anomaly)}</td><td>{_esc(_explain(w.details))}</td>"
            f"<td>{links}</td></tr>"
        )
    shown: dict[str, int] = {}
    for w in witness_list:
        shown[w.anomaly] = shown.get(w.anomaly, 0) + 1
    notes = [
        f"{name}: showing {shown.get(name, 0)} of {n}"
        for name, n in counts.items()
        if shown.get(name, 0) < n
    ]
    note = f'<p class="note">{_esc("; ".join(notes))}</p>' if notes else ""
    summary = ", ".join(f"{_esc(k)} ×{n}" for k, n in counts.items())
    return (
        f"<h2>Anomalies: {summary}</h2>{note}"
        '<table class="anomalies"><tr><th>anomaly</th><th>explanation</th><th>ops</th></tr>'
        + "".join(rows)
        + "</table>"
    )


def _explain(details: Mapping[str, Any]) -> str:
    rest = {k: v for k, v in details.items() if k != "explanation"}
    text = str(details.get("explanation", ""))
    if rest:
        text = f"{text} {short_json(rest, 300)}".strip()
    return text


def _legend() -> str:
    items = [
        ("ok", "#8fd694", "ok"),
        ("fail", "#f4a3b4", "fail"),
        ("info", "#ffd166", "info (unknown)"),
        ("pending", "#c8c8c8", "invoked, never completed"),
        ("nem", "rgba(255,140,0,.25)", "nemesis fault active"),
    ]
    spans = "".join(
        f'<span><i class="sw" style="background:{c}"></i>{_esc(t)}</span>' for _, c, t in items
    )
    spans += '<span><i class="sw" style="outline:3px solid #6a00c8"></i>anomaly witness</span>'
    return f'<p class="legend">{spans} Hover a box for details; time runs downward.</p>'


def _cap_note(shown: int, dropped: int, cap: int) -> str:
    if not dropped:
        return ""
    return (
        f'<p class="note">Showing {shown} ops (the first {cap} history lines plus all witness '
        f"ops); {dropped} later ops omitted.</p>"
    )


def _nice_step(raw: float) -> float:
    """Round a tick spacing up to 1, 2 or 5 times a power of ten."""
    if raw <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= raw)


def _proc_sort_key(p: Any) -> tuple[int, float, str]:
    if isinstance(p, int | float) and not isinstance(p, bool):
        return (0, float(p), "")
    return (1, 0.0, str(p))


def _columns(windows: Sequence[Window]) -> list[int]:
    """Greedy interval colouring so overlapping faults get side-by-side nemesis bars."""
    ends: list[float] = []
    cols = []
    for w in windows:
        col = next((c for c, e in enumerate(ends) if e < w.start), len(ends))
        if col == len(ends):
            ends.append(w.end)
        else:
            ends[col] = w.end
        cols.append(col)
    return cols


class _Layout:
    """Pixel geometry of the timeline: lanes across, simulated time downward."""

    def __init__(self, ops: Sequence[Op], windows: Sequence[Window]) -> None:
        self.ops = ops
        self.windows = windows
        self.procs = sorted({o.process for o in ops}, key=_proc_sort_key)
        times = [o.start for o in ops] + [o.end for o in ops if o.end is not None]
        times += [t for w in windows for t in (w.start, w.end)]
        self.t0 = min(0.0, min(times, default=0.0))
        self.t1 = max(times, default=1.0)
        per_lane: dict[Any, int] = {}
        for o in ops:
            per_lane[o.process] = per_lane.get(o.process, 0) + 1
        busiest = max(per_lane.values(), default=1)
        self.height = min(60000, max(600, busiest * 10))
        self.scale = self.height / max(self.t1 - self.t0, 1e-9)
        self.lane_w = max(16, min(110, 1400 // max(len(self.procs), 1)))
        self.cols = _columns(windows)
        self.nem_w = max(40, NEM_COL_PX * (max(self.cols, default=-1) + 1) + 6)
        self.x0 = LEFT_PX + self.nem_w
        self.width = self.x0 + self.lane_w * len(self.procs) + 10

    def y(self, t: float) -> int:
        return TOP_PAD_PX + round((t - self.t0) * self.scale)

    def lane_x(self, proc: Any) -> int:
        return self.x0 + self.lane_w * self.procs.index(proc)

    def body(self, witness_ops: set[int]) -> str:
        lane_of = {p: self.lane_x(p) for p in self.procs}
        parts = [f'<div class="tl" style="width:{self.width}px">', self._heads(lane_of)]
        parts.append(f'<div style="position:relative;height:{self.height + TOP_PAD_PX + 20}px">')
        parts += self._ticks()
        parts += self._lanes(lane_of)
        parts += self._nemeses()
        parts += [self._box(o, lane_of[o.process], witness_ops) for o in self.ops]
        parts.append("</div></div>")
        return "\n".join(parts)

    def _heads(self, lane_of: Mapping[Any, int]) -> str:
        heads = [f'<div class="head" style="left:{LEFT_PX}px;width:{self.nem_w}px">nem</div>'] + [
            f'<div class="head" style="left:{x}px;width:{self.lane_w}px" title="process {_esc(p)}">'
            f"{_esc(_proc_label(p))}</div>"
            for p, x in lane_of.items()
        ]
        return f'<div class="heads">{"".join(heads)}</div>'

    def _ticks(self) -> list[str]:
        step = _nice_step(100 / self.scale)
        first = math.ceil(self.t0 / step)
        last = math.floor(self.t1 / step)
        return [
            f'<div class="tick" style="top:{self.y(k * step)}px"><span>{_fmt_t(k * step)} s</span></div>'
            for k in range(first, last + 1)
        ]

    def _lanes(self, lane_of: Mapping[Any, int]) -> list[str]:
        return [
            f'<div class="lane" id="lane-{_esc(_proc_label(p))}" data-process="{_esc(p)}" '
            f'style="left:{x}px;width:{self.lane_w}px"></div>'
            for p, x in lane_of.items()
        ]

    def _nemeses(self) -> list[str]:
        out = []
        full = self.width - LEFT_PX
        for w, col in zip(self.windows, self.cols, strict=True):
            top, h = self.y(w.start), max(self.y(w.end) - self.y(w.start), 0)
            title = _esc(_window_title(w))
            cls = "nem instant" if h == 0 else "nem"
            out.append(
                f'<div class="{cls}" style="top:{top}px;left:{LEFT_PX}px;width:{full}px;'
                f'height:{h}px" title="{title}"></div>'
            )
            ids = _ids(w.indices)
            out.append(
                f'<div class="nem-bar"{ids[0]} style="top:{top}px;left:{LEFT_PX + 3 + col * NEM_COL_PX}px;'
                f'width:{NEM_COL_PX - 4}px;height:{max(h, MIN_BOX_PX)}px" title="{title}">{ids[1]}</div>'
            )
            out.append(
                f'<div class="nem-label" style="top:{top + 1}px;left:{self.x0 + 4 + col * 12}px">'
                f"{_esc(w.label)}</div>"
            )
        return out

    def _box(self, o: Op, x: int, witness_ops: set[int]) -> str:
        top = self.y(o.start)
        end = o.end if o.end is not None else self.t1
        h = max(self.y(end) - top, MIN_BOX_PX)
        cls = f"op {o.type}" + (" witness" if witness_ops.intersection(o.indices) else "")
        ids = _ids(list(reversed(o.indices)))
        label = _esc(o.f) if h >= 12 and self.lane_w >= 40 else ""
        return (
            f'<div class="{cls}"{ids[0]} style="top:{top}px;left:{x + 2}px;width:{self.lane_w - 4}px;'
            f'height:{h}px" title="{_esc(_op_title(o))}">{ids[1]}{label}</div>'
        )


def _ids(indices: Sequence[int]) -> tuple[str, str]:
    """First index becomes the element's id; the others get empty anchors inside it."""
    if not indices:
        return "", ""
    inner = "".join(f'<span id="op-{i}"></span>' for i in indices[1:])
    return f' id="op-{indices[0]}"', inner


def _proc_label(p: Any) -> str:
    return f"p{p}" if isinstance(p, int) and not isinstance(p, bool) else str(p)


def _fmt_t(t: float) -> str:
    return f"{t:.6f}".rstrip("0").rstrip(".") or "0"


def _op_title(o: Op) -> str:
    idx = f"{o.invoke_index if o.invoke_index is not None else '?'}→" + (
        str(o.complete_index) if o.complete_index is not None else "…"
    )
    times = f"t={_fmt_t(o.start)}→" + (
        f"{_fmt_t(o.end)} s ({(o.end - o.start) * 1000:.3f} ms)" if o.end is not None else "never"
    )
    lines = [f"#{idx} {_proc_label(o.process)} {o.f} {o.type}", times]
    lines.append(f"invoke: {short_json(o.invoke_value)}")
    if o.complete_index is not None:
        lines.append(f"{o.type}: {short_json(o.value)}")
    return "\n".join(lines)


def _window_title(w: Window) -> str:
    end = "end of history (never healed)" if w.open_ended else f"{_fmt_t(w.end)} s"
    ops = ", ".join(str(i) for i in w.indices)
    return f"nemesis {w.label}\n{_fmt_t(w.start)} s → {end}\nops {ops}"
