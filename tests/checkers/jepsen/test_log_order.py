"""Jepsen's ``kafka_test.clj``: version-orders-test, inconsistent-offsets-test, duplicate-test.

Each test names the deftest (and ``testing`` block) it translates and asserts what it asserts.
"""

from __future__ import annotations

from tests.checkers.jepsen.jepsen_ops import J, errors, pick


def test_version_orders_test():
    """version-orders-test: ops without :process or :time or invokes (Jepsen accepts them); an
    info txn proven committed by a read of b writes c at offset 1, where b was read."""
    j = J()
    j.raw("{:type :ok, :f :txn, :value [[:poll {:x [[0 :a] [1 :b]]}]]}")
    j.raw("{:type :info, :f :txn, :value [[:send :x [1 :c]] [:send :x [3 :b]] [:send :x [4 :d]]]}")
    res = j.check()
    assert pick(errors(res, "inconsistent-offsets"), "key", "index", "offset", "values") == [
        {"key": "x", "index": 1, "offset": 1, "values": ["b", "c"]}
    ]
    assert len(res["history_warnings"]) == 2  # two completions without an invoke, named
    assert "op 1 (info txn, process None)" in res["history_warnings"][1]


def test_version_orders_test_a_real_world_example():
    """version-orders-test / "a real-world example": two ok sends acknowledged at one offset."""
    j = J()
    j.o(379, "invoke", "send", "[[:send 11 641]]", time=280153467070)
    j.o(379, "ok", "send", "[[:send 11 [537 641]]]", time=280169754615)
    j.o(363, "invoke", "send", "[[:send 11 645]]", time=283654729962)
    j.o(363, "ok", "send", "[[:send 11 [537 645]]]", time=287474569112)
    assert pick(errors(j.check(), "inconsistent-offsets"), "key", "index", "offset", "values") == [
        {"key": "11", "index": 0, "offset": 537, "values": [641, 645]}
    ]


def _inconsistent_offsets_sends(j: J) -> None:
    j.o(0, "invoke", "send", "[[:send :x 1] [:send :y 1]]")
    j.o(0, "info", "send", "[[:send :x [0 1]] [:send :y 1]]")
    j.o(1, "invoke", "send", "[[:send :x 2]]")
    j.o(1, "ok", "send", "[[:send :x [0 2]]]")


def test_inconsistent_offsets_test_info_conflicts():
    """inconsistent-offsets-test / "info conflicts": an info send conflicting with an ok send is
    no conflict until a read proves the info send committed."""
    j = J()
    _inconsistent_offsets_sends(j)
    assert errors(j.check(), "inconsistent-offsets") == []
    j.o(2, "invoke", "poll", "[[:poll]]")
    j.o(2, "ok", "poll", "[[:poll {:y [[5 1]]}]]")
    assert pick(errors(j.check(), "inconsistent-offsets"), "key", "index", "offset", "values") == [
        {"key": "x", "index": 0, "offset": 0, "values": [1, 2]}
    ]


def test_duplicate_test_basic():
    """duplicate-test / "basic": a sent at offset 1 and read at offset 3."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x :a]]")
    j.o(0, "ok", "send", "[[:send :x [1 :a]]]")
    j.o(1, "invoke", "send", "[[:send :x :b]]")
    j.o(1, "info", "send", "[[:send :x :b]]")
    j.o(2, "invoke", "poll", "[[:poll]]")
    j.o(2, "ok", "poll", "[[:poll {:x [[2 :b] [3 :a]]}]]")
    assert pick(errors(j.check(), "duplicate"), "key", "value", "count", "offsets") == [
        {"key": "x", "value": "a", "count": 2, "offsets": [1, 3]}
    ]


def test_duplicate_test_hash_insensitive():
    """duplicate-test / "hash-insensitive": ten values each sent at 0 and read at 1 are all
    duplicates, and offsets 0 and 1 each hold all ten (inconsistent offsets)."""
    j = J()
    for value in range(10):
        j.o(0, "invoke", "send", f"[[:send :x {value}]]")
        j.o(0, "ok", "send", f"[[:send :x [0 {value}]]]")
        j.o(1, "invoke", "poll", "[[:poll]]")
        j.o(1, "ok", "poll", f"[[:poll {{:x [[1 {value}]]}}]]")
    res = j.check()
    assert sorted(w["value"] for w in errors(res, "duplicate")) == list(range(10))
    assert pick(errors(res, "inconsistent-offsets"), "key", "offset", "index", "values") == [
        {"key": "x", "offset": 0, "index": 0, "values": list(range(10))},
        {"key": "x", "offset": 1, "index": 1, "values": list(range(10))},
    ]


def test_duplicate_test_aborted_txns():
    """duplicate-test / "aborted txns": a failed poll still counts as evidence of the log; the
    failed send's value 1 was never written, so only 0 is a duplicate."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x 0]]")
    j.o(0, "ok", "send", "[[:send :x [1 0]]]")
    j.o(0, "invoke", "send", "[[:send :x 1]]")
    j.o(0, "fail", "send", "[[:send :x [2 1]]]")
    j.o(1, "invoke", "poll", "[[:poll]]")
    j.o(1, "fail", "poll", "[[:poll {:x [[11 0] [12 1]]}]]")
    assert pick(errors(j.check(), "duplicate"), "key", "value", "count", "offsets") == [
        {"key": "x", "value": 0, "count": 2, "offsets": [1, 11]}
    ]
