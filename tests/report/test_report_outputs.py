"""write_report on small hand-written store directories: files, PNGs (on request), and the
timeline's HTML."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sim.report import lag_plot, nemesis_windows, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def op(index: int, time: float, process: Any, type_: str, f: str, value: Any) -> dict[str, Any]:
    return {"index": index, "time": time, "process": process, "type": type_, "f": f, "value": value}


HISTORY = [
    op(0, 0.010, 0, "invoke", "send", [["send", "k1", 1]]),
    op(1, 0.020, 1, "invoke", "poll", [["poll"]]),
    op(2, 0.025, 0, "ok", "send", [["send", "k1", [0, 1]]]),
    op(3, 0.030, 1, "ok", "poll", [["poll", {"k1": [[0, 1]]}]]),
    op(
        4,
        0.100,
        "nemesis",
        "info",
        "drop-acks",
        {"fault": 0, "phase": "start", "target": "p2", "until": 0.4},
    ),  # fmt: skip
    op(5, 0.110, 2, "invoke", "send", [["send", "k1", 2]]),
    op(6, 0.120, 0, "invoke", "send", [["send", "k1", 3]]),
    op(7, 0.300, 2, "info", "send", [["send", "k1", [None, 2]]]),
    op(8, 0.310, 0, "fail", "send", [["send", "k1", 3]]),
    op(9, 0.400, "nemesis", "info", "drop-acks", {"fault": 0, "phase": "stop", "target": "p2"}),
    op(10, 0.500, 1, "invoke", "poll", [["poll"]]),
    op(11, 0.520, 1, "ok", "poll", [["poll", {"k1": [[0, 1], [1, 2], [2, 2]]}]]),
    op(12, 0.600, 3, "invoke", "send", [["send", "k1", 4]]),
]

RESULTS = {
    "valid": False,
    "mode": "idempotent",
    "seed": 7,
    "digest": "sha256-test-digest",
    "anomaly_types": ["duplicate"],
    "anomalies": {
        "duplicate": [
            {"key": "k1", "value": 2, "offsets": [1, 2], "ops": [7, 11], "explanation": "twice"}
        ]
    },
    "stats": {"ops": 7},
}


def write_store(root: Path, history: list[dict[str, Any]], results: dict[str, Any] | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "history.jsonl").write_text("".join(json.dumps(o) + "\n" for o in history))
    if results is not None:
        (root / "results.json").write_text(json.dumps(results))
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], str]:
    store = write_store(tmp_path_factory.mktemp("store"), HISTORY, RESULTS)
    paths = write_report(store, pngs=True)
    return paths, (store / "timeline.html").read_text()


def test_by_default_writes_the_page_alone(tmp_path: Path) -> None:
    """What ``eosim run`` writes: the page with its plots, no PNGs (they need matplotlib)."""
    store = write_store(tmp_path, HISTORY, RESULTS)
    assert write_report(store) == [store / "timeline.html"]
    assert sorted(p.name for p in store.iterdir()) == [
        "history.jsonl", "results.json", "timeline.html"
    ]  # fmt: skip


def test_with_pngs_writes_three_files_with_valid_pngs(report: tuple[list[Path], str]) -> None:
    paths, _ = report
    assert [p.name for p in paths] == ["timeline.html", "latency.png", "throughput.png"]
    for p in paths:
        assert p.exists() and p.stat().st_size > 0
    for p in paths[1:]:
        assert p.read_bytes()[:8] == PNG_MAGIC


def test_one_lane_per_process(report: tuple[list[Path], str]) -> None:
    _, page = report
    for proc in (0, 1, 2, 3):
        assert f'id="lane-{proc}"' in page
    assert 'id="lane-nemesis"' not in page  # nemesis ops are windows, not a client lane


def test_witness_ops_have_both_ids_outline_and_links(report: tuple[list[Path], str]) -> None:
    _, page = report
    for index in (5, 7, 10, 11):  # invoke and completion ids of both witness ops
        assert f'id="op-{index}"' in page
    assert '<a class="w" href="#op-7">' in page and '<a class="w" href="#op-11">' in page
    assert len(re.findall(r'class="op [a-z]+ witness[ "]', page)) == 2
    assert "twice" in page and "duplicate" in page


def test_colours_by_completion_type(report: tuple[list[Path], str]) -> None:
    _, page = report
    for cls in ("op ok", "op fail", "op info", "op pending"):
        assert f'class="{cls}' in page


def test_nemesis_window_is_shaded_with_label(report: tuple[list[Path], str]) -> None:
    _, page = report
    assert re.search(r'<div class="nem" style="top:\d+px;[^"]*height:[1-9]\d*px"', page)
    assert 'class="nem-bar" id="op-4"' in page and 'id="op-9"' in page
    assert "drop-acks p2" in page


def test_verdict_legend_and_self_contained(report: tuple[list[Path], str]) -> None:
    """Works offline from file://: uPlot and the plot data are inlined, nothing is fetched."""
    _, page = report
    for text in ("valid-false", "idempotent", "sha256-test", 'class="legend"', "ops 7"):
        assert text in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert not re.search(r"<script[^>]*\bsrc=", page) and '<link rel="stylesheet"' not in page
    assert "uPlot" in page and 'id="plot-data"' in page
    assert 'href="#plot-latency"' in page and 'id="plot-latency"' in page
    assert 'href="#plot-throughput"' in page and 'id="plot-throughput"' in page


def test_values_are_escaped(tmp_path: Path) -> None:
    history = [
        op(0, 0.0, 0, "invoke", "send", [["send", "<script>x</script>", 1]]),
        op(1, 0.1, 0, "ok", "send", [["send", '"><b>', [0, 1]]]),
    ]
    write_report(write_store(tmp_path, history, None))
    page = (tmp_path / "timeline.html").read_text()
    assert "<script>x" not in page and '"><b>' not in page


def test_without_results_there_are_no_witnesses(tmp_path: Path) -> None:
    store = write_store(tmp_path, HISTORY, None)
    (store / "config.toml").write_text('seed = 11\nmode = "transactional"\n')
    write_report(store)
    page = (store / "timeline.html").read_text()
    assert "No anomalies found" in page
    assert not re.search(r'class="op [a-z]+ witness[ "]', page)
    assert "transactional" in page and "valid-unknown" in page


def test_cap_keeps_witnesses_and_says_so(tmp_path: Path) -> None:
    write_report(write_store(tmp_path, HISTORY, RESULTS), max_ops=4)
    page = (tmp_path / "timeline.html").read_text()
    assert 'id="op-0"' in page and 'id="op-11"' in page  # early op, late witness
    assert 'id="op-12"' not in page  # late op, not a witness
    assert "later ops omitted" in page


def test_output_is_deterministic(tmp_path: Path) -> None:
    a = write_report(write_store(tmp_path / "a", HISTORY, RESULTS), pngs=True)
    b = write_report(write_store(tmp_path / "b", HISTORY, RESULTS), pngs=True)
    assert len(a) == 3
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_lag_plot_writes_png(tmp_path: Path) -> None:
    series = {
        "read_committed": [(0.0, 0.0), (1.0, 5.0), (2.0, 1.0)],
        "read_uncommitted": [(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)],
    }
    windows = [*nemesis_windows(HISTORY), (1.2, 1.5), (1.8, 1.8, "kill")]
    path = lag_plot(series, tmp_path / "sub" / "lag.png", "consumer lag", windows=windows)
    assert path == tmp_path / "sub" / "lag.png"
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_import_does_not_load_matplotlib() -> None:
    code = "import sys, sim.report; print('matplotlib' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(root)},
    )  # fmt: skip
    assert out.stdout.strip() == "False"


MIXED_RESULTS = {
    "valid": False,
    "mode": "at-least-once",
    "seed": 3,
    "forbidden": ["lost-write"],
    "allowed": ["duplicate"],
    "anomaly_types": ["duplicate", "lost-write"],
    "counts": {"duplicate": 1, "lost-write": 122},  # results.json keeps at most 100 witnesses
    "anomalies": {
        "duplicate": [{"ops": [7, 11], "explanation": "k1 value 2 at offsets 1 and 2"}],
        "lost-write": [
            {
                "ops": [2, 11],
                "explanation": f"value 1 acknowledged by op 2, never read (op 11) #{n}",
            }
            for n in range(100)
        ],
    },
    "processes": {
        "0": {"role": "producer", "node": "c0"},
        "1": {"role": "consumer", "node": "c1"},
        "2": {"role": "producer", "node": "c2"},
        "3": {"role": "producer", "node": "c0"},
    },
}


@pytest.fixture(scope="module")
def mixed_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    store = write_store(tmp_path_factory.mktemp("mixed"), HISTORY, MIXED_RESULTS)
    (store / "config.toml").write_text('seed = 3\nmode = "at-least-once"\n"time-limit" = 0.45\n')
    write_report(store)
    return (store / "timeline.html").read_text()


def test_summary_puts_forbidden_first_and_collapses_allowed(mixed_page: str) -> None:
    forbidden = mixed_page.index('id="anomaly-lost-write"')
    allowed = mixed_page.index('id="anomaly-duplicate"')
    timeline = mixed_page.index('id="timeline"')
    assert forbidden < allowed < timeline
    details = mixed_page.rindex("<details", 0, allowed)
    assert "allowed by at-least-once" in mixed_page[details:allowed]
    assert mixed_page.index("INVALID: mode at-least-once forbids lost-write") < forbidden


def test_counts_are_the_true_totals_and_the_cap_is_labelled(mixed_page: str) -> None:
    """The terminal prints counts["lost-write"] (122); the page must say the same, and say
    that only 100 witnesses were kept."""
    assert 'lost-write <span class="count">× 122</span>' in mixed_page
    assert "showing 100 of 122; results.json keeps the first 100" in mixed_page


def test_example_witness_is_explained_with_links_and_meaning(mixed_page: str) -> None:
    section = mixed_page[mixed_page.index('id="anomaly-lost-write"') :]
    assert "missing from the log" in section  # the meaning of the name
    assert 'acknowledged by op <a href="#op-2">2</a>' in section
    assert "producer c0 · process 0" in section  # who did the witness op


def test_lanes_are_grouped_and_labelled_by_role_and_node(mixed_page: str) -> None:
    heads = re.findall(r'class="head group"[^>]*>([^<]+)<', mixed_page)
    assert heads == ["faults", "producer c0", "producer c2", "consumer c1"]


def test_a_fault_on_a_client_node_is_drawn_over_its_lane(tmp_path: Path) -> None:
    history = [dict(o) for o in HISTORY]
    for o in history:
        if o["process"] == "nemesis":
            o["value"] = {**o["value"], "target": "c2"}
    store = write_store(tmp_path, history, MIXED_RESULTS)
    write_report(store)
    page = (store / "timeline.html").read_text()
    lane = re.search(r'id="lane-2" data-process="2" style="left:(\d+)px;width:(\d+)px', page)
    hit = re.search(r'class="nem hit" style="top:\d+px;left:(\d+)px;width:(\d+)px', page)
    assert lane and hit and hit.groups() == lane.groups()


def test_convergence_window_is_labelled(mixed_page: str) -> None:
    assert 'id="convergence"' in mixed_page
    assert "convergence window (faults healed, final reads)" in mixed_page


def test_a_kept_store_gets_message_diagrams_for_its_forbidden_anomalies(tmp_path: Path) -> None:
    """write_store(then=report) marks the data complete before the report, so the report's
    traced re-run of the store is allowed and each forbidden anomaly links its diagram."""
    from sim.config import from_mapping
    from sim.runs.runner import run
    from sim.runs.store import write_store as write_sim_store

    config = from_mapping({"mode": "idempotent", "nemesis": "drop-acks", "bugs": "no-dedup",
                           "time-limit": 3, "convergence": 2, "nemesis-interval": 0.8})  # fmt: skip
    outcome = run(config, 4)
    assert "duplicate" in outcome.results["forbidden"]
    store = tmp_path / "kept"
    write_sim_store(
        store, config, 4, outcome.schedule, outcome.history_text, outcome.results,
        then=write_report,
    )  # fmt: skip
    assert (store / "messages-duplicate.html").is_file()
    assert 'href="messages-duplicate.html"' in (store / "timeline.html").read_text()
