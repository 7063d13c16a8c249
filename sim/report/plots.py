"""A store directory's report (timeline.html, latency.png, throughput.png) and the plots.

Matplotlib is imported inside the plotting functions so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sim.report.html import render_timeline
from sim.report.model import (
    Op,
    Window,
    anomaly_counts,
    load_config,
    load_history,
    load_results,
    nemesis_windows,
    pair_ops,
    select_ops,
    witnesses,
)
from sim.runs.store import atomic_path, write_atomic

__all__ = ["MAX_TIMELINE_OPS", "lag_plot", "latency_plot", "throughput_plot", "write_report"]

MAX_TIMELINE_OPS = 20000  # history lines drawn in the timeline; witness ops are always added
PLOTTED_FS = ("send", "poll", "txn")
TYPE_COLOURS = {"ok": "#2ca02c", "info": "#ff9f1c", "fail": "#d62728"}  # drawing order
_SIZES = {"ok": 6, "info": 14, "fail": 14}  # rarer outcomes drawn larger and on top
_MARKERS = {"send": "o", "poll": "^", "txn": "s"}
_PNG_META = {"Software": None}

WindowLike = Window | tuple[float, float] | tuple[float, float, str]


def write_report(store_dir: str | Path, max_ops: int = MAX_TIMELINE_OPS) -> list[Path]:
    """Write timeline.html, latency.png and throughput.png into ``store_dir``; return their paths.

    Reads history.jsonl (required) and results.json (optional: without it there are no
    witnesses and the verdict is taken from config.toml where possible).
    """
    store = Path(store_dir)
    history = load_history(store / "history.jsonl")
    config = load_config(store / "config.toml")
    results = load_results(store / "results.json") or _verdict_from_config(config)
    ops = pair_ops(history)
    windows = nemesis_windows(history)
    wits = witnesses(results)
    shown, dropped = select_ops(ops, max_ops, {i for w in wits for i in w.ops})
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
    )
    timeline = store / "timeline.html"
    write_atomic(timeline, page)
    return [
        timeline,
        latency_plot(ops, windows, store / "latency.png"),
        throughput_plot(ops, windows, store / "throughput.png"),
    ]


def _verdict_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Without results.json the page can still say which run it is."""
    if not config:
        return {}
    out: dict[str, Any] = {"valid": "unknown"}
    out.update({k: config[k] for k in ("mode", "seed") if k in config})
    return out


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _as_window(w: WindowLike) -> Window:
    if isinstance(w, Window):
        return w
    label = str(w[2]) if len(w) > 2 else "fault"
    return Window(float(w[0]), float(w[1]), label)


def _shade(ax: Any, windows: Sequence[WindowLike]) -> None:
    """Shade each fault window, one colour and one legend entry per nemesis name."""
    colours: dict[str, Any] = {}
    palette = ["#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
    for w in map(_as_window, windows):
        first = w.name not in colours
        colour = colours.setdefault(w.name, palette[len(colours) % len(palette)])
        label = f"nemesis: {w.name}" if first else None
        if w.end > w.start:
            ax.axvspan(w.start, w.end, color=colour, alpha=0.15, lw=0, label=label, zorder=0)
        else:
            ax.axvline(w.start, color=colour, alpha=0.6, lw=1, label=label, zorder=0)


def _save(fig: Any, path: Path) -> Path:
    """Saved under a temporary name and renamed, like every store file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, metadata=_PNG_META, format="png")
    finally:
        _pyplot().close(fig)
    return path


def latency_plot(ops: Sequence[Op], windows: Sequence[WindowLike], path: str | Path) -> Path:
    """Latency of send/poll/txn ops against invoke time: slow spells line up with faults."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 5), layout="constrained")
    _shade(ax, windows)
    for kind, colour in TYPE_COLOURS.items():
        for f in PLOTTED_FS:
            sel = [o for o in ops if o.f == f and o.type == kind and o.latency is not None]
            if sel:
                ys = [max(o.latency or 0.0, 1e-6) * 1000 for o in sel]
                ax.scatter(
                    [o.start for o in sel], ys, s=_SIZES[kind], c=colour, marker=_MARKERS[f],
                    label=f"{f} {kind}", alpha=0.7, linewidths=0, rasterized=True,
                )  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("time (simulated s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Op latency (invoke → completion)")
    _legend(ax)
    return _save(fig, Path(path))


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, markerscale=2)


def _bin_width(span: float) -> float:
    """One-second bins, widened for long runs so a plot keeps at most ~300 bars."""
    width = 1.0
    while span / width > 300:
        width *= 2
    return width


def throughput_plot(ops: Sequence[Op], windows: Sequence[WindowLike], path: str | Path) -> Path:
    """Completed client ops per second by outcome: availability dips show up as gaps."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 4), layout="constrained")
    _shade(ax, windows)
    done = [o for o in ops if o.end is not None]
    span = max((o.end or 0.0 for o in done), default=0.0)
    width = _bin_width(span)
    nbins = int(span // width) + 1
    bottom = [0.0] * nbins
    for kind, colour in TYPE_COLOURS.items():
        counts = [0.0] * nbins
        for o in done:
            if o.type == kind:
                counts[min(int((o.end or 0.0) // width), nbins - 1)] += 1 / width
        if any(counts):
            lefts = [i * width for i in range(nbins)]
            ax.bar(lefts, counts, width=width, bottom=bottom, align="edge", color=colour,
                   label=kind, linewidth=0, alpha=0.85)  # fmt: skip
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_xlabel("time (simulated s)")
    ax.set_ylabel(f"completed ops/s ({width:g} s bins)")
    ax.set_title("Throughput")
    _legend(ax)
    return _save(fig, Path(path))


def lag_plot(
    series: Mapping[str, Sequence[tuple[float, float]]],
    path: str | Path,
    title: str,
    windows: Sequence[WindowLike] = (),
    ylabel: str = "lag (messages)",
) -> Path:
    """Plot named (time, value) series, e.g. consumer lag under read_committed vs
    read_uncommitted, with fault windows shaded so cause and effect sit side by side.

    ``windows`` takes ``Window`` objects (see ``nemesis_windows``) or (start, end[, label]).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    _shade(ax, windows)
    for name, points in series.items():
        pts = sorted(points)
        ax.step([t for t, _ in pts], [v for _, v in pts], where="post", label=name)
    ax.set_xlabel("time (simulated s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _legend(ax)
    return _save(fig, Path(path))
