"""The plots section of timeline.html: latency and throughput, drawn in the browser by uPlot.

The same picture as latency.png and throughput.png (which ``eosim report`` still draws with
matplotlib, for papers and the README): fault windows shaded over the data, a strip above it with
one row per nemesis and per anomaly type (ticks at witness ops), forbidden witnesses ringed, the
convergence window shaded and labelled. Here Python only prepares data: it goes into the page as
compact JSON (times in integer microseconds, delta-encoded) next to the vendored uPlot
(``sim/report/vendor``, MIT, inlined so the page works offline from file://), and a short script
draws it. So ``eosim run`` never imports matplotlib, and the page stays bounded: at most
``MAX_PLOT_POINTS`` latency points, sampled deterministically, and the page says so.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sim.report.marks import AnomalyMarks, Convergence, witness_ops
from sim.report.model import Op, Window
from sim.report.plots import (
    ALLOWED_COLOUR,
    ANOMALY_PALETTE,
    CONVERGENCE_LABEL,
    FAULT_PALETTE,
    PLOTTED_FS,
    TYPE_COLOURS,
    bin_width,
)

__all__ = ["MAX_PLOT_POINTS", "PagePlots", "page_plots", "sample_points", "uplot_assets"]

MAX_PLOT_POINTS = 20000  # latency points in the page; witness ops are always kept
ROW_PX = 16  # one strip row (a nemesis or an anomaly type) above the data
HEIGHTS_PX = {"latency": 380, "throughput": 300}  # each plot without its strip
_SHAPES = {"send": "circle", "poll": "triangle", "txn": "square"}
_SHAPE_GLYPHS = {"send": "●", "poll": "▲", "txn": "■"}
_TYPE_WORDS = {"ok": "ok", "info": "info (outcome unknown)", "fail": "fail"}

CSS = """
.plots{margin:6px 0 14px}.plot{position:relative;margin:4px 0 2px;width:100%}
.plot-legend span{display:inline-block;margin-right:14px;white-space:nowrap}
.plot-legend .sh{display:inline-block;width:14px;text-align:center;color:#555;margin-right:3px;font-style:normal}
.plot-legend .tk{display:inline-block;width:3px;height:12px;vertical-align:middle;margin:0 6px 0 4px}
.plot-legend .ring{display:inline-block;width:9px;height:9px;border:1.5px solid #555;
 border-radius:50%;vertical-align:middle;margin-right:4px}
.plot-legend .conv{background:radial-gradient(#bdbdbd 1px,#f0f0f0 1.5px) 0 0/4px 4px}
.readout{min-height:1.4em;color:#333;font-size:12px;margin:0 0 8px}
h3.plot-title{margin:10px 0 0}
"""


@functools.lru_cache(maxsize=1)
def uplot_assets() -> tuple[str, str]:
    """The vendored uPlot (script, stylesheet), read once per process."""
    vendor = resources.files("sim.report") / "vendor"
    js = (vendor / "uPlot.iife.min.js").read_text(encoding="utf-8")
    css = (vendor / "uPlot.min.css").read_text(encoding="utf-8")
    return js, css


@dataclass(frozen=True)
class PagePlots:
    """What timeline.html embeds: ``section`` goes below the summary, ``script`` (data, uPlot,
    drawing code) at the end of the body, so the summary and timeline parse first."""

    section: str
    script: str


def _us(t: float) -> int:
    return round(t * 1_000_000)


def _delta(values: Sequence[int]) -> list[int]:
    out, last = [], 0
    for v in values:
        out.append(v - last)
        last = v
    return out


def _spread(items: Sequence[Op], room: int) -> list[Op]:
    """``room`` items evenly spaced through ``items`` (all of them if they fit)."""
    n = len(items)
    if n <= room:
        return list(items)
    if room <= 0:
        return []
    return [items[j * n // room] for j in range(room)]


def sample_points(ops: Sequence[Op], cap: int, keep: set[int]) -> tuple[list[Op], str]:
    """The latency points to draw, in start order, and a sentence for the page when some were
    left out (else "").

    Deterministic: every op in ``keep`` (the marked witness ops); then the rarer outcomes
    (fail, info), evenly spaced in time if they need more than half of what is left; then the
    ok ops, evenly spaced. So a huge run keeps its shape and every witness and most failures
    stay visible."""
    if len(ops) <= cap:
        return list(ops), ""
    kept = {id(o): o for o in ops if keep and not keep.isdisjoint(o.indices)}
    rest = [o for o in ops if id(o) not in kept]
    rare = [o for o in rest if o.type != "ok"]
    ok = [o for o in rest if o.type == "ok"]
    room = max(cap - len(kept), 0)
    rare_kept = _spread(rare, max(room // 2, room - len(ok)))
    ok_kept = _spread(ok, room - len(rare_kept))
    for o in (*rare_kept, *ok_kept):
        kept[id(o)] = o
    chosen = sorted(kept.values(), key=lambda o: (o.start, o.first_index))
    parts = []
    if rare:
        parts.append(
            "every fail and info op" if len(rare_kept) == len(rare)
            else f"{len(rare_kept)} of {len(rare)} fail and info ops, evenly spaced in time"
        )  # fmt: skip
    if ok:
        parts.append(f"{len(ok_kept)} of {len(ok)} ok ops, evenly spaced in time")
    note = (
        f"The latency plot shows {len(chosen)} of the {len(ops)} completed send, poll and txn "
        f"ops (it draws at most {cap}): every witness op, {' and '.join(parts)}. The "
        "throughput plot counts every op."
    )
    return chosen, note


def page_plots(
    ops: Sequence[Op],
    windows: Sequence[Window],
    marks: Sequence[AnomalyMarks],
    convergence: Convergence | None,
    cap: int = MAX_PLOT_POINTS,
) -> PagePlots:
    """The plots section and its script for one run; deterministic for the same inputs."""
    rows: dict[str, str] = {}
    for w in windows:
        rows.setdefault(w.name, FAULT_PALETTE[len(rows) % len(FAULT_PALETTE)])
    forbidden = [m for m in marks if m.forbidden]
    mark_colours = {
        m.name: ANOMALY_PALETTE[i % len(ANOMALY_PALETTE)] for i, m in enumerate(forbidden)
    }
    by_index = witness_ops(ops, marks)
    plotted = [o for o in ops if o.f in PLOTTED_FS and o.latency is not None]
    points, note = sample_points(plotted, cap, set(by_index))
    done = [o for o in ops if o.end is not None]
    end = max((o.end if o.end is not None else o.start for o in ops), default=0.0)
    end = max([end, *(w.end for w in windows)])
    if convergence is not None:
        end = max(end, convergence.start)
    conv = convergence.start if convergence is not None and convergence.start < end else None
    strip = (len(rows) + len(marks)) * ROW_PX + 6 if rows or marks else 0
    heights = {name: px + strip for name, px in HEIGHTS_PX.items()}
    data = {
        "rowPx": ROW_PX,
        "heights": heights,
        "end": _us(end),
        "conv": None if conv is None else _us(conv),
        "convLabel": CONVERGENCE_LABEL,
        "faults": [{"name": n, "colour": c} for n, c in rows.items()],
        "windows": [[list(rows).index(w.name), _us(w.start), _us(w.end)] for w in windows],
        "marks": [
            {
                "name": m.name,
                "colour": mark_colours.get(m.name, ALLOWED_COLOUR),
                "forbidden": m.forbidden,
            }
            for m in marks
        ],  # fmt: skip
        "latency": _latency_data(points, marks, by_index),
        "throughput": _throughput_data(done, marks, by_index),
    }
    section = _section(points, done, rows, marks, mark_colours, conv is not None, note, heights)
    return PagePlots(section, _script(data))


_CLASSES = [(f, t) for t in TYPE_COLOURS for f in PLOTTED_FS]  # drawing order: ok first


def _latency_data(
    points: Sequence[Op], marks: Sequence[AnomalyMarks], by_index: Mapping[int, Op]
) -> dict[str, Any]:
    position = {id(o): n for n, o in enumerate(points)}
    rings = []
    for k, m in enumerate(marks):
        if m.forbidden:
            hit = [by_index[i] for i in m.indices if i in by_index]
            rings.append([k, sorted({position[id(o)] for o in hit if id(o) in position})])
    ticks = [sorted({_us(by_index[i].start) for i in m.indices if i in by_index}) for m in marks]
    code = {c: str(n) for n, c in enumerate(_CLASSES)}
    return {
        "classes": [
            {"f": f, "type": t, "shape": _SHAPES[f], "colour": TYPE_COLOURS[t], "big": t != "ok"}
            for f, t in _CLASSES
        ],
        "t": _delta([_us(o.start) for o in points]),
        "y": [max(_us(o.latency or 0.0), 1) for o in points],
        "k": "".join(code[(o.f, o.type)] for o in points),
        "op": _delta([o.first_index for o in points]),
        "rings": rings,
        "ticks": [_delta(t) for t in ticks],
    }


def _throughput_data(
    done: Sequence[Op], marks: Sequence[AnomalyMarks], by_index: Mapping[int, Op]
) -> dict[str, Any]:
    span = max((o.end or 0.0 for o in done), default=0.0)
    width = bin_width(span)
    nbins = int(span // width) + 1
    counts = {t: [0] * nbins for t in TYPE_COLOURS}
    for o in done:
        if o.type in counts:
            counts[o.type][min(int((o.end or 0.0) // width), nbins - 1)] += 1
    at = {i: o.end if o.end is not None else o.start for i, o in by_index.items()}
    ticks = [sorted({_us(at[i]) for i in m.indices if i in at}) for m in marks]
    return {
        "width": width,
        "types": [{"name": t, "colour": c} for t, c in TYPE_COLOURS.items() if any(counts[t])],
        "counts": [counts[t] for t in TYPE_COLOURS if any(counts[t])],
        "ticks": [_delta(t) for t in ticks],
    }


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _swatch(colour: str, text: str, alpha: float = 1.0) -> str:
    style = f"background:{colour}" + (f";opacity:{alpha}" if alpha < 1 else "")
    return f'<span><i class="sw" style="{style}"></i>{_esc(text)}</span>'


def _shared_legend(
    rows: Mapping[str, str],
    marks: Sequence[AnomalyMarks],
    mark_colours: Mapping[str, str],
    convergence: bool,
    rings: bool,
) -> list[str]:
    items = [_swatch(c, f"fault: {n}", 0.6) for n, c in rows.items()]
    if marks:
        items.append("<span>anomalies (ticks: witness ops):</span>")
        items += [
            f'<span><i class="tk" style="background:{mark_colours.get(m.name, ALLOWED_COLOUR)}">'
            f"</i>{_esc(m.label)}</span>"
            for m in marks
        ]
    if rings:
        items.append('<span><i class="ring"></i>ringed: a forbidden anomaly\'s witness</span>')
    if convergence:
        items.append(f'<span><i class="sw conv"></i>{_esc(CONVERGENCE_LABEL)}</span>')
    return items


def _section(
    points: Sequence[Op],
    done: Sequence[Op],
    rows: Mapping[str, str],
    marks: Sequence[AnomalyMarks],
    mark_colours: Mapping[str, str],
    convergence: bool,
    note: str,
    heights: Mapping[str, int],
) -> str:
    fs = [f for f in PLOTTED_FS if any(o.f == f for o in points)]
    types = [t for t in TYPE_COLOURS if any(o.type == t for o in points)]
    rings = any(m.forbidden and m.indices for m in marks)
    shapes = "".join(f'<span><i class="sh">{_SHAPE_GLYPHS[f]}</i>{f}</span>' for f in fs)
    colours = "".join(_swatch(TYPE_COLOURS[t], _TYPE_WORDS[t]) for t in types)
    shared = _shared_legend(rows, marks, mark_colours, convergence, rings)
    done_types = [t for t in TYPE_COLOURS if any(o.type == t for o in done)]
    parts = [
        '<h2 id="plots">Latency and throughput</h2>',
        '<p class="note">Drag across a plot to zoom in on a time range (both plots follow), '
        "double-click to zoom out; hover a latency point to see its op, click it to jump to "
        "the op in the timeline. <code>eosim report STORE</code> also writes these plots as "
        "latency.png and throughput.png.</p>",
        '<noscript><p class="note">The plots are drawn by JavaScript, which is off: '
        "<code>eosim report STORE</code> writes them as latency.png and throughput.png."
        "</p></noscript>",
        f'<p class="note">{_esc(note)}</p>' if note else "",
        '<div class="plots">',
        '<h3 class="plot-title" id="plot-latency">Op latency (invoke → completion)</h3>',
    ]
    if points:
        parts += [
            f'<div class="plot" id="latency-plot" style="height:{heights["latency"]}px"></div>',
            f'<p class="legend plot-legend">{shapes}{colours}{"".join(shared)}</p>',
            '<p class="readout" id="latency-readout"></p>',
        ]
    else:
        parts.append('<p class="note">No completed send, poll or txn ops to plot.</p>')
    parts.append('<h3 class="plot-title" id="plot-throughput">Throughput (completed ops)</h3>')
    if done:
        legend = "".join(_swatch(TYPE_COLOURS[t], _TYPE_WORDS[t]) for t in done_types)
        shared = _shared_legend(rows, marks, mark_colours, convergence, False)
        parts += [
            f'<div class="plot" id="throughput-plot" style="height:{heights["throughput"]}px">'
            "</div>",
            f'<p class="legend plot-legend">{legend}{"".join(shared)}</p>',
            '<p class="readout" id="throughput-readout"></p>',
        ]
    else:
        parts.append('<p class="note">No completed ops to plot.</p>')
    parts.append("</div>")
    return "\n".join(p for p in parts if p)


def _json_for_script(data: Any) -> str:
    """Compact JSON that cannot end the script element it sits in."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _script(data: Mapping[str, Any]) -> str:
    js, css = uplot_assets()
    return (
        f"<style>{css}</style>\n"
        f'<script type="application/json" id="plot-data">{_json_for_script(data)}</script>\n'
        f"<script>{js}</script>\n<script>{DRAW_JS}</script>"
    )


# The drawing code. uPlot gives axes, scales, zoom and the cursor; the data, faults, strip,
# rings and convergence window are drawn on its canvas in hooks. Times arrive in microseconds.
DRAW_JS = r"""
(function () {
"use strict";
var D = JSON.parse(document.getElementById("plot-data").textContent);
var ROW = D.rowPx, US = 1e-6, FONT = "11px system-ui, sans-serif";
function undelta(a) { var o = new Array(a.length), s = 0; for (var i = 0; i < a.length; i++) { s += a[i]; o[i] = s * US; } return o; }
function px(n) { return n * uPlot.pxRatio; }
function alpha(hex, a) { var n = parseInt(hex.slice(1), 16); return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")"; }
function lowerBound(a, v) { var lo = 0, hi = a.length; while (lo < hi) { var m = (lo + hi) >> 1; if (a[m] < v) lo = m + 1; else hi = m; } return lo; }
var END = Math.max(D.end * US, 1e-3) * 1.01, CONV = D.conv == null ? null : D.conv * US;
var WINDOWS = D.windows.map(function (w) { return {row: w[0], start: w[1] * US, end: w[2] * US}; });
var ROWS = D.faults.map(function (f) { return {name: f.name, colour: f.colour}; }).concat(
  D.marks.map(function (m) { return {name: m.name, colour: m.colour}; }));
var STRIP = ROWS.length ? ROWS.length * ROW + 6 : 0;
var GUTTER = (function () {
  var c = document.createElement("canvas").getContext("2d"), w = 0;
  c.font = FONT;
  ROWS.forEach(function (r) { w = Math.max(w, c.measureText(r.name).width); });
  return Math.max(56, Math.ceil(w) + 14);
})();
var GRID = {stroke: "#ececec", width: 1};
var hatch = null;
function hatchPattern(ctx) {
  if (hatch) return hatch;
  var c = document.createElement("canvas"), s = Math.max(4, Math.round(px(4)));
  c.width = c.height = s;
  var g = c.getContext("2d");
  g.fillStyle = "#f0f0f0"; g.fillRect(0, 0, s, s);
  g.fillStyle = "#bdbdbd"; g.beginPath(); g.arc(s / 2, s / 2, px(0.9), 0, 2 * Math.PI); g.fill();
  hatch = ctx.createPattern(c, "repeat");
  return hatch;
}
function X(u, v) { return u.valToPos(v, "x", true); }
function stripTop(u) { return u.bbox.top - px(STRIP); }
function clipX(u, ctx, top, bottom) {
  ctx.beginPath(); ctx.rect(u.bbox.left, top, u.bbox.width, bottom - top); ctx.clip();
}
function drawConvergence(u) {
  if (CONV == null) return;
  var ctx = u.ctx, b = u.bbox, x0 = X(u, CONV), x1 = X(u, END);
  ctx.save(); clipX(u, ctx, stripTop(u), b.top + b.height);
  ctx.fillStyle = hatchPattern(ctx);
  ctx.fillRect(x0, stripTop(u), x1 - x0, b.top + b.height - stripTop(u));
  ctx.restore();
}
function drawConvergenceEdge(u) {
  if (CONV == null) return;
  var ctx = u.ctx, b = u.bbox, x0 = X(u, CONV);
  ctx.save(); clipX(u, ctx, stripTop(u), b.top + b.height);
  ctx.strokeStyle = "#555"; ctx.lineWidth = px(1); ctx.setLineDash([px(4), px(3)]);
  ctx.beginPath(); ctx.moveTo(x0, stripTop(u)); ctx.lineTo(x0, b.top + b.height); ctx.stroke();
  ctx.setLineDash([]);
  ctx.font = px(11) + "px system-ui, sans-serif"; ctx.textBaseline = "top"; ctx.textAlign = "left";
  var text = " " + D.convLabel + " ", w = ctx.measureText(text).width;
  // Right of the window's start; left of it when the window is too narrow for the label.
  var at = x0 + px(3) + w <= b.left + b.width ? x0 + px(3) : Math.max(b.left, x0 - px(3) - w);
  ctx.fillStyle = "rgba(255,255,255,.88)"; ctx.strokeStyle = "#bdbdbd"; ctx.lineWidth = px(1);
  ctx.fillRect(at, b.top + px(3), w, px(16)); ctx.strokeRect(at, b.top + px(3), w, px(16));
  ctx.fillStyle = "#333"; ctx.fillText(text, at, b.top + px(5));
  ctx.restore();
}
function drawFaults(u) {
  var ctx = u.ctx, b = u.bbox;
  ctx.save(); clipX(u, ctx, b.top, b.top + b.height);
  WINDOWS.forEach(function (w) {
    var c = D.faults[w.row].colour, x0 = X(u, w.start), x1 = X(u, w.end);
    if (w.end > w.start) {
      ctx.fillStyle = alpha(c, 0.13); ctx.fillRect(x0, b.top, x1 - x0, b.height);
      ctx.strokeStyle = alpha(c, 0.8); ctx.lineWidth = px(1);
    } else { ctx.strokeStyle = c; ctx.lineWidth = px(1.5); }
    ctx.beginPath();
    [x0, x1].forEach(function (x) { ctx.moveTo(x, b.top); ctx.lineTo(x, b.top + b.height); });
    ctx.stroke();
  });
  ctx.restore();
}
function drawStrip(u, ticks) {
  if (!STRIP) return;
  var ctx = u.ctx, b = u.bbox, top = stripTop(u);
  ctx.save();
  ctx.font = px(11) + "px system-ui, sans-serif"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
  ROWS.forEach(function (r, i) {
    var y = top + px(i * ROW + ROW / 2 + 2);
    ctx.fillStyle = r.colour; ctx.fillText(r.name, b.left - px(6), y);
    ctx.strokeStyle = "#e6e6e6"; ctx.lineWidth = px(0.6);
    ctx.beginPath(); ctx.moveTo(b.left, y); ctx.lineTo(b.left + b.width, y); ctx.stroke();
  });
  ctx.strokeStyle = "#ccc"; ctx.lineWidth = px(1);
  ctx.strokeRect(b.left, top, b.width, px(STRIP - 2));
  clipX(u, ctx, top, b.top);
  var h = px(ROW * 0.7);
  WINDOWS.forEach(function (w) {
    var y = top + px(w.row * ROW + ROW / 2 + 2), x0 = X(u, w.start), x1 = X(u, w.end);
    ctx.fillStyle = D.faults[w.row].colour;
    ctx.fillRect(x0, y - h / 2, Math.max(x1 - x0, px(1.5)), h);
  });
  D.marks.forEach(function (m, k) {
    var y = top + px((D.faults.length + k) * ROW + ROW / 2 + 2), times = ticks[k];
    ctx.strokeStyle = m.colour; ctx.globalAlpha = m.forbidden ? 1 : 0.6;
    ctx.lineWidth = px(m.forbidden ? 1.4 : 0.8);
    ctx.beginPath();
    for (var i = 0; i < times.length; i++) { var x = X(u, times[i]); ctx.moveTo(x, y - px(ROW * 0.42)); ctx.lineTo(x, y + px(ROW * 0.42)); }
    ctx.stroke();
  });
  ctx.restore();
}
function readout(id, text) { var el = document.getElementById(id); if (el) el.textContent = text; }
function fmt(t) { return (+t.toFixed(6)).toString(); }
function chart(el, opts, data) {
  var width = Math.max(480, el.clientWidth);
  opts.width = width;
  opts.legend = {show: false};
  opts.cursor = Object.assign({points: {show: false}, y: false, drag: {x: true, y: false}}, opts.cursor || {});
  opts.padding = [STRIP + 8, 18, 0, 0];
  opts.scales.x = {time: false, auto: false, range: function (u, lo, hi) { return lo == null ? [0, END] : [lo, hi]; }};
  var u = new uPlot(opts, data, el);
  u.setScale("x", {min: 0, max: END});
  return u;
}
var charts = [], syncing = false;
function syncX(u, key) {
  if (key !== "x" || syncing) return;
  syncing = true;
  charts.forEach(function (o) { if (o !== u) o.setScale("x", {min: u.scales.x.min, max: u.scales.x.max}); });
  syncing = false;
}
function resetOnDblclick(u) {
  u.over.addEventListener("dblclick", function () { u.setScale("x", {min: 0, max: END}); });
}
function latency() {
  var el = document.getElementById("latency-plot");
  if (!el) return;
  var L = D.latency, T = undelta(L.t), n = T.length, Y = new Array(n), OP = new Array(n), s = 0;
  for (var i = 0; i < n; i++) { Y[i] = L.y[i] / 1000; s += L.op[i]; OP[i] = s; }
  var byClass = L.classes.map(function () { return []; });
  for (i = 0; i < n; i++) byClass[L.k.charCodeAt(i) - 48].push(i);
  var lo = Infinity, hi = 0;
  for (i = 0; i < n; i++) { lo = Math.min(lo, Y[i]); hi = Math.max(hi, Y[i]); }
  lo = Math.pow(10, Math.floor(Math.log10(lo))); hi = Math.pow(10, Math.ceil(Math.log10(hi)));
  if (hi <= lo) hi = lo * 10;
  var ticks = L.ticks.map(undelta);
  function Yp(u, v) { return u.valToPos(v, "y", true); }
  function drawPoints(u) {
    var ctx = u.ctx, b = u.bbox, i0 = lowerBound(T, u.scales.x.min), i1 = lowerBound(T, u.scales.x.max + 1e-9);
    ctx.save(); clipX(u, ctx, b.top, b.top + b.height); ctx.globalAlpha = 0.7;
    L.classes.forEach(function (c, k) {
      var r = px(c.big ? 2.6 : 1.7), idx = byClass[k], j0 = lowerBound(idx, i0);
      ctx.fillStyle = c.colour; ctx.beginPath();
      for (var j = j0; j < idx.length && idx[j] < i1; j++) {
        var p = idx[j], x = X(u, T[p]), y = Yp(u, Y[p]);
        if (c.shape === "circle") { ctx.moveTo(x + r, y); ctx.arc(x, y, r, 0, 2 * Math.PI); }
        else if (c.shape === "triangle") { ctx.moveTo(x, y - r * 1.2); ctx.lineTo(x + r * 1.1, y + r * 0.8); ctx.lineTo(x - r * 1.1, y + r * 0.8); ctx.closePath(); }
        else ctx.rect(x - r, y - r, 2 * r, 2 * r);
      }
      ctx.fill();
    });
    ctx.globalAlpha = 1; ctx.lineWidth = px(1.2);
    L.rings.forEach(function (ring) {
      ctx.strokeStyle = D.marks[ring[0]].colour; ctx.beginPath();
      ring[1].forEach(function (p) { var x = X(u, T[p]), y = Yp(u, Y[p]); ctx.moveTo(x + px(5), y); ctx.arc(x, y, px(5), 0, 2 * Math.PI); });
      ctx.stroke();
    });
    ctx.restore();
  }
  var hovered = -1, down = null;
  function nearest(u) {
    var l = u.cursor.left, t = u.cursor.top;
    if (l == null || l < 0) return -1;
    var a = lowerBound(T, u.posToVal(l - 8, "x")), best = -1, bd = 64;
    for (var i = a; i < n && T[i] <= u.posToVal(l + 8, "x"); i++) {
      var dx = u.valToPos(T[i], "x") - l, dy = u.valToPos(Y[i], "y") - t, d = dx * dx + dy * dy;
      if (d <= bd) { bd = d; best = i; }
    }
    return best;
  }
  var u = chart(el, {
    height: D.heights.latency,
    scales: {y: {distr: 3, log: 10, auto: false, range: function () { return [lo, hi]; }}},
    axes: [
      {label: "invoke time (simulated s)", labelSize: 22, grid: GRID},
      {label: "latency (ms)", labelSize: 22, size: GUTTER, grid: GRID},
    ],
    series: [{}, {paths: function () { return null; }, points: {show: false}}],
    hooks: {
      drawClear: [drawConvergence],
      draw: [drawPoints, drawFaults, function (u) { drawStrip(u, ticks); }, drawConvergenceEdge],
      setScale: [syncX],
      setCursor: [function (u) {
        var i = nearest(u);
        if (i === hovered) return;
        hovered = i;
        if (i < 0) { readout("latency-readout", ""); return; }
        var c = L.classes[L.k.charCodeAt(i) - 48];
        var there = document.getElementById("op-" + OP[i]);
        readout("latency-readout", "op " + OP[i] + ": " + c.f + " " + c.type + ", invoked at " + fmt(T[i]) +
          " s, latency " + (+Y[i].toPrecision(4)) + " ms" + (there ? " (click to show it in the timeline)" : " (not in the timeline: beyond its cap)"));
      }],
    },
  }, [[0, END], [lo, hi]]);
  u.over.addEventListener("mousedown", function (e) { down = [e.clientX, e.clientY]; });
  u.over.addEventListener("click", function (e) {
    var moved = down && Math.abs(e.clientX - down[0]) + Math.abs(e.clientY - down[1]) > 3;
    if (!moved && hovered >= 0 && document.getElementById("op-" + OP[hovered])) location.hash = "op-" + OP[hovered];
  });
  resetOnDblclick(u);
  charts.push(u);
}
function throughput() {
  var el = document.getElementById("throughput-plot");
  if (!el) return;
  var P = D.throughput, w = P.width, nb = P.counts.length ? P.counts[0].length : 0, top = 1;
  for (var b = 0; b < nb; b++) { var sum = 0; P.counts.forEach(function (c) { sum += c[b]; }); top = Math.max(top, sum / w * 1.15); }
  var ticks = P.ticks.map(undelta);
  function drawBars(u) {
    var ctx = u.ctx, bb = u.bbox;
    ctx.save(); clipX(u, ctx, bb.top, bb.top + bb.height); ctx.globalAlpha = 0.85;
    for (var b = 0; b < nb; b++) {
      var x0 = X(u, b * w), x1 = X(u, (b + 1) * w), base = 0;
      P.counts.forEach(function (c, k) {
        if (!c[b]) return;
        var y0 = u.valToPos(base, "y", true), y1 = u.valToPos(base + c[b] / w, "y", true);
        ctx.fillStyle = P.types[k].colour; ctx.fillRect(x0, y1, Math.max(x1 - x0, px(1)), y0 - y1);
        base += c[b] / w;
      });
    }
    ctx.restore();
  }
  var u = chart(el, {
    height: D.heights.throughput,
    scales: {y: {auto: false, range: function () { return [0, top]; }}},
    axes: [
      {label: "completion time (simulated s)", labelSize: 22, grid: GRID},
      {label: "completed ops/s (" + w + " s bins)", labelSize: 22, size: GUTTER, grid: GRID},
    ],
    series: [{}, {paths: function () { return null; }, points: {show: false}}],
    hooks: {
      drawClear: [drawConvergence],
      draw: [drawBars, drawFaults, function (u) { drawStrip(u, ticks); }, drawConvergenceEdge],
      setScale: [syncX],
      setCursor: [function (u) {
        var l = u.cursor.left;
        if (l == null || l < 0) { readout("throughput-readout", ""); return; }
        var b = Math.floor(u.posToVal(l, "x") / w);
        if (b < 0 || b >= nb) { readout("throughput-readout", ""); return; }
        var parts = P.types.map(function (t, k) { return P.counts[k][b] + " " + t.name; });
        readout("throughput-readout", fmt(b * w) + "–" + fmt((b + 1) * w) + " s: " + parts.join(", ") + " completed");
      }],
    },
  }, [[0, END], [0, top]]);
  resetOnDblclick(u);
  charts.push(u);
}
latency();
throughput();
var resizing = null;
window.addEventListener("resize", function () {
  clearTimeout(resizing);
  resizing = setTimeout(function () {
    charts.forEach(function (u) { var el = u.root.parentNode; u.setSize({width: Math.max(480, el.clientWidth), height: u.height}); });
  }, 100);
});
})();
"""
