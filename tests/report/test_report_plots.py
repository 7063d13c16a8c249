"""The plots' artists, inspected on the matplotlib Figure (no pixel diffs): fault windows above the
data with one legend entry per nemesis, anomaly witnesses marked with their counts, and the
convergence window labelled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.report import nemesis_windows, write_report
from sim.report import plots as plots_mod
from sim.report.marks import Convergence, anomaly_marks, convergence_from_config
from sim.report.model import pair_ops
from sim.report.plots import (
    CONVERGENCE_LABEL,
    lag_figure,
    latency_figure,
    throughput_figure,
)
from tests.report.test_report_outputs import HISTORY, op, write_store

# Two fault windows of two nemeses, a lost write (op 7, a send) and an allowed duplicate-delivery.
NEM_HISTORY = [
    *HISTORY,
    op(13, 0.700, "nemesis", "info", "kill-broker", {"fault": 1, "phase": "start", "target": "b1"}),
    op(14, 0.800, "nemesis", "info", "kill-broker", {"fault": 1, "phase": "stop", "target": "b1"}),
    op(15, 0.900, 3, "ok", "send", [["send", "k1", [3, 4]]]),
    op(16, 1.500, 1, "invoke", "poll", [["poll"]]),
    op(17, 1.600, 1, "ok", "poll", [["poll", {"k1": [[3, 4]]}]]),
]
RESULTS = {
    "valid": False,
    "forbidden": ["lost-write"],
    "allowed": ["duplicate-delivery"],
    "counts": {"lost-write": 3, "duplicate-delivery": 1},
    "anomalies": {
        "lost-write": [{"key": "k1", "value": 2, "ops": [7, 11]}, {"ops": [15]}, {"ops": [7]}],
        "duplicate-delivery": [{"ops": [3]}],
    },
}


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def legend_texts(fig: Any) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def all_texts(fig: Any) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def labelled(ax: Any, label: str) -> list[Any]:
    return [a for a in ax.get_children() if getattr(a, "get_label", lambda: "")() == label]


def x_range(patch: Any) -> tuple[float, float]:
    """An axvspan's data x extent (a Rectangle since matplotlib 3.9, a Polygon before)."""
    if hasattr(patch, "get_width"):
        return patch.get_x(), patch.get_x() + patch.get_width()
    xs = [float(x) for x, _ in patch.get_xy()]
    return min(xs), max(xs)


def main_axes(fig: Any) -> Any:
    return fig.axes[-1]  # the data axes; the fault/anomaly strip, if any, sits above it


def figures() -> list[tuple[str, Any]]:
    ops, windows = pair_ops(NEM_HISTORY), nemesis_windows(NEM_HISTORY)
    marks = anomaly_marks(RESULTS)
    conv = Convergence(1.0, 1.4)
    return [
        ("latency", latency_figure(ops, windows, marks, conv)),
        ("throughput", throughput_figure(ops, windows, marks, conv)),
    ]


def test_fault_spans_are_drawn_above_the_bars_and_points() -> None:
    for name, fig in figures():
        ax = main_axes(fig)
        bars = [p for c in ax.containers for p in c]
        points = [c for c in ax.collections if c.get_label() in ("send ok", "poll ok")]
        data = [*bars, *points]
        assert data and (bars if name == "throughput" else points), name
        top_data = max(a.get_zorder() for a in data)
        for nemesis in ("drop-acks", "kill-broker"):
            spans = labelled(ax, f"fault: {nemesis}")
            assert len(spans) == 1, (name, nemesis)
            assert spans[0].get_zorder() > top_data, (name, nemesis)
            assert 0 < spans[0].get_alpha() < 0.5, "translucent: the data stays readable"
        texts = legend_texts(fig)
        assert texts.count("fault: drop-acks") == 1 and texts.count("fault: kill-broker") == 1


def test_strip_has_a_labelled_row_per_nemesis_and_anomaly() -> None:
    for name, fig in figures():
        strip = fig.axes[0]
        rows = [t.get_text() for t in strip.get_yticklabels()]
        assert rows == ["drop-acks", "kill-broker", "lost-write", "duplicate-delivery"], name
        bars = [c for c in strip.collections if len(c.get_paths()) > 0]
        assert len(bars) == 2, name  # one bar per fault window (drop-acks p2, kill-broker b1)


def test_anomaly_legend_has_counts_forbidden_prominent_allowed_faint() -> None:
    for name, fig in figures():
        texts = legend_texts(fig)
        assert "lost-write (3)" in texts, (name, texts)
        assert "duplicate-delivery (1, allowed)" in texts, (name, texts)
        strip = fig.axes[0]
        (lost,) = labelled(strip, "lost-write (3)")
        (dup,) = labelled(strip, "duplicate-delivery (1, allowed)")
        assert lost.get_alpha() == 1.0 and dup.get_alpha() < 1.0
        assert lost.get_markeredgewidth() > dup.get_markeredgewidth()
        xs = sorted(lost.get_xdata())
        if name == "latency":  # invoke times of ops 7 (invoked at 0.11), 11 (0.5), 15 (0.6)
            assert xs == pytest.approx([0.11, 0.5, 0.6])
        else:  # completion times
            assert xs == pytest.approx([0.3, 0.52, 0.9])


def test_latency_rings_forbidden_witnesses_only() -> None:
    fig = figures()[0][1]
    ax = main_axes(fig)
    rings = [c for c in ax.collections if len(c.get_facecolors()) == 0]
    assert len(rings) == 1  # lost-write only; the allowed duplicate-delivery is not ringed
    points = sorted(map(tuple, rings[0].get_offsets().tolist()))
    assert [x for x, _ in points] == pytest.approx([0.11, 0.5, 0.6])
    assert [y for _, y in points] == pytest.approx([190.0, 20.0, 300.0])  # their latencies, ms
    assert rings[0].get_zorder() > max(c.get_zorder() for c in ax.collections if c is not rings[0])
    assert "ringed: a forbidden anomaly's witness" in legend_texts(fig)


def test_convergence_window_is_shaded_and_labelled() -> None:
    for name, fig in figures():
        ax = main_axes(fig)
        assert CONVERGENCE_LABEL.startswith("convergence")
        assert CONVERGENCE_LABEL in legend_texts(fig), name
        assert any("convergence" in t for t in (x.get_text() for x in ax.texts)), name
        (span,) = labelled(ax, CONVERGENCE_LABEL)
        assert x_range(span) == pytest.approx((1.0, 1.6)), name  # time-limit to the end


def test_without_convergence_or_results_nothing_extra_is_drawn() -> None:
    ops, windows = pair_ops(HISTORY), nemesis_windows(HISTORY)
    fig = throughput_figure(ops, windows)
    texts = " ".join(all_texts(fig))
    assert "convergence" not in texts and "allowed" not in texts
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["drop-acks"]
    assert len(fig.axes) == 2  # strip + data
    assert len(throughput_figure(ops, []).axes) == 1  # no faults, no anomalies: no strip


def test_convergence_from_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    assert convergence_from_config(config) is None  # absent: skipped
    config.write_text('"time-limit" = 10.0\n"convergence" = 5.0\n')
    assert convergence_from_config(config) == Convergence(10.0, 15.0)
    config.write_text('seed = 3\n"convergence" = 5.0\n')
    assert convergence_from_config(config) is None
    config.write_text("not toml [")
    assert convergence_from_config(config) is None


def test_anomaly_marks_forbidden_count_and_cap() -> None:
    results = {
        "anomalies": {
            "duplicate": [{"ops": [i, i + 1]} for i in range(0, 20000, 2)],
            "stalled": [{"ops": [1]}],
        },
        "allowed": ["stalled"],
        "counts": {"duplicate": 12345},
    }
    start = time.perf_counter()
    marks = anomaly_marks(results, cap=50)
    assert time.perf_counter() - start < 0.05
    dup, stalled = marks
    assert (dup.name, dup.count, dup.forbidden, dup.label) == (
        "duplicate", 12345, True, "duplicate (12345)",
    )  # fmt: skip
    assert dup.indices == tuple(range(100))  # 50 witnesses x 2 ops
    assert not stalled.forbidden and stalled.label == "stalled (1, allowed)"
    assert anomaly_marks({"anomalies": {"x": [{"ops": [True, "3", 4]}, 7]}})[0].indices == (4,)
    assert anomaly_marks({}) == []


def test_ten_thousand_witnesses_stay_cheap() -> None:
    ops = pair_ops(NEM_HISTORY)
    results = {"anomalies": {"lost-write": [{"ops": [7, 11, 15]}] * 10000}, "forbidden": []}
    marks = anomaly_marks(results)
    start = time.perf_counter()
    fig = latency_figure(ops, [], marks)
    assert time.perf_counter() - start < 2.0
    assert "lost-write (10000, allowed)" in legend_texts(fig)


def test_lag_plot_draws_faults_the_same_way() -> None:
    series = {"read_committed": [(0.0, 0.0), (1.0, 5.0), (2.0, 1.0)]}
    fig = lag_figure(series, "lag", windows=[(0.5, 1.5, "open transaction"), (1.8, 1.8, "kill")])
    ax = main_axes(fig)
    (line,) = labelled(ax, "read_committed")
    for label in ("open transaction", "kill"):  # not nemesis windows: labels as given
        (span,) = labelled(ax, label)
        assert span.get_zorder() > line.get_zorder()
        assert label in legend_texts(fig)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["open transaction", "kill"]


def test_write_report_passes_witnesses_and_convergence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    for name in ("latency_figure", "throughput_figure"):
        original = getattr(plots_mod, name)

        def spy(*args: Any, _name: str = name, _orig: Any = original) -> Any:
            seen[_name] = fig = _orig(*args)
            return fig

        monkeypatch.setattr(plots_mod, name, spy)
    store = write_store(tmp_path, NEM_HISTORY, RESULTS)
    (store / "config.toml").write_text('"time-limit" = 1.0\n"convergence" = 0.4\n')
    write_report(store, pngs=True)
    assert set(seen) == {"latency_figure", "throughput_figure"}
    for fig in seen.values():
        texts = legend_texts(fig)
        assert "lost-write (3)" in texts and CONVERGENCE_LABEL in texts
