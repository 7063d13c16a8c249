"""Fuzzing the history readers: whatever the bytes, reading + checking either gives a verdict or
raises HistoryError with a one-line message; any other exception is a bug (CLI exit 3).

Derandomized and bounded (a few seconds), so CI runs the same examples every time.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import checkers
from checkers.edn import parse_edn_text
from checkers.guards import finite_json

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

VALID_JSONL = [
    {"index": 0, "time": 0.0, "process": 0, "type": "invoke", "f": "send", "value": [["send", "k0", 1]]},
    {"index": 1, "time": 0.1, "process": 0, "type": "ok", "f": "send", "value": [["send", "k0", [0, 1]]]},
    {"index": 2, "time": 0.2, "process": 1, "type": "invoke", "f": "txn", "txn_id": "t", "epoch": 0,
     "value": [["send", "k1", 2], ["send", "k0", 3]]},
    {"index": 3, "time": 0.3, "process": 1, "type": "info", "f": "txn", "txn_id": "t", "epoch": 0,
     "value": [["send", "k1", [None, 2]], ["send", "k0", [1, 3]]]},
    {"index": 4, "time": 0.4, "process": "nemesis", "type": "info", "f": "kill", "value": {"target": "b1"}},
    {"index": 5, "time": 0.5, "process": 2, "type": "invoke", "f": "poll", "value": [["poll"]]},
    {"index": 6, "time": 0.6, "process": 2, "type": "ok", "f": "poll", "group": "g",
     "rebalance_log": ["k1"], "value": [["poll", {"k0": [[0, 1], [1, 3]], "k1": [[0, 2]]}]]},
]  # fmt: skip

VALID_EDN = [
    "{:index 0 :time 0 :process 0 :type :invoke :f :send :value [[:send 0 1]]}",
    "{:index 1 :time 100 :process 0 :type :ok :f :send :value [[:send 0 [0 1]]]}",
    "{:index 2 :time 200 :process 1 :type :invoke :f :txn :value [[:send 1 2] [:poll]]}",
    "{:index 3 :time 300 :process 1 :type :ok :f :txn :value [[:send 1 [0 2]] [:poll {0 [[0 1]]}]]}",
    "{:index 4 :time 400 :process :nemesis :type :info :f :kill :value nil}",
    "{:index 5 :time 500 :process 2 :type :invoke :f :poll :value [[:poll]]}",
    "{:index 6 :time 600 :process 2 :type :ok :f :poll :value [[:poll {0 [[0 1]] 1 [[0 2]]}]]}",
]

FIELDS = ["index", "time", "process", "type", "f", "value", "pid", "group", "txn_id", "epoch",
          "rebalance_log", "lineage", "offsets", "sink", "applied", "isolation", "aborted",
          "seek_to_beginning", "atomic"]  # fmt: skip

# Texts a hand-edited or corrupted history plausibly holds, plus the hostile ones of issue 17.
JSON_ATOMS = [
    "NaN", "Infinity", "-Infinity", "1e999", "9" * 5000, "[" * 3000 + "]" * 3000,
    "[" * 150 + "]" * 150, "[[[[1]]]]", "{}", "[]", "null", "true", '"x"', '"k0"', "-1",
    "0.5", '{"a": [1, {"b": 2}]}', '[["send", ["k"], 1]]', '[["poll", {"k0": [["a", 1]]}]]',
    '[["poll", {"k0": [[0, [1]], [0, {"x": 1}]]}]]', '[["send", "k0", [0, 1]]]',
    '"sink-write"', '"init"', '"assign"', '"subscribe"', '"commit-offsets"', '"txn"', '"poll"',
    '{"input": [["a"], 1], "key": [1]}', '{"txn_id": [1], "epoch": 1}', '["k0", ["k1"], {"a": 1}]',
    '[[["a"], 0, "k0", [1]], ["k0", 0, "k1", 1]]', '{"k0": [1], "k1": 5}',
]  # fmt: skip
EDN_ATOMS = [
    '#inst "nope"', '#inst "2020-01-01T00:00:00Z"', '#uuid "zzz"',
    '#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"', "1/3", "1/0", "1.5M", "##NaN", "##Inf", "1e999",
    "^{:a 1} [1]", "9" * 5000, "9" * 5000 + "N", "1" + "0" * 400, "[" * 3000 + "]" * 3000,
    "[" * 150 + "]" * 150, "#{1 :a \"b\"}", "{[1] 2}", "\\a", '"multi\nline"', "#foo 1",
    ":ok", ":invoke", "nil", "[[:send [1] 1]]", "[[:poll {0 [[:x 1]]}]]", "#jepsen.history.Op {}",
    "[[:send 0 [0 1/2]]]", "[[:poll {0 [[0 1.5M] [1 #inst \"2020\"]]}]]",
]  # fmt: skip


def judged_or_refused(read: Any, text: str) -> None:
    """The property: a verdict whose results are strict JSON, or a one-line HistoryError."""
    try:
        ops = read(text)
        results = checkers.check(ops, "transactional")
    except checkers.HistoryError as exc:
        message = str(exc)
        assert message and "\n" not in message
        return
    assert results["valid"] in (True, False, "unknown")
    json.dumps(finite_json(results), allow_nan=False)


def read_jsonl(text: str) -> list[dict[str, Any]]:
    return checkers.parse_jsonl_lines(text.splitlines(), source="fuzz.jsonl")


def read_edn(text: str) -> list[dict[str, Any]]:
    return parse_edn_text(text, source="fuzz.edn")


def _as_op(line: str) -> dict[str, Any]:
    """The line's op to mutate further; an earlier mutation may have broken it."""
    try:
        op = json.loads(line)
    except (ValueError, RecursionError):
        return {}
    return op if isinstance(op, dict) else {}


@st.composite
def mutated_jsonl(draw: st.DrawFn) -> str:
    lines = [json.dumps(op) for op in VALID_JSONL]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["field", "chars", "junk", "drop"]))
        if how == "field":
            op = _as_op(lines[i])
            atom = draw(st.sampled_from(JSON_ATOMS))
            field = draw(st.sampled_from(FIELDS))
            op[field] = "@@"
            lines[i] = json.dumps(op).replace('"@@"', atom)
        elif how == "chars":
            line = lines[i]
            a = draw(st.integers(0, len(line)))
            b = draw(st.integers(a, min(len(line), a + 5)))
            lines[i] = line[:a] + draw(st.text(max_size=5)) + line[b:]
        elif how == "junk":
            lines.insert(i, draw(st.text(max_size=40)))
        else:
            del lines[i]
    return "\n".join(lines)


@st.composite
def mutated_edn(draw: st.DrawFn) -> str:
    lines = list(VALID_EDN)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["field", "chars", "junk", "drop"]))
        if how == "field":
            field = draw(st.sampled_from(FIELDS))
            atom = draw(st.sampled_from(EDN_ATOMS))
            lines[i] = lines[i].rstrip("}") + f" :{field} {atom}}}"
        elif how == "chars":
            line = lines[i]
            a = draw(st.integers(0, len(line)))
            b = draw(st.integers(a, min(len(line), a + 5)))
            lines[i] = (
                line[:a]
                + draw(st.text(alphabet='[]{}()#:^"\\ ;,0123456789aN/.M', max_size=5))
                + line[b:]
            )
        elif how == "junk":
            lines.insert(i, draw(st.text(max_size=40)))
        else:
            del lines[i]
    return "\n".join(lines)


def test_valid_fixtures_are_judged() -> None:
    judged = checkers.check(
        read_jsonl("\n".join(json.dumps(op) for op in VALID_JSONL)), "transactional"
    )
    assert judged["valid"] in (True, False, "unknown")
    assert checkers.check(read_edn("\n".join(VALID_EDN)), "transactional")["valid"] is True


@FUZZ
@given(mutated_jsonl())
def test_jsonl_reader_judges_or_refuses_mutated_histories(text: str) -> None:
    judged_or_refused(read_jsonl, text)


@FUZZ
@given(st.text(max_size=200))
def test_jsonl_reader_judges_or_refuses_junk(text: str) -> None:
    judged_or_refused(read_jsonl, text)


@FUZZ
@given(mutated_edn())
def test_edn_reader_judges_or_refuses_mutated_histories(text: str) -> None:
    judged_or_refused(read_edn, text)


EDN_TOKENS = [
    *'[]{}()#:^"\\ \n;,0123456789aeNM/.-+_',
    "#inst ",
    "#uuid ",
    ":type ",
    ":ok ",
    ":index ",
]


@FUZZ
@given(st.lists(st.sampled_from(EDN_TOKENS), max_size=60).map("".join))
def test_edn_reader_judges_or_refuses_junk(text: str) -> None:
    judged_or_refused(read_edn, text)
