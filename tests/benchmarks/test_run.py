"""The benchmark script's pieces work (no timing is asserted: speed is measured on demand)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mode", ["at-least-once", "idempotent", "transactional"])
def test_standard_workload_fills_batches_and_delivers(bench, mode: str) -> None:  # type: ignore[no-untyped-def]
    wall, delivered = bench.run_workload(mode, 1.0, bench.STANDARD)
    assert wall > 0
    # 5,000 records/s offered; the first transactions and linger.ms delay the first acks.
    assert delivered > (2000 if mode != "transactional" else 500), delivered


def test_jepsen_style_context_workload_runs(bench) -> None:  # type: ignore[no-untyped-def]
    _, delivered = bench.run_workload("idempotent", 1.0, bench.JEPSEN_STYLE)
    assert delivered > 200, delivered


def test_rows_have_the_results_format(bench) -> None:  # type: ignore[no-untyped-def]
    r = bench.row("x", 1.23456, "x", "<= 2", True)
    assert r == {"name": "x", "value": 1.235, "unit": "x", "target": "<= 2", "pass": True}


def test_clock_cost_row_compares_moved_and_perfect_clocks(bench) -> None:  # type: ignore[no-untyped-def]
    (r,) = bench.clock_cost(repeats=1, time_limit=2.0)
    assert r["name"].startswith("sim clocks:") and r["value"] > 0 and r["target"] == "<= 1.5"


def test_default_path_counts_are_deterministic(bench) -> None:  # type: ignore[no-untyped-def]
    a, b = bench.default_counts("idempotent"), bench.default_counts("idempotent")
    assert a["delivered"] > 0 and a["events"] > a["messages"] > a["delivered"]
    assert {k: v for k, v in a.items() if k != "cpu"} == {k: v for k, v in b.items() if k != "cpu"}


def test_only_default_owns_the_default_rows(bench) -> None:  # type: ignore[no-untyped-def]
    assert "default" in bench.PREFIXES["sim"] and bench.PREFIXES["default"] == ("default",)


def test_default_run_cost_rows_show_the_report_ratio(bench) -> None:  # type: ignore[no-untyped-def]
    """In-process and one-shot rows with and without the report, and the one-shot ratio with
    the target issue 23 sets (no timing asserted: only that the figures are there and agree)."""
    rows = {r["name"]: r for r in bench.default_run_cost(repeats=1)}
    with_report = rows[
        "default eosim run, one-shot process with the report (imports included): CPU"
    ]
    without = rows["default eosim run, one-shot process without the report (imports included): CPU"]
    ratio = rows["default eosim run: with report / without (one-shot, CPU)"]
    assert with_report["value"] > 0 and without["value"] > 0
    assert ratio["target"] == "<= 1.5" and ratio["pass"] == (ratio["value"] <= 1.5)
    assert abs(ratio["value"] - with_report["value"] / without["value"]) < 0.02
    for label in ("with", "without"):
        assert rows[f"default eosim run, one seed in-process {label} the report: CPU"]["value"] > 0
