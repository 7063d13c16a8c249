"""The synthetic benchmark history is clean and deterministic; the text report renders."""

from __future__ import annotations

import time

from rich.console import Console

import checkers
from checkers.report_text import render_results
from checkers.synth import synthetic_history
from tests.checkers.builders import H


def test_synthetic_history_is_clean_and_valid():
    ops = synthetic_history(20_000, seed=3)
    assert 19_000 <= len(ops) <= 20_100
    res = checkers.check(ops, "transactional")
    assert res["anomaly_types"] == [] and res["valid"] is True
    assert res["stats"]["sends_ok"] > 5000 and res["stats"]["sends_info"] > 0


def test_synthetic_history_is_deterministic():
    assert synthetic_history(2000, 7) == synthetic_history(2000, 7)
    assert synthetic_history(2000, 7) != synthetic_history(2000, 8)


def test_check_scales_linearly():
    small = synthetic_history(20_000, 1)
    big = synthetic_history(80_000, 1)
    t0 = time.perf_counter()
    checkers.check(small, "idempotent")
    t1 = time.perf_counter()
    checkers.check(big, "idempotent")
    t2 = time.perf_counter()
    assert (t2 - t1) < 8 * max(t1 - t0, 0.01)  # 4x the ops, well under quadratic


def render(res):
    console = Console(record=True, width=140, color_system=None)
    render_results(res, console)
    return console.export_text()


def test_render_invalid_results():
    h = H()
    h.send(1, "k", 1, offset=0)
    h.send(1, "k", 2, offset=1)
    h.send(1, "k", 3, offset=2)
    h.poll(2, {"k": [(0, 1), (2, 3), (3, 3)]})
    text = render(h.check("transactional"))
    assert "lost-write" in text and "duplicate" in text and "forbidden" in text
    assert "value 2 on k" in text
    assert "verdict: INVALID" in text and "mode transactional forbids" in text


def test_render_valid_and_unknown():
    h = H()
    h.send(1, "k", 1, offset=0)
    h.poll(2, {"k": [(0, 1), (1, 1)]})
    text = render(h.check("at-least-once"))
    assert "allowed" in text and "verdict: VALID" in text
    assert "verdict: UNKNOWN" in render(checkers.check([], "idempotent"))
    assert "no anomalies found" in render(checkers.check([], "idempotent"))


def test_render_says_why_unknown_and_names_lone_completions():
    h = H()
    h.send(1, "k", 1, offset=0)
    text = render(h.check("idempotent"))
    assert "verdict: UNKNOWN" in text and "no reads: 1 acknowledged send(s)" in text
    lone = [op for op in h.ops if op["type"] != "invoke"]
    text = render(checkers.check(lone, "idempotent"))
    assert "warning: op 1 (ok send, process 1) completed without an invoke" in text
