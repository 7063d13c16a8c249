"""history.jsonl loading and validation: one clear line with the 1-based line number."""

from __future__ import annotations

import json

import pytest

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
            [GOOD[0], GOOD[1], line(2, 3, "ok")],
            "history.jsonl line 3: completion without invoke for process 3",
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
    with pytest.raises(HistoryError, match=r"^h line 4: completion without invoke"):
        parse_jsonl_lines([GOOD[0], GOOD[2], "", line(3, 1, "ok")], source="h")


def test_history_error_is_a_value_error():
    assert issubclass(HistoryError, ValueError)
