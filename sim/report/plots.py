"""The plots of a run: latency.png, throughput.png, and the scenarios' lag plots.

Matplotlib is imported inside the plotting functions so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sim.report.marks import AnomalyMarks, Convergence, witness_ops
from sim.report.model import (
    Op,
    Window,
)
from sim.runs.store import atomic_path

__all__ = [
    "CONVERGENCE_LABEL",
    "MAX_TIMELINE_OPS",
    "lag_figure",
    "lag_plot",
    "latency_figure",
    "latency_plot",
    "throughput_figure",
    "throughput_plot",
]

MAX_TIMELINE_OPS = 20000  # history lines drawn in the timeline; witness ops are always added
PLOTTED_FS = ("send", "poll", "txn")
TYPE_COLOURS = {"ok": "#2ca02c", "info": "#ff9f1c", "fail": "#d62728"}  # drawing order
_SIZES = {"ok": 6, "info": 14, "fail": 14}  # rarer outcomes drawn larger and on top
_MARKERS = {"send": "o", "poll": "^", "txn": "s"}
_PNG_META = {"Software": None}

WindowLike = Window | tuple[float, float] | tuple[float, float, str]


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


# Neither list uses the outcome colours (green, orange, red) of the data.
FAULT_PALETTE = ["#1f77b4", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f"]
ANOMALY_PALETTE = ["#000000", "#e7298a", "#4d4dff", "#8c510a"]  # forbidden types
ALLOWED_COLOUR = "#9a9a9a"
_SERIES_COLOURS = ["#d62728", "#2ca02c", "#ff7f0e", "#000000", "#e7298a"]  # lag plot lines
_FAULT_Z, _RING_Z, _TEXT_Z = 3.0, 4.0, 5.0  # data (bars, points, lines) sit at zorder 1-2
CONVERGENCE_LABEL = "convergence: faults healed, final reads"
_ROW_IN = 0.22  # strip height per row, inches


class _Frame:
    """A figure with the data axes and, above it, a strip with one row per nemesis name and one
    per anomaly type, so faults and witnesses stay visible whatever the data covers."""

    def __init__(
        self,
        size: tuple[float, float],
        windows: Sequence[WindowLike],
        marks: Sequence[AnomalyMarks] = (),
    ) -> None:
        plt = _pyplot()
        # A nemesis window's row is its nemesis name, in the legend as "fault: name"; a
        # (start, end, label) tuple's (e.g. "open transaction" on a lag plot) is its label as is.
        self.windows = [(w.name if isinstance(w, Window) else _as_window(w).label, _as_window(w))
                        for w in windows]  # fmt: skip
        self.legend_names = {
            name: f"fault: {name}" if isinstance(w, Window) else name
            for name, w in zip((n for n, _ in self.windows), windows, strict=True)
        }
        self.colours: dict[str, str] = {}
        for name, _ in self.windows:
            self.colours.setdefault(name, FAULT_PALETTE[len(self.colours) % len(FAULT_PALETTE)])
        self.marks = list(marks)
        forbidden = [m for m in self.marks if m.forbidden]
        self.mark_colours = {
            m.name: ANOMALY_PALETTE[i % len(ANOMALY_PALETTE)] for i, m in enumerate(forbidden)
        }
        self.rows = [*self.colours, *(m.name for m in self.marks)]
        self.strip: Any = None
        self.ringed = False  # whether witness ops are ringed in the data (one legend entry)
        if self.rows:
            strip_h = _ROW_IN * len(self.rows) + 0.15
            fig, (self.strip, self.ax) = plt.subplots(
                2, 1, sharex=True, figsize=(size[0], size[1] + strip_h), layout="constrained",
                height_ratios=[strip_h, size[1] - 0.9], gridspec_kw={"hspace": 0.02},
            )  # fmt: skip
            self._setup_strip()
        else:
            fig, self.ax = plt.subplots(figsize=size, layout="constrained")
        self.fig = fig

    def _setup_strip(self) -> None:
        s = self.strip
        s.set_ylim(len(self.rows) - 0.5, -0.5)
        s.set_yticks(range(len(self.rows)), self.rows, fontsize=8)
        for tick, name in zip(s.get_yticklabels(), self.rows, strict=True):
            tick.set_color(self.colours.get(name) or self.mark_colours.get(name, ALLOWED_COLOUR))
        s.tick_params(axis="y", length=0)
        s.tick_params(axis="x", labelbottom=False)
        s.grid(axis="y", color="#e6e6e6", lw=0.6)
        s.set_axisbelow(True)

    def faults(self) -> None:
        """Each window as a bar in its nemesis's strip row, and over the data as a translucent
        span with solid edges drawn above the data; one legend entry per nemesis name."""
        seen: set[str] = set()
        for name, w in self.windows:
            colour = self.colours[name]
            label = None if name in seen else self.legend_names[name]
            seen.add(name)
            if w.end > w.start:
                self.ax.axvspan(
                    w.start, w.end, facecolor=colour, alpha=0.13, edgecolor="none",
                    zorder=_FAULT_Z, label=label,
                )  # fmt: skip
                for x in (w.start, w.end):
                    self.ax.axvline(x, color=colour, lw=1.0, alpha=0.8, zorder=_FAULT_Z)
            else:
                self.ax.axvline(w.start, color=colour, lw=1.5, zorder=_FAULT_Z, label=label)
            if self.strip is not None:
                row = self.rows.index(name)
                width = max(w.end - w.start, 0.0)
                self.strip.broken_barh(
                    [(w.start, width)], (row - 0.35, 0.7), facecolors=colour,
                    edgecolors=colour, linewidth=1.0 if width else 1.5,
                )  # fmt: skip

    def anomalies(
        self, xs: Mapping[int, float], rings: Mapping[int, tuple[float, float]] | None = None
    ) -> None:
        """Each anomaly type's witness ops as ticks in its strip row (forbidden ones dark, allowed
        ones faint); ``rings`` (index -> data point) circles forbidden witnesses in the data."""
        for m in self.marks:
            colour = self.mark_colours.get(m.name, ALLOWED_COLOUR)
            times = sorted({xs[i] for i in m.indices if i in xs})
            row = self.rows.index(m.name)
            if self.strip is not None:
                self.strip.plot(
                    times, [row] * len(times), linestyle="none", marker="|", markersize=9,
                    markeredgewidth=1.4 if m.forbidden else 0.8, color=colour,
                    alpha=1.0 if m.forbidden else 0.6, label=m.label, rasterized=len(times) > 50,
                )  # fmt: skip
            if rings is not None and m.forbidden:
                pts = sorted({rings[i] for i in m.indices if i in rings})
                if pts:
                    self.ringed = True
                    self.ax.scatter(
                        [p[0] for p in pts], [p[1] for p in pts], s=60, facecolors="none",
                        edgecolors=colour, linewidths=1.2, zorder=_RING_Z,
                    )  # fmt: skip

    def convergence(self, conv: Convergence | None, end: float) -> None:
        """Shade and label the window after the workload's time limit, behind the data."""
        if conv is None or conv.start >= end:
            return
        axes = [self.ax] if self.strip is None else [self.ax, self.strip]
        for ax in axes:
            ax.axvspan(
                conv.start, end, facecolor="#f0f0f0", edgecolor="#bdbdbd", hatch="..",
                lw=0, zorder=0, label=CONVERGENCE_LABEL if ax is self.ax else None,
            )  # fmt: skip
            ax.axvline(conv.start, color="#555555", lw=1.0, ls="--", zorder=_FAULT_Z)
        self.ax.text(
            conv.start, 0.985, f" {CONVERGENCE_LABEL} ", transform=self.ax.get_xaxis_transform(),
            ha="left", va="top", fontsize=8, color="#333333", zorder=_TEXT_Z, clip_on=True,
            bbox={"facecolor": "white", "edgecolor": "#bdbdbd", "alpha": 0.85, "pad": 2},
        )  # fmt: skip

    def finish(self, xlabel: str, ylabel: str, title: str, x_end: float | None) -> Any:
        from matplotlib.lines import Line2D

        self.ax.set_xlabel(xlabel)
        self.ax.set_ylabel(ylabel)
        if x_end is not None and x_end > 0:
            self.ax.set_xlim(0.0, x_end * 1.01)
        top = self.ax if self.strip is None else self.strip
        top.set_title(title)
        handles, labels = self.ax.get_legend_handles_labels()
        if self.strip is not None:
            more = self.strip.get_legend_handles_labels()
            if more[0]:  # the anomaly rows: a header line saying what their ticks are
                header = Line2D([], [], linestyle="none", marker="none")
                handles, labels = [*handles, header], [*labels, "anomalies (ticks: witness ops):"]
            handles, labels = [*handles, *more[0]], [*labels, *more[1]]
        if self.ringed:
            ring = Line2D([], [], linestyle="none", marker="o", markersize=7,
                          markerfacecolor="none", markeredgecolor="#555555")  # fmt: skip
            handles, labels = [*handles, ring], [*labels, "ringed: a forbidden anomaly's witness"]
        if handles:
            self.fig.legend(handles, labels, loc="outside right upper", fontsize=8, markerscale=1.5)
        return self.fig


def _save(fig: Any, path: Path) -> Path:
    """Saved under a temporary name and renamed, like every store file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, metadata=_PNG_META, format="png")
    finally:
        _pyplot().close(fig)
    return path


def _x_end(ops: Sequence[Op], frame: _Frame, conv: Convergence | None) -> float:
    end = max((o.end if o.end is not None else o.start for o in ops), default=0.0)
    end = max([end, *(w.end for _, w in frame.windows)])
    return max(end, conv.start) if conv is not None else end


def latency_figure(
    ops: Sequence[Op],
    windows: Sequence[WindowLike],
    marks: Sequence[AnomalyMarks] = (),
    convergence: Convergence | None = None,
) -> Any:
    """The latency plot as a matplotlib Figure (``latency_plot`` saves it)."""
    frame = _Frame((11, 5), windows, marks)
    ax = frame.ax
    for kind, colour in TYPE_COLOURS.items():
        for f in PLOTTED_FS:
            sel = [o for o in ops if o.f == f and o.type == kind and o.latency is not None]
            if sel:
                ys = [max(o.latency or 0.0, 1e-6) * 1000 for o in sel]
                ax.scatter(
                    [o.start for o in sel], ys, s=_SIZES[kind], c=colour, marker=_MARKERS[f],
                    label=f"{f} {kind}", alpha=0.7, linewidths=0, rasterized=True, zorder=2,
                )  # fmt: skip
    ax.set_yscale("log")
    frame.faults()
    by_index = witness_ops(ops, marks)
    rings = {
        i: (o.start, max(o.latency or 0.0, 1e-6) * 1000)
        for i, o in by_index.items()
        if o.f in PLOTTED_FS and o.latency is not None
    }
    frame.anomalies({i: o.start for i, o in by_index.items()}, rings)
    x_end = _x_end(ops, frame, convergence)
    frame.convergence(convergence, x_end)
    title = "Op latency (invoke → completion)"
    return frame.finish("invoke time (simulated s)", "latency (ms)", title, x_end)


def latency_plot(
    ops: Sequence[Op],
    windows: Sequence[WindowLike],
    path: str | Path,
    marks: Sequence[AnomalyMarks] = (),
    convergence: Convergence | None = None,
) -> Path:
    """Latency of send/poll/txn ops against invoke time: slow spells line up with faults."""
    return _save(latency_figure(ops, windows, marks, convergence), Path(path))


def bin_width(span: float) -> float:
    """One-second bins, widened for long runs so a plot keeps at most ~300 bars."""
    width = 1.0
    while span / width > 300:
        width *= 2
    return width


def throughput_figure(
    ops: Sequence[Op],
    windows: Sequence[WindowLike],
    marks: Sequence[AnomalyMarks] = (),
    convergence: Convergence | None = None,
) -> Any:
    """The throughput plot as a matplotlib Figure (``throughput_plot`` saves it)."""
    frame = _Frame((11, 4), windows, marks)
    ax = frame.ax
    done = [o for o in ops if o.end is not None]
    span = max((o.end or 0.0 for o in done), default=0.0)
    width = bin_width(span)
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
                   label=kind, linewidth=0, alpha=0.85, zorder=1)  # fmt: skip
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_ylim(0.0, max(max(bottom) * 1.15, 1.0))  # headroom for the convergence label
    frame.faults()
    by_index = witness_ops(ops, marks)
    frame.anomalies({i: o.end if o.end is not None else o.start for i, o in by_index.items()})
    x_end = _x_end(ops, frame, convergence)
    frame.convergence(convergence, x_end)
    return frame.finish(
        "completion time (simulated s)", f"completed ops/s ({width:g} s bins)", "Throughput", x_end
    )


def throughput_plot(
    ops: Sequence[Op],
    windows: Sequence[WindowLike],
    path: str | Path,
    marks: Sequence[AnomalyMarks] = (),
    convergence: Convergence | None = None,
) -> Path:
    """Completed client ops per second by outcome: availability dips show up as gaps."""
    return _save(throughput_figure(ops, windows, marks, convergence), Path(path))


def lag_figure(
    series: Mapping[str, Sequence[tuple[float, float]]],
    title: str,
    windows: Sequence[WindowLike] = (),
    ylabel: str = "lag (messages)",
) -> Any:
    """The lag plot as a matplotlib Figure (``lag_plot`` saves it)."""
    frame = _Frame((10, 4), windows)
    for n, (name, points) in enumerate(series.items()):
        pts = sorted(points)
        frame.ax.step([t for t, _ in pts], [v for _, v in pts], where="post", label=name, zorder=2,
                      color=_SERIES_COLOURS[n % len(_SERIES_COLOURS)], lw=1.8)  # fmt: skip
    frame.faults()
    return frame.finish("time (simulated s)", ylabel, title, None)


def lag_plot(
    series: Mapping[str, Sequence[tuple[float, float]]],
    path: str | Path,
    title: str,
    windows: Sequence[WindowLike] = (),
    ylabel: str = "lag (messages)",
) -> Path:
    """Plot named (time, value) series, e.g. consumer lag under read_committed vs
    read_uncommitted, with fault windows drawn so cause and effect sit side by side.

    ``windows`` takes ``Window`` objects (see ``nemesis_windows``) or (start, end[, label]).
    """
    return _save(lag_figure(series, title, windows, ylabel), Path(path))
