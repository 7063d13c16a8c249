"""The timeline's geometry: one lane per process (grouped and labelled by client node and role),
simulated time downward, faults shaded over the lanes they hit.

Pure CSS absolute positioning (no JS, no external assets) so the page works offline and stays a
few MB even for tens of thousands of ops. The whole timeline fits a 1400 px window.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sim.report.model import Lane, Op, Window, short_json

PAGE_PX = 1340  # a 1400 px window, less the page margins and a scrollbar
LEFT_PX = 62  # time axis gutter
NEM_COL_PX = 16  # one nemesis sub-column
MIN_BOX_PX = 3
HEAD_PX = 40  # sticky heading: node row + process row
TOP_PAD_PX = 12  # keeps the first tick label clear of the sticky heading
MAX_LANE_PX = 140
MIN_LANE_PX = 6

CSS = """
.tl{position:relative;border-top:1px solid #ccc}
.heads{position:sticky;top:0;z-index:6;background:#fff;height:40px;border-bottom:1px solid #ccc}
.head{position:absolute;text-align:center;overflow:hidden;white-space:nowrap;font-size:11px}
.head.group{top:2px;font-weight:bold;border-bottom:2px solid #999}
.head.proc{top:21px;color:#555}
.lane{position:absolute;top:0;bottom:0;border-left:1px solid #eee}
.lane.first{border-left:1px solid #bbb}
.tick{position:absolute;left:0;right:0;border-top:1px dotted #ddd;z-index:0}
.tick span{position:absolute;left:2px;top:-8px;font-size:11px;color:#666;background:#fff}
.nem{position:absolute;z-index:1;background:rgba(255,140,0,.10);border-top:1px dashed #d2691e}
.nem.hit{background:rgba(255,90,0,.22);border-top:2px solid #d2691e}
.nem.instant{background:none;border-top:2px solid #d2691e}
.nem-label{position:absolute;font-size:11px;color:#a0460a;white-space:nowrap;z-index:5;
 background:rgba(255,255,255,.85);padding:0 2px}
.nem-bar{position:absolute;z-index:2;background:rgba(210,105,30,.55);border:1px solid #a0460a}
.converge{position:absolute;z-index:0;background:repeating-linear-gradient(45deg,#f3f6ff,#f3f6ff 6px,#fff 6px,#fff 12px);border-top:2px solid #5470c6}
.converge span{position:absolute;right:4px;top:2px;font-size:11px;color:#2b47a0;background:#fff;padding:0 3px}
.op{position:absolute;z-index:3;box-sizing:border-box;border:1px solid rgba(0,0,0,.35);
 border-radius:2px;overflow:hidden;font-size:10px;white-space:nowrap}
.op:hover{z-index:7;outline:2px solid #000}
.ok{background:#8fd694}.fail{background:#f4a3b4}.info{background:#ffd166}
.pending{background:#c8c8c8}
.op.witness{z-index:4;outline:2px solid #6a00c8}
.op.example{z-index:5;outline:3px solid #e0007a;outline-offset:1px}
.op:target,.nem-bar:target{outline:4px solid #0057ff;z-index:8}
.op span{position:absolute}
[id^="op-"]{scroll-margin-top:120px}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _nice_step(raw: float) -> float:
    """Round a tick spacing up to 1, 2 or 5 times a power of ten."""
    if raw <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= raw)


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


def fmt_t(t: float) -> str:
    return f"{t:.6f}".rstrip("0").rstrip(".") or "0"


class Timeline:
    """Pixel geometry of the timeline: lanes across, simulated time downward."""

    def __init__(
        self,
        ops: Sequence[Op],
        windows: Sequence[Window],
        lanes: Sequence[Lane],
        workload_end: float | None = None,
    ) -> None:
        self.ops = ops
        self.windows = windows
        self.lanes = list(lanes)
        self.workload_end = workload_end
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
        self.cols = _columns(windows)
        self.nem_w = max(30, NEM_COL_PX * (max(self.cols, default=-1) + 1) + 6)
        self.x0 = LEFT_PX + self.nem_w
        room = PAGE_PX - self.x0 - 10
        self.lane_w = max(MIN_LANE_PX, min(MAX_LANE_PX, room // max(len(self.lanes), 1)))
        self.width = self.x0 + self.lane_w * len(self.lanes) + 10
        self.x_of = {lane.process: self.x0 + self.lane_w * i for i, lane in enumerate(self.lanes)}
        self.node_span: dict[str, tuple[int, int]] = {}
        for lane in self.lanes:
            if lane.node:
                x = self.x_of[lane.process]
                lo, hi = self.node_span.get(lane.node, (x, x))
                self.node_span[lane.node] = (min(lo, x), max(hi, x + self.lane_w))

    def y(self, t: float) -> int:
        return TOP_PAD_PX + round((t - self.t0) * self.scale)

    def render(
        self, witness_ops: set[int], example_ops: frozenset[int] | set[int] = frozenset()
    ) -> str:
        parts = [f'<div class="tl" style="width:{self.width}px">', self._heads()]
        parts.append(f'<div style="position:relative;height:{self.height + TOP_PAD_PX + 20}px">')
        parts += self._ticks()
        parts += self._convergence()
        parts += self._lanes()
        parts += self._nemeses()
        parts += [
            self._box(o, witness_ops, example_ops) for o in self.ops if o.process in self.x_of
        ]
        parts.append("</div></div>")
        return "\n".join(parts)

    def _groups(self) -> list[tuple[str, int, int]]:
        """Runs of adjacent lanes with one heading: (text, left x, width)."""
        groups: list[tuple[str, int, int]] = []
        for lane in self.lanes:
            x = self.x_of[lane.process]
            if groups and groups[-1][0] == lane.group:
                text, left, width = groups[-1]
                groups[-1] = (text, left, width + self.lane_w)
            else:
                groups.append((lane.group, x, self.lane_w))
        return groups

    def _heads(self) -> str:
        heads = [
            f'<div class="head group" style="left:{LEFT_PX}px;width:{self.nem_w - 2}px">faults</div>'
        ]
        heads += [
            f'<div class="head group" style="left:{x + 1}px;width:{w - 3}px" title="{_esc(text)}">'
            f"{_esc(text)}</div>"
            for text, x, w in self._groups()
        ]
        heads += [
            f'<div class="head proc" style="left:{self.x_of[lane.process]}px;width:{self.lane_w}px"'
            f' title="{_esc(lane.label)}">{_esc(lane.process) if self.lane_w >= 14 else ""}</div>'
            for lane in self.lanes
        ]
        return f'<div class="heads">{"".join(heads)}</div>'

    def _ticks(self) -> list[str]:
        step = _nice_step(100 / self.scale)
        first = math.ceil(self.t0 / step)
        last = math.floor(self.t1 / step)
        return [
            f'<div class="tick" style="top:{self.y(k * step)}px"><span>{fmt_t(k * step)} s</span></div>'
            for k in range(first, last + 1)
        ]

    def _convergence(self) -> list[str]:
        end = self.workload_end
        if end is None or not self.t0 < end < self.t1:
            return []
        top = self.y(end)
        return [
            f'<div class="converge" id="convergence" style="top:{top}px;left:{LEFT_PX}px;'
            f'width:{self.width - LEFT_PX}px;height:{self.y(self.t1) - top}px">'
            f"<span>workload ends at {fmt_t(end)} s: convergence window (faults healed, "
            "final reads), so fewer ops is expected here</span></div>"
        ]

    def _lanes(self) -> list[str]:
        out = []
        previous = None
        for lane in self.lanes:
            first = " first" if lane.group != previous else ""
            previous = lane.group
            out.append(
                f'<div class="lane{first}" id="lane-{_esc(lane.process)}" data-process="{_esc(lane.process)}" '
                f'style="left:{self.x_of[lane.process]}px;width:{self.lane_w}px"></div>'
            )
        return out

    def _nemeses(self) -> list[str]:
        out = []
        for w, col in zip(self.windows, self.cols, strict=True):
            top, h = self.y(w.start), max(self.y(w.end) - self.y(w.start), 0)
            title = _esc(_window_title(w))
            span = self.node_span.get(w.target or "")
            left, width = span if span else (LEFT_PX, self.width - LEFT_PX)
            if span:
                width -= left
            cls = "nem instant" if h == 0 else ("nem hit" if span else "nem")
            out.append(
                f'<div class="{cls}" style="top:{top}px;left:{left}px;width:{width}px;'
                f'height:{h}px" title="{title}"></div>'
            )
            ids = _ids(w.indices)
            out.append(
                f'<div class="nem-bar"{ids[0]} style="top:{top}px;left:{LEFT_PX + 3 + col * NEM_COL_PX}px;'
                f'width:{NEM_COL_PX - 4}px;height:{max(h, MIN_BOX_PX)}px" title="{title}">{ids[1]}</div>'
            )
            label_x = (span[0] + 2) if span else self.x0 + 4 + col * 12
            out.append(
                f'<div class="nem-label" style="top:{top + 1}px;left:{label_x}px">'
                f"{_esc(w.label)}</div>"
            )
        return out

    def _box(self, o: Op, witness_ops: set[int], example_ops: frozenset[int] | set[int]) -> str:
        x = self.x_of[o.process]
        top = self.y(o.start)
        end = o.end if o.end is not None else self.t1
        h = max(self.y(end) - top, MIN_BOX_PX)
        cls = f"op {o.type}" + (" witness" if witness_ops.intersection(o.indices) else "")
        if example_ops.intersection(o.indices):
            cls += " example"
        ids = _ids(list(reversed(o.indices)))
        label = _esc(o.f) if h >= 12 and self.lane_w >= 40 else ""
        pad = 2 if self.lane_w >= 12 else 0
        return (
            f'<div class="{cls}"{ids[0]} style="top:{top}px;left:{x + pad}px;'
            f'width:{self.lane_w - 2 * pad}px;height:{h}px" title="{_esc(op_title(o))}">'
            f"{ids[1]}{label}</div>"
        )


def _ids(indices: Sequence[int]) -> tuple[str, str]:
    """First index becomes the element's id; the others get empty anchors inside it."""
    if not indices:
        return "", ""
    inner = "".join(f'<span id="op-{i}"></span>' for i in indices[1:])
    return f' id="op-{indices[0]}"', inner


def op_title(o: Op, lane: Lane | None = None) -> str:
    idx = f"{o.invoke_index if o.invoke_index is not None else '?'}→" + (
        str(o.complete_index) if o.complete_index is not None else "…"
    )
    times = f"t={fmt_t(o.start)}→" + (
        f"{fmt_t(o.end)} s ({(o.end - o.start) * 1000:.3f} ms)" if o.end is not None else "never"
    )
    who = lane.label if lane else f"process {o.process}"
    lines = [f"#{idx} {who}: {o.f} {o.type}", times]
    lines.append(f"invoke: {short_json(o.invoke_value)}")
    if o.complete_index is not None:
        lines.append(f"{o.type}: {short_json(o.value)}")
    return "\n".join(lines)


def _window_title(w: Window) -> str:
    end = "end of history (never healed)" if w.open_ended else f"{fmt_t(w.end)} s"
    ops = ", ".join(str(i) for i in w.indices)
    return f"nemesis {w.label}\n{fmt_t(w.start)} s → {end}\nops {ops}"


def lane_lookup(lanes: Sequence[Lane]) -> Mapping[Any, Lane]:
    return {lane.process: lane for lane in lanes}
