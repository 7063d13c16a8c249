"""Modes, verdicts, results shape, extra anomalies, witness caps, public API."""

from __future__ import annotations

import json

import pytest

import checkers
from checkers.check import WITNESS_CAP
from checkers.modes import TABLE
from tests.checkers.builders import H

DESIGN_NAMES = {
    "lost-write",
    "duplicate",
    "inconsistent-offsets",
    "nonmonotonic-poll",
    "poll-skip",
    "nonmonotonic-send",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    "int-send-skip",
    "int-nonmonotonic-send",
    "precommitted-read",
    "G1a",
    "uncommitted-read",
    "fractured-read",
    "zombie-write",
    "duplicate-delivery",
    "pipeline-duplicate",
    "pipeline-loss",
    "external-duplicate",
    "G0",
    "G1c",
    "unseen",
    "stalled",
}


def clean() -> H:
    h = H()
    h.send(1, "k", 1, offset=0)
    h.poll(2, {"k": [(0, 1)]})
    return h


def test_public_api():
    assert set(checkers.ANOMALY_NAMES) == DESIGN_NAMES == set(TABLE)
    assert checkers.MODES == ("at-least-once", "idempotent", "transactional")
    for name in ("check", "HistoryError", "load_jsonl", "load_edn", "promises"):
        assert hasattr(checkers, name)


def test_unknown_mode():
    with pytest.raises(ValueError) as exc:
        checkers.check([], "exactly-once")
    assert str(exc.value) == (
        "unknown mode 'exactly-once' (expected one of: at-least-once, idempotent, transactional)"
    )
    with pytest.raises(ValueError):
        checkers.promises("nope")


def test_promises_table():
    alo = checkers.promises("at-least-once")
    txn = checkers.promises("transactional")
    assert alo["lost-write"] == txn["lost-write"] == "forbidden"
    assert alo["duplicate"] == "allowed" and txn["duplicate"] == "forbidden"
    assert checkers.promises("idempotent")["duplicate"] == "forbidden within one producer session"
    assert txn["external-duplicate"] == "allowed" and txn["duplicate-delivery"] == "allowed"
    assert all(p["unseen"] == "warning" for p in map(checkers.promises, checkers.MODES))
    assert txn["stalled"] == "forbidden"


def test_results_shape_and_stats():
    h = clean()
    h.send(1, "k", 2, offset=None, type_="info")
    h.send(1, "k", 3, offset=None, type_="fail")
    h.txn(3, sends=[("j", 1, 0)])
    h.poll(4, {"j": [(0, 1)]})
    h.nemesis("kill", {"node": "b1"})
    res = h.check("at-least-once")
    assert res["valid"] is True and res["mode"] == "at-least-once"
    assert set(res) >= {
        "valid",
        "mode",
        "anomaly_types",
        "anomalies",
        "counts",
        "promised",
        "allowed",
        "warnings",
        "stats",
    }
    assert "seed" not in res and "digest" not in res
    assert res["stats"] == {
        "ops": 6,  # client operations (completions); nemesis records excluded
        "sends_ok": 2,
        "sends_info": 1,
        "sends_fail": 1,
        "polls": 2,
        "txns": 1,
        "sim_time": h.ops[-1]["time"],
    }
    assert res["promised"] == sorted(res["promised"])
    json.dumps(res)  # results are JSON-serialisable


def test_unknown_when_nothing_checkable():
    h = H()
    h.send(1, "k", 1, offset=None, type_="info")
    h.poll(2, {})
    res = h.check()
    assert res["valid"] == "unknown" and res["unknown_reason"].startswith("no reads: 0 ")
    empty = checkers.check([], "idempotent")
    assert empty["valid"] == "unknown"
    assert empty["unknown_reason"] == "empty history: no client operations"
    assign_only = H()
    assign_only.assign(0, ["x"])
    res = assign_only.check()
    assert res["valid"] == "unknown" and res["unknown_reason"].startswith("empty history: no send")


def test_acknowledged_sends_without_any_read_are_unknown():
    h = H()
    h.send(1, "k", 1, offset=0)
    res = h.check()
    assert res["valid"] == "unknown"
    assert res["unknown_reason"].startswith("no reads: 1 acknowledged send(s)")
    h.poll(2, {"k": [(0, 1)]})
    assert h.check()["valid"] is True


def test_anomalies_win_over_unknown():
    h = H()
    h.send(1, "k", 1, offset=0)
    h.send(1, "k", 2, offset=1)
    h.send(1, "k", 3, offset=0)  # nonmonotonic-send; and no reads
    res = h.check("idempotent")
    assert res["valid"] is False and res["unknown_reason"] is None


def test_extra_anomalies_are_merged_and_judged():
    stalled = {"stalled": [{"key": "k", "ops": [], "explanation": "LSO stuck"}]}
    res = clean().check("transactional", extra_anomalies=stalled)
    assert res["valid"] is False and res["forbidden"] == ["stalled"]
    assert res["anomalies"]["stalled"][0]["explanation"] == "LSO stuck"
    res = checkers.check([], "at-least-once", extra_anomalies=stalled)
    assert res["valid"] is False
    assert clean().check(extra_anomalies={})["valid"] is True
    assert clean().check(extra_anomalies={"stalled": []})["anomaly_types"] == []


def test_witnesses_capped_but_counted():
    h = H()
    n = WITNESS_CAP + 20
    for v in range(n):
        h.send(1, "k", v, offset=2 * v)
    h.poll(2, {"k": [(o, v) for v in range(n) for o in (2 * v, 2 * v + 1)]})
    res = h.check("transactional")
    assert len(res["anomalies"]["duplicate"]) == WITNESS_CAP
    assert res["counts"]["duplicate"] == n


def test_every_witness_has_ops_and_one_line_explanation():
    h = H()
    t = h.txn(1, sends=[("k", 10, 0)], type_="fail")
    h.send(2, "k", 11, offset=1)
    h.send(2, "k", 12, offset=2)
    h.poll(3, {"k": [(0, 10), (2, 12), (3, 12)]}, isolation="read_committed")
    res = h.check("transactional")
    assert {"G1a", "uncommitted-read", "duplicate", "int-poll-skip", "lost-write"} <= set(
        res["anomaly_types"]
    )
    for ws in res["anomalies"].values():
        for w in ws:
            assert isinstance(w["ops"], list) and all(isinstance(i, int) for i in w["ops"])
            assert isinstance(w["explanation"], str) and "\n" not in w["explanation"]
    assert t in res["anomalies"]["G1a"][0]["ops"]


def test_unknown_ops_are_ignored():
    h = clean()
    h.invoke(5, "debug-topic-partitions", ["k"])
    h.complete(5, "ok", "debug-topic-partitions", {"k": {"leader": "b1"}})
    h.invoke(6, "crash", None)
    h.complete(6, "info", "crash", None)
    assert h.check()["valid"] is True
