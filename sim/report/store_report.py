"""A store directory's report: timeline.html (summary first, then the latency and throughput
plots drawn in the browser, then the timeline), for a failing simulated run one message diagram
per forbidden anomaly, linked from its witness, and on request latency.png and throughput.png.

Only the PNGs need matplotlib, and it is imported only when they are asked for: ``eosim run``
writes the page alone (its plots are data and a script), ``eosim report`` the PNGs as well.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from checkers.gcpause import gc_paused
from sim.errors import UsageError
from sim.report.browser_plots import page_plots
from sim.report.html import render_timeline
from sim.report.marks import anomaly_marks, convergence_from_config
from sim.report.model import (
    WIDE_WITNESS_S,
    Witness,
    anomaly_counts,
    load_config,
    load_history,
    load_results,
    nemesis_windows,
    pair_ops,
    select_ops,
    witnesses,
)
from sim.report.plots import MAX_TIMELINE_OPS
from sim.runs.store import write_atomic

DIAGRAMS_PER_RUN = 3  # each diagram re-runs the simulation once (traces are never stored)


def write_report(
    store_dir: str | Path,
    max_ops: int = MAX_TIMELINE_OPS,
    diagrams: bool = True,
    *,
    history: Sequence[Mapping[str, Any]] | None = None,
    results: Mapping[str, Any] | None = None,
    pngs: bool = False,
) -> list[Path]:
    """Write timeline.html (with its plots) into ``store_dir``, and with ``pngs`` latency.png
    and throughput.png too (matplotlib); return their paths (message diagrams, when written,
    are linked from the timeline and not returned).

    Reads history.jsonl (required) and results.json (optional: without it there are no
    witnesses and the verdict is taken from config.toml where possible). A run that has just
    written the store passes its ``history`` ops and ``results`` instead, which are what those
    files hold, and the report does not read them back. The collector is paused meanwhile: the
    history is many small objects and no cycles (see ``checkers.gcpause``).
    """
    with gc_paused():
        return _write_report(store_dir, max_ops, diagrams, history, results, pngs)


def _write_report(
    store_dir: str | Path,
    max_ops: int,
    diagrams: bool,
    history: Sequence[Mapping[str, Any]] | None,
    results: Mapping[str, Any] | None,
    pngs: bool,
) -> list[Path]:
    store = Path(store_dir)
    if history is None:
        history = load_history(store / "history.jsonl")
    config = load_config(store / "config.toml")
    if results is None:
        results = load_results(store / "results.json")
    results = results or _verdict_from_config(config)
    ops = pair_ops(history)
    windows = nemesis_windows(history)
    wits = witnesses(results)
    shown, dropped = select_ops(ops, max_ops, {i for w in wits for i in w.ops})
    links = witness_diagrams(store, history, results, wits) if diagrams else {}
    marks, convergence = anomaly_marks(results), convergence_from_config(store / "config.toml")
    page = render_timeline(
        shown,
        windows,
        results,
        wits,
        anomaly_counts(results),
        dropped,
        max_ops,
        config=config,
        all_ops=ops,
        diagrams=links,
        plots=page_plots(ops, windows, marks, convergence),
    )
    timeline = store / "timeline.html"
    write_atomic(timeline, page)
    if not pngs:
        return [timeline]
    from sim.report.plots import latency_plot, throughput_plot

    return [
        timeline,
        latency_plot(ops, windows, store / "latency.png", marks, convergence),
        throughput_plot(ops, windows, store / "throughput.png", marks, convergence),
    ]


def witness_diagrams(
    store: Path,
    history: Sequence[Mapping[str, Any]],
    results: Mapping[str, Any],
    wits: Sequence[Witness],
) -> dict[str, str]:
    """``messages-<anomaly>.html`` for the first witness of each forbidden anomaly (at most
    DIAGRAMS_PER_RUN), drawn from a traced re-run of the store; {anomaly: file name}.

    Only a store eosim simulated can be re-run (config.toml and faults.json); a store written
    by another version of eosim re-runs to another digest and simply gets no diagram."""
    forbidden = results.get("forbidden")
    if not isinstance(forbidden, list) or not forbidden:
        return {}
    if not ((store / "config.toml").is_file() and (store / "faults.json").is_file()):
        return {}
    from sim.report.messages import witness_window, write_witness_messages

    firsts: dict[str, Witness] = {}
    for w in wits:
        if w.anomaly in forbidden and w.ops:
            firsts.setdefault(w.anomaly, w)
    links: dict[str, str] = {}
    for name, w in list(firsts.items())[:DIAGRAMS_PER_RUN]:
        ops = list(w.ops)
        try:
            start, end = witness_window(history, ops)
            if end - start > WIDE_WITNESS_S:
                ops = ops[:1]
            name_safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
            path = write_witness_messages(store, ops, out_path=store / f"messages-{name_safe}.html")
        except UsageError:
            continue
        links[name] = path.name
    return links


def _verdict_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Without results.json the page can still say which run it is."""
    if not config:
        return {}
    out: dict[str, Any] = {"valid": "unknown"}
    out.update({k: config[k] for k in ("mode", "seed") if k in config})
    return out
