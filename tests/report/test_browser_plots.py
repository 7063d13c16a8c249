"""The plots section of timeline.html: the data it embeds for uPlot, its bounds and its legend
(the drawing itself is checked in a real browser in test_report_browser.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sim.report.browser_plots import MAX_PLOT_POINTS, page_plots, sample_points, uplot_assets
from sim.report.marks import AnomalyMarks, Convergence
from sim.report.model import Op, Window, nemesis_windows, pair_ops
from sim.report.plots import CONVERGENCE_LABEL
from tests.report.test_report_outputs import HISTORY

ROOT = Path(__file__).resolve().parents[2]


def plot_data(script: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="plot-data">(.*?)</script>', script)
    assert found, script[:300]
    return json.loads(found.group(1))


def undelta(values: list[int]) -> list[int]:
    out, total = [], 0
    for v in values:
        total += v
        out.append(total)
    return out


def synthetic_ops(n: int, every_rare: int = 50) -> list[Op]:
    """``n`` sends 1 ms apart, each taking 2 ms; every ``every_rare``-th ends info."""
    return [
        Op(process=k % 7, f="send", invoke_index=2 * k, complete_index=2 * k + 1,
           start=k * 0.001, end=k * 0.001 + 0.002, type="info" if k % every_rare == 0 else "ok")
        for k in range(n)
    ]  # fmt: skip


def test_data_matches_the_history() -> None:
    ops = pair_ops(HISTORY)
    windows = nemesis_windows(HISTORY)
    marks = [AnomalyMarks("duplicate", 1, True, (7, 11))]
    plots = page_plots(ops, windows, marks, Convergence(0.45, 0.5))
    data = plot_data(plots.script)
    latency = data["latency"]
    starts = undelta(latency["t"])
    plotted = [o for o in ops if o.end is not None]  # sends and polls, every one completed
    assert starts == [round(o.start * 1e6) for o in plotted]
    assert latency["y"] == [round((o.end - o.start) * 1e6) for o in plotted if o.end is not None]
    assert undelta(latency["op"]) == [min(o.indices) for o in plotted]
    classes = [latency["classes"][int(k)] for k in latency["k"]]
    assert [(c["f"], c["type"]) for c in classes] == [(o.f, o.type) for o in plotted]
    assert data["faults"] == [{"name": "drop-acks", "colour": "#1f77b4"}]
    assert data["windows"] == [[0, 100000, 400000]]
    assert data["conv"] == 450000 and data["end"] == 600000
    assert data["marks"] == [{"name": "duplicate", "colour": "#000000", "forbidden": True}]
    ringed = [starts[p] for p in latency["rings"][0][1]]
    assert latency["rings"][0][0] == 0 and ringed == [110000, 500000]  # the ops of 7 and 11
    assert undelta(latency["ticks"][0]) == [110000, 500000]
    counts = dict(zip([t["name"] for t in data["throughput"]["types"]],
                      data["throughput"]["counts"], strict=True))  # fmt: skip
    assert data["throughput"]["width"] == 1.0
    assert counts == {"ok": [3], "info": [1], "fail": [1]}
    assert undelta(data["throughput"]["ticks"][0]) == [300000, 520000]  # completion times


def test_section_links_legend_and_fixed_heights() -> None:
    ops = pair_ops(HISTORY)
    marks = [AnomalyMarks("duplicate", 1, True, (7, 11)), AnomalyMarks("unseen", 4, False, (2,))]
    plots = page_plots(ops, nemesis_windows(HISTORY), marks, Convergence(0.45, 0.5))
    section = plots.section
    assert 'id="plot-latency"' in section and 'id="plot-throughput"' in section
    for text in ("fault: drop-acks", "duplicate (1)", "unseen (4, allowed)", CONVERGENCE_LABEL,
                 "ringed: a forbidden anomaly", "eosim report STORE"):  # fmt: skip
        assert text in section, text
    strip = 3 * 16 + 6  # one fault row, two anomaly rows
    assert f'id="latency-plot" style="height:{380 + strip}px"' in section
    assert f'id="throughput-plot" style="height:{300 + strip}px"' in section
    assert "shows" not in section  # nothing was left out


def test_no_ops_no_plots_but_a_note() -> None:
    plots = page_plots([], [], [], None)
    assert "No completed send, poll or txn ops to plot" in plots.section
    assert "No completed ops to plot" in plots.section
    assert 'id="latency-plot"' not in plots.section


def test_a_huge_run_is_sampled_deterministically_and_says_so() -> None:
    ops = synthetic_ops(3 * MAX_PLOT_POINTS)
    witness = ops[12345]  # an ok op the stride would skip
    marks = [AnomalyMarks("lost-write", 1, True, (witness.invoke_index or 0,))]
    a = page_plots(ops, [], marks, None)
    b = page_plots(list(ops), [], marks, None)
    assert a == b
    data = plot_data(a.script)
    starts = undelta(data["latency"]["t"])
    assert len(starts) == MAX_PLOT_POINTS == len(data["latency"]["k"])
    assert starts == sorted(starts)
    assert round(witness.start * 1e6) in starts and data["latency"]["rings"][0][1]
    rare = [o for o in ops if o.type == "info"]
    info = data["latency"]["classes"].index({"f": "send", "type": "info", "shape": "circle",
                                             "colour": "#ff9f1c", "big": True})  # fmt: skip
    assert data["latency"]["k"].count(str(info)) == len(rare)  # every rare op kept
    assert (
        f"The latency plot shows {MAX_PLOT_POINTS} of the {len(ops)} completed send, poll and "
        f"txn ops (it draws at most {MAX_PLOT_POINTS}): every witness op, every fail and info op "
        "and 18799 of 58799 ok ops, evenly spaced in time." in a.section
    )
    assert sum(sum(c) for c in data["throughput"]["counts"]) == len(ops)  # throughput: all ops
    assert len(a.script) < 400_000  # the data stays a few hundred kB, whatever the run's size


def test_sampling_spreads_over_the_whole_run_and_caps_the_rare_ops_too() -> None:
    ops = synthetic_ops(10_000, every_rare=2)  # 5,000 info, 5,000 ok
    chosen, note = sample_points(ops, 1000, set())
    assert len(chosen) == 1000
    assert sum(o.type == "info" for o in chosen) == 500
    assert chosen[0].start < 0.5 and chosen[-1].start > 9.0  # from start to end, not a prefix
    assert "500 of 5000 fail and info ops" in note and "500 of 5000 ok ops" in note
    assert sample_points(ops[:10], 1000, set()) == (ops[:10], "")


def test_names_cannot_end_the_script() -> None:
    window = Window(0.1, 0.2, "</script><b>x p1")
    plots = page_plots(synthetic_ops(5), [window], [], None)
    assert plots.script.count("</script>") == 3  # the data, uPlot, the drawing code
    assert plot_data(plots.script)["faults"][0]["name"] == "</script><b>x"
    assert "</script><b>" not in plots.section and "&lt;/script&gt;&lt;b&gt;x" in plots.section


def test_uplot_is_vendored_with_its_licence_and_shipped_as_package_data() -> None:
    js, css = uplot_assets()
    assert js.startswith("/*! https://github.com/leeoniya/uPlot") and "uPlot" in js
    assert ".uplot" in css and "</script" not in js
    vendor = ROOT / "sim" / "report" / "vendor"
    assert "MIT License" in (vendor / "uPlot.LICENSE").read_text()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["sim.report"]
    shipped = {p.name for pattern in patterns for p in (ROOT / "sim" / "report").glob(pattern)}
    assert {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"} <= shipped
