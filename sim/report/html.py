"""timeline.html: summary first, then the Jepsen-style timeline.

A reader of a failing run wants, in this order: the verdict; each forbidden anomaly with its count
(the terminal's count), what the name means, one witness in words and the ops behind it (linked
into the timeline and to a message diagram); the allowed anomalies, collapsed; the latency and
throughput plots; then the timeline. Self-contained (the plots' script and data are inlined, no
CDN), so it opens offline and from a CI artefact; everything but the plots works without script.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from checkers.meanings import meaning
from sim.report.browser_plots import CSS as PLOTS_CSS
from sim.report.browser_plots import PagePlots
from sim.report.model import WIDE_WITNESS_S, Lane, Op, Window, Witness, short_json
from sim.report.timeline import CSS as TIMELINE_CSS
from sim.report.timeline import Timeline, fmt_t, lane_lookup

WITNESS_ROWS = 100  # rows per anomaly in the collapsed "all witnesses" table

CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:12px;color:#222;max-width:1360px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}
h3{font-size:15px;margin:0 0 4px}
table{border-collapse:collapse;margin:6px 0 10px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.valid-true{color:#176b2c}.valid-false{color:#b00020}.valid-unknown{color:#8a6d00}
.facts{color:#444;margin:2px 0 10px}
.known{color:#7a5b00;background:#fff6d6;border-left:4px solid #e0b000;padding:4px 8px;margin:4px 0}
.note{color:#555;margin:4px 0}
.anomaly{border:1px solid #ddd;border-left:5px solid #b00020;padding:8px 10px;margin:8px 0;
 background:#fff8f8}
.anomaly.allowed{border-left-color:#c9a400;background:#fffdf3}
.anomaly.warning{border-left-color:#4a7fb5;background:#f6f9ff}
.badge{display:inline-block;font-size:11px;font-weight:bold;text-transform:uppercase;
 padding:1px 6px;border-radius:3px;color:#fff;background:#b00020;margin-right:6px;vertical-align:2px}
.allowed .badge{background:#9a7d00}.warning .badge{background:#4a7fb5}
.count{color:#555;font-weight:normal}
.meaning{margin:2px 0 6px;color:#333}
.example{margin:4px 0}
table.wops td{font-size:12px}
.sw{display:inline-block;width:11px;height:11px;vertical-align:middle;margin-right:4px;
 border:1px solid #888}
details{margin:6px 0}summary{cursor:pointer;color:#0645ad}
.legend span{display:inline-block;margin-right:14px}
.all td{font-size:12px}
a.w{margin-right:4px}
"""

TYPE_COLOURS = {"ok": "#8fd694", "fail": "#f4a3b4", "info": "#ffd166", "pending": "#c8c8c8"}
_OP_MENTION = re.compile(r"\bops? \d+(?:(?:, | and )\d+)*")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_timeline(
    ops: Sequence[Op],
    windows: Sequence[Window],
    results: Mapping[str, Any],
    witness_list: Sequence[Witness],
    counts: Mapping[str, int],
    dropped: int,
    cap: int,
    *,
    lanes: Sequence[Lane] | None = None,
    config: Mapping[str, Any] | None = None,
    diagrams: Mapping[str, str] | None = None,
    all_ops: Sequence[Op] | None = None,
    plots: PagePlots | None = None,
) -> str:
    """The whole page as a string; deterministic for the same inputs.

    ``counts`` are the true totals (results["counts"]), not the witnesses kept; ``diagrams``
    maps an anomaly name to the message diagram of its first witness; ``all_ops`` (default
    ``ops``) lets a witness op that the timeline cap left out still be described; ``plots``
    (see ``browser_plots.page_plots``) go between the summary and the timeline."""
    config = config or {}
    if lanes is None:
        from sim.report.model import lanes_for

        lanes = lanes_for(ops, results)
    end = config.get("time-limit")
    timeline = Timeline(ops, windows, lanes, float(end) if isinstance(end, int | float) else None)
    present = {i for o in ops for i in o.indices} | {i for w in windows for i in w.indices}
    by_index = {i: o for o in (all_ops if all_ops is not None else ops) for i in o.indices}
    summary = _Summary(results, witness_list, counts, present, by_index, lanes, diagrams or {})
    # Outline the ops behind forbidden anomalies only (allowed ones would drown them), and the
    # ops of each forbidden anomaly's first witness (the one the summary explains) strongest.
    forbidden = [w for w in witness_list if _status(results, w.anomaly) == "forbidden"]
    wit_ops = {i for w in forbidden for i in w.ops}
    examples: dict[str, Witness] = {}
    for w in forbidden:
        examples.setdefault(w.anomaly, w)
    example_ops = {i for w in examples.values() for i in w.ops}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<link rel="icon" href="data:,">',
        f"<title>eosim {_esc(_verdict_word(results))}: {_esc(results.get('mode', ''))} seed "
        f"{_esc(results.get('seed', ''))}</title>",
        f"<style>{CSS}{TIMELINE_CSS}{PLOTS_CSS if plots else ''}</style></head><body>",
        _heading(results, config, windows, plots is not None),
        summary.render(),
        plots.section if plots else "",
        '<h2 id="timeline">Timeline</h2>',
        _legend(),
        _cap_note(len(ops), dropped, cap),
        timeline.render(wit_ops, example_ops),
        _details(results, config),
        plots.script if plots else "",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _verdict_word(results: Mapping[str, Any]) -> str:
    return {True: "VALID", False: "INVALID"}.get(results.get("valid"), "UNKNOWN")  # type: ignore[arg-type]


def verdict_sentence(results: Mapping[str, Any]) -> str:
    """The same sentence the terminal prints after the verdict."""
    valid = results.get("valid")
    mode = results.get("mode", "?")
    if valid is True:
        return f"mode {mode} kept its promise"
    if valid is False:
        broken = results.get("forbidden") or results.get("anomaly_types") or []
        return f"mode {mode} forbids {', '.join(str(b) for b in broken)}"
    reason = results.get("unknown_reason")
    return str(reason) if reason else "nothing was checkable"


def _heading(
    results: Mapping[str, Any],
    config: Mapping[str, Any],
    windows: Sequence[Window],
    plots: bool = False,
) -> str:
    valid = results.get("valid")
    cls = {True: "valid-true", False: "valid-false"}.get(valid, "valid-unknown")  # type: ignore[arg-type]
    facts = []
    for label, key in (("mode", "mode"), ("workload", "workload"), ("kafka", "kafka.version")):
        value = results.get(key, config.get(key))
        if value is not None:
            facts.append(f"{label} {value}")
    if "seed" in results or "seed" in config:
        facts.append(f"seed {results.get('seed', config.get('seed'))}")
    stats = results.get("stats") if isinstance(results.get("stats"), dict) else {}
    assert isinstance(stats, dict)
    for key in ("ops", "sends_ok", "sends_info", "txns"):
        if stats.get(key):
            facts.append(f"{key.replace('_', ' ')} {stats[key]}")
    if "sim_time" in stats:
        facts.append(f"{fmt_t(float(stats['sim_time']))} s simulated")
    if results.get("digest"):
        facts.append(f"digest {str(results['digest'])[:16]}")
    faults: dict[str, int] = {}
    for w in windows:
        faults[w.name] = faults.get(w.name, 0) + 1
    fault_text = ", ".join(f"{n} ×{c}" for n, c in faults.items()) or "none"
    plot_links = (
        '<a href="#plot-latency">latency plot</a> · <a href="#plot-throughput">throughput plot</a> · '
        if plots
        else ""
    )
    from checkers.report_text import known_real_lines

    known = "".join(
        f'<p class="known">{_esc(line)}</p>' for line in known_real_lines(dict(results))
    )
    return (
        f'<h1 class="{cls}">{_verdict_word(results)}: {_esc(verdict_sentence(results))}</h1>'
        f"{known}"
        f'<p class="facts">{_esc(" · ".join(facts))}</p>'
        f'<p class="facts">faults that ran: {_esc(fault_text)} · '
        f'<a href="#timeline">timeline</a> · {plot_links}<a href="results.json">results.json</a>'
        "</p>"
    )


def _status(results: Mapping[str, Any], name: str) -> str:
    if name in (results.get("warnings") or []):
        return "warning"
    forbidden = results.get("forbidden")
    if isinstance(forbidden, list):
        return "forbidden" if name in forbidden else "allowed"
    if name in (results.get("allowed") or []):
        return "allowed"
    return "forbidden" if results.get("valid") is False else "allowed"


class _Summary:
    """Forbidden anomalies first, each explained by one witness; allowed ones collapsed."""

    def __init__(
        self,
        results: Mapping[str, Any],
        witness_list: Sequence[Witness],
        counts: Mapping[str, int],
        present: set[int],
        by_index: Mapping[int, Op],
        lanes: Sequence[Lane],
        diagrams: Mapping[str, str],
    ) -> None:
        self.results = results
        self.by_name: dict[str, list[Witness]] = {}
        for w in witness_list:
            self.by_name.setdefault(w.anomaly, []).append(w)
        self.counts = dict(counts)
        for name, ws in self.by_name.items():
            self.counts.setdefault(name, len(ws))
        self.present = present
        self.by_index = by_index
        self.lanes = lane_lookup(lanes)
        self.diagrams = diagrams

    def render(self) -> str:
        if not self.counts:
            return '<p class="note">No anomalies found.</p>'
        groups: dict[str, list[str]] = {"forbidden": [], "allowed": [], "warning": []}
        for name in sorted(self.counts):
            groups[_status(self.results, name)].append(name)
        parts = []
        if groups["forbidden"]:
            parts.append("<h2>Forbidden by this mode: the promise was broken</h2>")
            parts += [self._section(n, "forbidden") for n in groups["forbidden"]]
        for status, title in (
            ("allowed", f"allowed by {self.results.get('mode', 'this mode')} (not violations)"),
            ("warning", "warnings (never make a run invalid)"),
        ):
            names = groups[status]
            if names:
                listing = ", ".join(f"{n} {self.counts[n]}" for n in names)
                inner = "".join(self._section(n, status) for n in names)
                parts.append(
                    f'<details class="{status}"><summary>{len(names)} {_esc(title)}: '
                    f"{_esc(listing)}</summary>{inner}</details>"
                )
        return "\n".join(parts)

    def _section(self, name: str, status: str) -> str:
        ws = self.by_name.get(name, [])
        total = self.counts[name]
        parts = [
            f'<section class="anomaly {status}" id="anomaly-{_esc(name)}">',
            f'<h3><span class="badge">{status}</span>{_esc(name)} '
            f'<span class="count">× {total}</span></h3>',
        ]
        if meaning(name):
            parts.append(f'<p class="meaning">{_esc(meaning(name))}.</p>')
        if ws:
            first = ws[0]
            parts.append(f'<p class="example"><b>For example:</b> {self._explain(first)}</p>')
            parts.append(self._witness_ops(first))
            if name in self.diagrams:
                parts.append(
                    f'<p><a class="diagram" href="{_esc(self.diagrams[name])}">message diagram '
                    "of this witness</a> (every request and response around these ops)</p>"
                )
            else:
                window = self._window(first)
                if window:
                    parts.append(
                        '<p class="note">Its message diagram (one re-run of the store): '
                        f"<code>eosim report STORE --messages --from {window[0]:.3f} "
                        f"--to {window[1]:.3f}</code></p>"
                    )
            parts.append(self._all(name, ws, total))
        parts.append("</section>")
        return "".join(parts)

    def _window(self, w: Witness) -> tuple[float, float] | None:
        """The witness's ops from invoke to completion, padded; a witness spanning seconds
        (a write and a much later read) is drawn around its first op."""
        ops = [self.by_index[i] for i in w.ops if i in self.by_index]
        if not ops:
            return None
        if max(o.end or o.start for o in ops) - min(o.start for o in ops) > WIDE_WITNESS_S:
            ops = ops[:1]
        start = max(0.0, min(o.start for o in ops) - 0.05)
        return start, max(o.end or o.start for o in ops) + 0.05

    def _explain(self, w: Witness) -> str:
        text = str(w.details.get("explanation", "")) or short_json(
            {k: v for k, v in w.details.items() if k != "explanation"}, 300
        )
        return _linkify(text, self.present)

    def _witness_ops(self, w: Witness) -> str:
        rows = []
        for i in w.ops[:8]:
            o = self.by_index.get(i)
            if o is None:
                rows.append(f"<tr><td>op {i}</td><td colspan=4>not in the history</td></tr>")
                continue
            lane = self.lanes.get(o.process)
            who = lane.label if lane else f"process {o.process}"
            link = f'<a href="#op-{i}">op {i}</a>' if i in self.present else f"op {i}"
            value = o.value if o.complete_index is not None else o.invoke_value
            rows.append(
                f"<tr><td>{link}</td><td>{fmt_t(o.start)} s</td><td>{_esc(who)}</td>"
                f'<td><i class="sw" style="background:{TYPE_COLOURS.get(o.type, "#ccc")}"></i>'
                f"{_esc(o.f)} {_esc(o.type)}</td><td>{_esc(short_json(value, 160))}</td></tr>"
            )
        more = f"<p class=note>and {len(w.ops) - 8} more ops</p>" if len(w.ops) > 8 else ""
        return (
            '<table class="wops"><tr><th>op</th><th>at</th><th>who</th><th>what</th>'
            f"<th>value</th></tr>{''.join(rows)}</table>{more}"
        )

    def _all(self, name: str, ws: Sequence[Witness], total: int) -> str:
        shown = ws[:WITNESS_ROWS]
        kept = (
            f"showing {len(shown)} of {total}"
            + ("; results.json keeps the first 100" if len(ws) < total else "")
            if len(shown) < total
            else f"all {total}"
        )
        rows = "".join(
            f"<tr><td>{k + 1}</td><td>{self._explain(w)}</td><td>{self._links(w)}</td></tr>"
            for k, w in enumerate(shown)
        )
        return (
            f'<details class="all"><summary>every {_esc(name)} witness ({kept})</summary>'
            f"<table><tr><th>#</th><th>explanation</th><th>ops</th></tr>{rows}</table></details>"
        )

    def _links(self, w: Witness) -> str:
        return " ".join(
            f'<a class="w" href="#op-{i}">op {i}</a>' if i in self.present else f"op {i} (absent)"
            for i in w.ops
        )


def _linkify(text: str, present: set[int]) -> str:
    """Escape ``text`` and turn each "op 12" / "ops 3, 4 and 9" into links into the timeline."""

    def link_numbers(match: re.Match[str]) -> str:
        return re.sub(
            r"\d+",
            lambda m: (
                f'<a href="#op-{m.group(0)}">{m.group(0)}</a>'
                if int(m.group(0)) in present
                else m.group(0)
            ),
            match.group(0),
        )

    out, last = [], 0
    for match in _OP_MENTION.finditer(text):
        out.append(_esc(text[last : match.start()]))
        out.append(link_numbers(match))
        last = match.end()
    out.append(_esc(text[last:]))
    return "".join(out)


def _legend() -> str:
    items = [
        (TYPE_COLOURS["ok"], "ok"),
        (TYPE_COLOURS["fail"], "fail"),
        (TYPE_COLOURS["info"], "info (outcome unknown)"),
        (TYPE_COLOURS["pending"], "invoked, never completed"),
        ("rgba(255,140,0,.25)", "fault active (darker over the lanes it hit)"),
    ]
    spans = "".join(
        f'<span><i class="sw" style="background:{c}"></i>{_esc(t)}</span>' for c, t in items
    )
    spans += (
        '<span><i class="sw" style="outline:2px solid #6a00c8"></i>op in a forbidden '
        'anomaly\'s witness</span><span><i class="sw" style="outline:3px solid #e0007a"></i>'
        "the example explained above</span>"
    )
    return (
        f'<p class="legend">{spans}</p><p class="note">One lane per process, grouped by client '
        "node; time runs downward; hover a box for its op.</p>"
    )


def _cap_note(shown: int, dropped: int, cap: int) -> str:
    if not dropped:
        return ""
    return (
        f'<p class="note">Showing {shown} ops (the first {cap} history lines plus all witness '
        f"ops); {dropped} later ops omitted.</p>"
    )


def _details(results: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    rows = [(k, results[k]) for k in ("digest", "stats", "promised") if k in results]
    body = "".join(
        f"<tr><th>{_esc(k)}</th><td>{_esc(short_json(v, 2000))}</td></tr>" for k, v in rows
    )
    conf = "".join(
        f"<tr><th>{_esc(k)}</th><td>{_esc(json.dumps(v, default=str))}</td></tr>"
        for k, v in config.items()
    )
    return (
        f"<details><summary>run details: stats and configuration</summary><table>{body}</table>"
        f"<table>{conf}</table></details>"
    )
