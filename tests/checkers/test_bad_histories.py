"""Issue 17: hostile or malformed histories are refused in one line naming the line, and the
valid neighbours of each bad input are still judged as before."""

from __future__ import annotations

import json
import math
from typing import Any

import edn_format
import pytest

import checkers
from checkers import HistoryError, parse_jsonl_lines
from checkers.edn import parse_edn_text
from checkers.guards import MAX_DEPTH, deeper_than, finite_json, one_line


def op(index: int, process: Any, type_: str, f: str = "send", value: Any = None, **extra: Any):
    d = {"index": index, "time": index / 10, "process": process, "type": type_, "f": f}
    d["value"] = value if value is not None else [["send", "k", index]]
    d.update(extra)
    return d


# A history with one duplicate (value 7 at offsets 0 and 1 of k): invalid, with a witness.
BASE = [
    op(0, 1, "invoke", value=[["send", "k", 7]]),
    op(1, 1, "ok", value=[["send", "k", [0, 7]]]),
    op(2, 2, "invoke", "poll", [["poll"]]),
    op(3, 2, "ok", "poll", [["poll", {"k": [[0, 7], [1, 7]]}]]),
]


def lines(*extra: str) -> list[str]:
    return [json.dumps(o) for o in BASE] + list(extra)


def refused(text_lines: list[str]) -> str:
    with pytest.raises(HistoryError) as exc:
        parse_jsonl_lines(text_lines, source="h.jsonl")
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_the_base_history_is_judged() -> None:
    results = checkers.check(parse_jsonl_lines(lines()), "transactional")
    assert results["valid"] is False and results["anomaly_types"] == ["duplicate"]


# --- JSON: numbers and nesting ------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"index": 4, "time": NaN, "process": 3, "type": "invoke", "f": "poll", "value": []}',
         "h.jsonl line 5: NaN is not a JSON number"),
        ('{"index": 4, "time": 1, "process": 3, "type": "ok", "f": "poll", "value": [["poll", {"k": [[0, -Infinity]]}]]}',
         "h.jsonl line 5: -Infinity is not a JSON number"),
        ('{"index": 4, "time": 1, "process": 3, "type": "ok", "f": "poll", "value": [["poll", {"k": [[0, ' + "9" * 5000 + "]]}]]}",
         "h.jsonl line 5: integer with more than"),
        ('{"index": 4, "time": 1, "process": 3, "type": "info", "f": "x", "value": ' + "[" * 5000 + "]" * 5000 + "}",
         f"h.jsonl line 5: nested deeper than {MAX_DEPTH} levels"),
        ('{"index": 4, "time": 1, "process": 3, "type": "info", "f": "x", "value": ' + "[" * 150 + "]" * 150 + "}",
         f"h.jsonl line 5: nested deeper than {MAX_DEPTH} levels"),
        ('{"index": 4, "time": 1, "process": 3, "type": "info", "f": "x", "value": 1, "extra": ' + '{"a": ' * 150 + "1" + "}" * 150 + "}",
         f"h.jsonl line 5: nested deeper than {MAX_DEPTH} levels"),
        ('{"index": 4, "time": 1e999, "process": 3, "type": "invoke", "f": "poll", "value": []}',
         "h.jsonl line 5: field time must be a finite number, got inf"),
    ],
)  # fmt: skip
def test_hostile_numbers_and_nesting_are_refused(line: str, needle: str) -> None:
    assert needle in refused(lines(line))


def test_the_error_names_the_line_past_a_chunk_boundary() -> None:
    filler = [json.dumps(op(i, "nemesis", "info", "kill", {})) for i in range(1500)]
    bad = '{"index": 0, "time": NaN, "process": 3, "type": "invoke", "f": "poll", "value": []}'
    assert refused([*filler, bad]).startswith("h.jsonl line 1501: NaN")


def test_shallow_nesting_and_long_bracket_heavy_lines_are_accepted() -> None:
    nested = op(4, 3, "info", "x", [[[[[[1]]]]]])
    big_poll = op(
        5, 4, "ok", "poll", [["poll", {"k": [[0, 7]] + [[i, 100 + i] for i in range(2, 400)]}]]
    )
    ops = parse_jsonl_lines(lines(json.dumps(nested), json.dumps(big_poll)))
    assert len(ops) == 6
    assert checkers.check(ops, "transactional")["valid"] is False


def test_an_overflowing_float_value_is_judged_and_written_as_strict_json() -> None:
    line = '{"index": 4, "time": 1, "process": 3, "type": "ok", "f": "poll", "value": [["poll", {"j": [[0, 1e999], [1, 1e999]]}]]}'  # fmt: skip
    results = checkers.check(parse_jsonl_lines(lines(line)), "transactional")
    assert results["valid"] is False
    with pytest.raises(ValueError):
        json.dumps(results, allow_nan=False)
    strict = json.dumps(finite_json(results), allow_nan=False)
    assert '"Infinity"' in strict


# --- JSON: containers or wrong types where a scalar belongs ------------------------------
def _with(**fields: Any) -> str:
    o = op(4, 3, "invoke", "poll", [["poll"]])
    o.update(fields)
    return json.dumps(o)


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        (_with(type=["ok"]), "unknown type an array"),
        (_with(type={"a": 1}), "unknown type an object"),
        (_with(index=[4]), "field index must be an integer, got an array"),
        (_with(index="4"), "field index must be an integer, got a string"),
        (_with(index=True), "field index must be an integer, got bool"),
        (_with(process=[3]), "field process must be a number or string, got an array"),
        (_with(process={"p": 3}), "field process must be a number or string, got an object"),
        (_with(f=["poll"]), "field f must be a string, got an array"),
        (_with(time="soon"), "field time must be a finite number, got 'soon'"),
        (_with(pid=[1]), "field pid must be a string, number or null, got an array"),
        (_with(group={"g": 1}), "field group must be a string, number or null, got an object"),
        (_with(txn_id=["t"]), "field txn_id must be a string, number or null"),
        (_with(epoch=[0]), "field epoch must be a string, number or null"),
        (_with(rebalance_log=[["k"]]), "field rebalance_log must be a list of keys"),
        (_with(f="send", value=[["send", ["k"], 1]]), "send key must be a string, got an array"),
        (_with(f="send", value=[["send", {"k": 1}, 1]]), "send key must be a string, got an object"),
        (_with(f="send", value=[["send", 5, 1]]), "send key must be a string, got 5"),
    ],
)  # fmt: skip
def test_a_container_or_wrong_type_where_a_scalar_belongs_is_refused(
    line: str, needle: str
) -> None:
    message = refused(lines(line))
    assert message.startswith("h.jsonl line 5: "), message
    assert needle in message


def test_mixed_int_and_str_indices_are_refused_not_a_sort_crash() -> None:
    assert "field index must be an integer" in refused(lines(_with(index="b")))


def test_scalar_identities_of_every_kind_are_still_judged() -> None:
    extra = [
        json.dumps(op(4, "p-str", "invoke", "poll", [["poll"]], pid=None, group="g")),
        json.dumps(op(5, "p-str", "ok", "poll", [["poll", {"k": [[0, 7]]}]], group=3, epoch=1)),
    ]
    results = checkers.check(parse_jsonl_lines(lines(*extra)), "transactional")
    assert results["anomaly_types"] == ["duplicate"]


def test_frozen_lineage_sink_and_init_fields_do_not_crash_the_checkers() -> None:
    extra = [
        json.dumps(op(4, 5, "ok", "init", {"txn_id": ["t"], "epoch": 0})),
        json.dumps(op(5, 5, "ok", "sink-write", {"input": [["k"], 0], "key": [1]})),
        json.dumps(op(6, 5, "ok", "sink-write", {"input": [["k"], 0], "key": [1]})),
        json.dumps(
            op(7, 5, "ok", "send", [["send", "o", [0, [1]]]], lineage=[[["k"], 0, "o", [1]]])
        ),
    ]
    results = checkers.check(parse_jsonl_lines(lines(*extra)), "transactional")
    assert "external-duplicate" in results["anomaly_types"]
    json.dumps(results, allow_nan=False)


# --- EDN ------------------------------------------------------------------------------------
EDN = """\
{:index 0 :time 0 :process 1 :type :invoke :f :send :value [[:send 1 7]]}
{:index 1 :time 100 :process 1 :type :ok :f :send :value [[:send 1 [0 7]]]}
{:index 2 :time 200 :process 2 :type :invoke :f :poll :value [[:poll]]}
{:index 3 :time 300 :process 2 :type :ok :f :poll :value [[:poll {1 [[0 7]]}]]}
"""


def edn_refused(text: str) -> str:
    with pytest.raises(HistoryError) as exc:
        parse_edn_text(text, source="h.edn")
    message = str(exc.value)
    assert "\n" not in message
    return message


def _edn_value(v: str) -> str:
    return EDN + "{:index 4 :time 400 :process 3 :type :info :f :x :value " + v + "}\n"


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ('#inst "not-a-date"', "h.edn line 5: malformed EDN (time data"),
        ("#inst 0", "h.edn line 5: malformed EDN (a tagged value of the wrong type"),
        ('#uuid "zzz"', "h.edn line 5: malformed EDN (badly formed hexadecimal UUID string)"),
        ("#uuid 0", "h.edn line 5: malformed EDN (a tagged value of the wrong type"),
        ("1/0", "h.edn line 5: malformed EDN (a ratio with denominator 0"),
        ("9" * 5000, "h.edn line 5: malformed EDN (integer with more than"),
        ("9" * 5000 + "N", "h.edn line 5: malformed EDN (integer with more than"),
        ("##NaN", "h.edn line 5: ##NaN is not a finite number"),
        ("[1 ##Inf]", "h.edn line 5: ##Inf is not a finite number"),
        ("1e999", "h.edn line 5: ##Inf is not a finite number"),
        ("[" * 3000 + "]" * 3000, f"h.edn line 5: nested deeper than {MAX_DEPTH} levels"),
        ("{:a " * 150 + "1" + "}" * 150, f"h.edn line 5: nested deeper than {MAX_DEPTH} levels"),
        ("#foo 1", "h.edn line 5: malformed EDN (Don't know how to handle tag"),
    ],
)
def test_bad_edn_values_are_refused_with_the_line(value: str, needle: str) -> None:
    assert needle in edn_refused(_edn_value(value))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        # the lexer quotes 100 characters of input, newlines included: still one line
        (EDN + '{:index 4 :value ~ \n\n\n:f :x}\n', "h.edn line 5: malformed EDN (illegal character '~' at column 18)"),
        (EDN + "{:index 4 :value [1 2}\n", "h.edn line 5: malformed EDN (unexpected '}' at column 22)"),
        (EDN + "{:index 4 :value [1 2\n", "h.edn line 5: malformed EDN (unexpected end of input"),
    ],
)  # fmt: skip
def test_malformed_edn_is_one_line_with_the_line_number(text: str, needle: str) -> None:
    assert needle in edn_refused(text)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ("1/3", "1/3"),
        ("1.5M", "1.5M"),
        ('#inst "2020-01-02T03:04:05Z"', "2020-01-02T03:04:05+00:00"),
        ('#inst "2020-01-02"', "2020-01-02"),
        ('#uuid "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"', "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"),
        ("^{:a 1} [1 2]", [1, 2]),
        ("\\a", "a"),
    ],
)
def test_edn_only_values_become_json_data(value: str, plain: Any) -> None:
    ops = parse_edn_text(_edn_value(value))
    assert ops[-1]["value"] == plain
    json.dumps(ops, allow_nan=False)


def test_edn_only_values_in_witnesses_write_as_strict_json() -> None:
    text = EDN + "{:index 4 :time 400 :process 3 :type :ok :f :poll :value [[:poll {2 [[0 1/3] [1 1/3]]}]]}\n"  # fmt: skip
    results = checkers.check(parse_edn_text(text), "transactional")
    assert results["anomaly_types"] == ["duplicate"]
    assert results["anomalies"]["duplicate"][0]["value"] == "1/3"
    json.dumps(results, allow_nan=False)


def test_a_bad_last_form_is_located_without_a_parser_per_form(monkeypatch) -> None:
    forms = [
        f"{{:index {i} :time {i} :process :nemesis :type :info :f :kill :value nil}}"
        for i in range(2000)
    ]
    text = (
        "\n".join(forms) + '\n{:index 2000 :time 1 :process 1 :type :info :f :x :value #inst "x"}\n'
    )
    calls = []
    real = edn_format.loads_all

    def counting(t: str) -> Any:
        calls.append(len(t))
        return real(t)

    monkeypatch.setattr(edn_format, "loads_all", counting)
    assert "h.edn line 2001: malformed EDN" in edn_refused(text)
    # one full parse, a bisection over 2001 forms, one confirmation: ~2 parses' worth of text
    assert len(calls) <= 2 + math.ceil(math.log2(2001)) + 1
    assert sum(calls) <= 3 * len(text)


def test_an_edn_time_beyond_any_float_is_refused() -> None:
    text = EDN + "{:index 4 :time 1" + "0" * 400 + " :process 3 :type :info :f :x :value 1}\n"
    assert "h.edn line 5: field time is too large" in edn_refused(text)


def test_a_valid_edn_history_is_judged_as_before() -> None:
    assert checkers.check(parse_edn_text(EDN), "transactional")["valid"] is True


# --- guards -----------------------------------------------------------------------------------
def test_one_line_collapses_whitespace_and_caps_length() -> None:
    assert one_line("a\n b\r\n\tc") == "a b c"
    assert len(one_line("x" * 1000)) == 300
    assert str(HistoryError("line 1:\nbad")) == "line 1: bad"


def test_deeper_than_is_iterative() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert deeper_than(deep)
    assert not deeper_than([[1], {"a": [2]}], limit=3)
    assert deeper_than([[[[1]]]], limit=3)
