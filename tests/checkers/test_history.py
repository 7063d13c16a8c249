"""history.jsonl loading and validation: one clear line with the 1-based line number."""

from __future__ import annotations

import json

import pytest

import checkers
from checkers import HistoryError, load_jsonl, parse_jsonl_lines


def line(index, process, type_, f="send", value=None, **extra):
    op = {"index": index, "time": index / 10, "process": process, "type": type_, "f": f}
    op["value"] = value if value is not None else [["send", "k", 1]]
    op.update(extra)
    return json.dumps(op)


GOOD = [
    line(0, 1, "invoke"),
    line(1, "nemesis", "info", f="partition", value={"target": "b1"}),
    line(2, 1, "ok", value=[["send", "k", [0, 1]]]),
]


def test_valid_history_with_blank_lines_and_nemesis():
    ops = parse_jsonl_lines([GOOD[0], "", "   ", GOOD[1], GOOD[2]])
    assert [op["index"] for op in ops] == [0, 1, 2]


def test_load_jsonl_file(tmp_path):
    p = tmp_path / "history.jsonl"
    p.write_text("\n".join(GOOD) + "\n")
    assert len(load_jsonl(p)) == 3
    assert len(load_jsonl(str(p))) == 3


def test_missing_file_is_a_history_error(tmp_path):
    with pytest.raises(HistoryError, match="cannot read history"):
        load_jsonl(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            [GOOD[0], "{not json", GOOD[2]],
            "history.jsonl line 2: invalid JSON",
        ),
        (
            [GOOD[0], "[1, 2]"],
            "history.jsonl line 2: expected a JSON object, got an array",
        ),
        (
            [GOOD[0], line(1, 1, "done")],
            "history.jsonl line 2: unknown type 'done' (expected invoke, ok, fail or info)",
        ),
        (
            [GOOD[0], line(1, 1, "invoke")],
            "history.jsonl line 2: second invoke for process 1 while the op invoked at index 0 "
            "is pending",
        ),
        (
            ['{"index": 0, "time": 0, "process": 1, "type": "invoke"}'],
            "history.jsonl line 1: missing field(s) f, value",
        ),
    ],
)
def test_malformed_histories(tmp_path, lines, message):
    p = tmp_path / "history.jsonl"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryError) as exc:
        load_jsonl(p)
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_line_numbers_count_blank_lines():
    with pytest.raises(HistoryError, match=r"^h line 4: second invoke for process 1"):
        parse_jsonl_lines([GOOD[0], GOOD[1], "", line(3, 1, "invoke")], source="h")


def test_completion_without_invoke_is_accepted_and_named():
    """Jepsen's checker accepts lone completions (its version-orders test); so do we, with a
    warning naming the op, and the op is still checked."""
    ops = parse_jsonl_lines([*GOOD, line(3, 3, "ok", value=[["send", "k", [5, 9]]])])
    assert len(ops) == 4
    results = checkers.check(ops, "idempotent")
    assert results["history_warnings"] == [
        "op 3 (ok send, process 3) completed without an invoke; checked as it is"
    ]
    assert results["stats"]["sends_ok"] == 2
    clean = checkers.check(ops[:3], "idempotent")
    assert clean["history_warnings"] == []


def test_history_error_is_a_value_error():
    assert issubclass(HistoryError, ValueError)


def long_history(n_pairs: int) -> list[str]:
    out = []
    for i in range(n_pairs):
        out += [line(2 * i, 1, "invoke"), line(2 * i + 1, 1, "ok", value=[["send", "k", [i, 1]]])]
    return out


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got an array"),
        # Two objects on one line would parse as two array elements in a chunk: still an error.
        ('{"a": 1}, {"b": 2}', "invalid JSON (Extra data"),
        # One object split over two lines is two bad lines, not one good op.
        ('{"index": 5, "time": 0.5,', "invalid JSON"),
    ],
)
def test_bad_line_deep_in_a_long_history_is_named_exactly(bad, message):
    """Lines are parsed a chunk at a time; a bad line in the second chunk keeps its number."""
    lines = long_history(1200)
    lines.insert(1500, bad)  # becomes line 1501
    with pytest.raises(HistoryError) as exc:
        parse_jsonl_lines(lines, source="h")
    assert str(exc.value).startswith(f"h line 1501: {message}"), str(exc.value)


def test_long_history_parses_to_the_same_ops_as_line_by_line():
    lines = long_history(1200)
    lines.insert(700, "   ")
    ops = parse_jsonl_lines(lines)
    assert ops == [json.loads(x) for x in lines if x.strip()]
    with pytest.raises(HistoryError, match=r"^history line 2003: second invoke for process 1"):
        parse_jsonl_lines([*lines[:2001], line(98, 1, "invoke"), line(99, 1, "invoke")])
