"""Jepsen's ``kafka_test.clj``: poll-skip-test, nonmonotonic-poll-test, int-poll-skip-test,
int-nonmonotonic-poll-test. Each test names the deftest it translates and asserts what it asserts.
"""

from __future__ import annotations

import pytest

from tests.checkers.jepsen.jepsen_ops import J, errors, pick

SKIP = ("key", "ops", "delta", "skipped_values")


def _poll_skip(j: J, between_3_and_4: str | None, between_4_and_6: str | None) -> dict[str, int]:
    """poll-skip-test's history; the optional subscribe/assign ops go where Jepsen puts them."""
    ix: dict[str, int] = {}
    j.o(0, "invoke", "poll", "[[:poll]]")
    ix["poll-1-2"] = j.o(0, "ok", "poll", "[[:poll {:x [[1 :a], [2 :b]]}]]")
    j.o(1, "invoke", "poll", "[[:poll]]")
    j.o(1, "ok", "poll", "[[:poll {:x [[3 :c]]}]]")
    if between_3_and_4:
        f, type_, keys = between_3_and_4.split(maxsplit=2)
        j.o(0, "invoke", f, keys)
        j.o(0, type_, f, keys)
    j.o(0, "invoke", "poll", "[[:poll]]")
    ix["poll-4"] = j.o(0, "ok", "poll", "[[:poll {:x [[4 :d]]}]]")
    if between_4_and_6:
        f, type_, keys = between_4_and_6.split(maxsplit=2)
        j.o(0, "invoke", f, keys)
        j.o(0, type_, f, keys)
    j.o(2, "invoke", "send", "[[:send :x :f]]")
    j.o(2, "ok", "send", "[[:send :x [6 :f]]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    ix["poll-7"] = j.o(0, "ok", "poll", "[[:poll {:x [[7 :g]]}]]")
    j.o(
        3,
        "invoke",
        "send",
        "[[:send :x :a] [:send :x :b] [:send :x :c] [:send :x :d] [:send :x :g]]",
    )
    j.o(
        3, "info", "send", "[[:send :x :a] [:send :x :b] [:send :x :c] [:send :x :d] [:send :x :g]]"
    )
    return ix


def _expected(ix: dict[str, int]) -> list[dict[str, object]]:
    return [
        {"key": "x", "ops": [ix["poll-1-2"], ix["poll-4"]], "delta": 2, "skipped_values": ["c"]},
        {"key": "x", "ops": [ix["poll-4"], ix["poll-7"]], "delta": 2, "skipped_values": ["f"]},
    ]


def test_poll_skip_test():
    """poll-skip-test: process 0 reads 1 2, 4, 7; 3 and 6 are known to exist (5 may be a gap)."""
    j = J()
    ix = _poll_skip(j, None, None)
    res = j.check()
    assert pick(errors(res, "poll-skip"), *SKIP) == _expected(ix)


def test_poll_skip_test_with_intermediate_subscribe_to_other_keys():
    """poll-skip-test / "with intermediate subscribe": subscribing/assigning (even info) to keys
    without x forgets the position on x: no skip."""
    j = J()
    _poll_skip(j, "subscribe ok [:y]", "assign info [:y]")
    assert errors(j.check(), "poll-skip") == []


def test_poll_skip_test_subscribes_that_still_cover_x():
    """poll-skip-test / "with intermediate subscribe": subscribe/assign still covering x keep
    the position, so both skips are still found."""
    j = J()
    ix = _poll_skip(j, "subscribe ok [:x :y]", "assign ok [:x :y]")
    res = j.check()
    assert pick(errors(res, "poll-skip"), *SKIP) == _expected(ix)
    # eosim's validity (Jepsen's allowed-error-types): the skip after the subscribe is allowed,
    # the one after the assign is not.
    assert [w["subscribed"] for w in errors(res, "poll-skip")] == [True, False]
    assert "poll-skip" in res["forbidden"]


SEND_0_TO_5 = (
    "[[:send :x [0 0]] [:send :x [1 1]] [:send :x [2 2]] [:send :x [3 3]] [:send :x [4 4]] "
    "[:send :x [5 5]]]"
)


def test_poll_skip_test_txn_abort_good():
    """poll-skip-test / "txn abort" / "good": aborted and crashed polls rewind; polling 1 2 again
    after them is correct. Jepsen asserts no errors at all."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x 0] [:send :x 1] [:send :x 2]]")
    j.o(0, "ok", "send", "[[:send :x [0 0]] [:send :x [1 1]] [:send :x [2 2]]]")
    j.o(1, "invoke", "txn", "[[:poll]]")
    j.o(1, "ok", "txn", "[[:poll {:x [[0 0]]}]]")
    for type_ in ("fail", "info", "ok"):
        j.o(1, "invoke", "txn", "[[:poll]]")
        j.o(1, type_, "txn", "[[:poll {:x [[1 1] [2 2]]}]]")
    res = j.check()
    assert res["anomaly_types"] == [] and res["valid"] is True


@pytest.mark.parametrize("last", ["fail-then-ok", "info"])
def test_poll_skip_test_txn_abort_does_not_roll_back(last):
    """poll-skip-test / "txn abort" / "abort doesn't roll back" (fail, then ok) and "info can be
    a poll-skip": after an aborted poll of 1 2, the next poll must start at 1 again."""
    j = J()
    j.o(0, "invoke", "send", "[" + " ".join(f"[:send :x {i}]" for i in range(6)) + "]")
    j.o(0, "ok", "send", SEND_0_TO_5)
    j.o(1, "invoke", "txn", "[[:poll]]")
    poll_0 = j.o(1, "ok", "txn", "[[:poll {:x [[0 0]]}]]")
    j.o(1, "invoke", "txn", "[[:poll]]")
    j.o(1, "fail", "txn", "[[:poll {:x [[1 1] [2 2]]}]]")
    j.o(1, "invoke", "txn", "[[:poll]]")
    poll_34 = j.o(
        1, "fail" if last == "fail-then-ok" else "info", "txn", "[[:poll {:x [[3 3] [4 4]]}]]"
    )
    expected = [{"key": "x", "delta": 3, "skipped_values": [1, 2], "ops": [poll_0, poll_34]}]
    if last == "fail-then-ok":
        j.o(1, "invoke", "txn", "[[:poll]]")
        poll_5 = j.o(1, "ok", "txn", "[[:poll {:x [[5 5]]}]]")
        expected.append(
            {"key": "x", "delta": 5, "skipped_values": [1, 2, 3, 4], "ops": [poll_0, poll_5]}
        )
    assert pick(errors(j.check(), "poll-skip"), "key", "delta", "skipped_values", "ops") == expected


def _nonmonotonic_poll(j: J, between: str | None) -> tuple[int, int]:
    j.o(0, "invoke", "send", "[[:send :x :a] [:send :x :b] [:send :x :c] [:send :x :d]]")
    j.o(0, "ok", "send", "[[:send :x :a] [:send :x :b] [:send :x :c] [:send :x :d]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    a = j.o(0, "ok", "poll", "[[:poll {:x [[1 :a], [2 :b], [3 :c]]}]]")
    if between:
        f, keys = between.split(maxsplit=1)
        j.o(0, "invoke", f, keys)
        j.o(0, "ok", f, keys)
    j.o(0, "invoke", "poll", "[[:poll]]")
    b = j.o(0, "ok", "poll", "[[:poll {:x [[2 :b], [3 :c], [4 :d]]}]]")
    return a, b


NM = ("key", "ops", "values", "delta")


def test_nonmonotonic_poll_test_together():
    """nonmonotonic-poll-test / "together": reads 1 2 3, then 2 3 4."""
    j = J()
    a, b = _nonmonotonic_poll(j, None)
    assert pick(errors(j.check(), "nonmonotonic-poll"), *NM) == [
        {"key": "x", "ops": [a, b], "values": ["c", "b"], "delta": -1}
    ]


@pytest.mark.parametrize("between", ["subscribe [:y]", "assign [:y]"])
def test_nonmonotonic_poll_test_intermediate_subscribe_to_other_keys(between):
    """nonmonotonic-poll-test / "with intermediate subscribe": to [:y] forgets x."""
    j = J()
    _nonmonotonic_poll(j, between)
    assert errors(j.check(), "nonmonotonic-poll") == []


@pytest.mark.parametrize("between", ["subscribe [:x :y]", "assign [:x :y]"])
def test_nonmonotonic_poll_test_subscribes_that_still_cover_x(between):
    """nonmonotonic-poll-test / "with intermediate subscribe": [:x :y] keeps x's position."""
    j = J()
    a, b = _nonmonotonic_poll(j, between)
    assert pick(errors(j.check(), "nonmonotonic-poll"), *NM) == [
        {"key": "x", "ops": [a, b], "values": ["c", "b"], "delta": -1}
    ]


def test_int_poll_skip_test():
    """int-poll-skip-test: one op reads 1 then 4, within one poll and across two polls; another
    op's read of 2 shows there was a record between."""
    j = J()
    j.o(1, "invoke", "send", "[[:send :x :a] [:send :x :b] [:send :x :d]]")
    j.o(1, "info", "send", "[[:send :x :a] [:send :x :b] [:send :x :d]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    a = j.o(0, "ok", "poll", "[[:poll {:x [[1 :a], [4 :d]]}]]")
    j.o(0, "invoke", "poll", "[[:poll] [:poll]]")
    b = j.o(0, "ok", "poll", "[[:poll {:x [[1 :a]]}] [:poll {:x [[4 :d]]}]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    j.o(0, "ok", "poll", "[[:poll {:x [[2 :b]]}]]")
    fields = ("key", "values", "skipped_values", "delta", "ops")
    assert pick(errors(j.check(), "int-poll-skip"), *fields) == [
        {"key": "x", "values": ["a", "d"], "skipped_values": ["b"], "delta": 2, "ops": [a]},
        {"key": "x", "values": ["a", "d"], "skipped_values": ["b"], "delta": 2, "ops": [b]},
    ]


def test_int_nonmonotonic_poll_test():
    """int-nonmonotonic-poll-test: 3 then 1 in one poll; c twice across two polls of one op."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x :a] [:send :x :b] [:send :x :c]]")
    j.o(0, "info", "send", "[[:send :x :a] [:send :x :b] [:send :x :c]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    a = j.o(0, "ok", "poll", "[[:poll {:x [[3 :c] [1 :a]]}]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    b = j.o(0, "ok", "poll", "[[:poll {:x [[2 :b] [3 :c]]}] [:poll {:x [[3 :c]]}]]")
    assert pick(errors(j.check(), "int-nonmonotonic-poll"), "key", "values", "delta", "ops") == [
        {"key": "x", "values": ["c", "a"], "delta": -2, "ops": [a]},
        {"key": "x", "values": ["c", "c"], "delta": 0, "ops": [b]},
    ]


@pytest.mark.parametrize("seek", [True, False])
def test_final_polls_seek_to_the_beginning(seek):
    """Jepsen's workload ends with ``{:f :assign, :seek-to-beginning? true}`` and polls from
    offset 0 (after crashing the client). Reading the log again after such an assign is no
    nonmonotonic poll; after a plain assign to the same key it is."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x :a] [:send :x :b]]")
    j.o(0, "ok", "send", "[[:send :x [0 :a]] [:send :x [1 :b]]]")
    j.o(1, "invoke", "poll", "[[:poll]]")
    j.o(1, "ok", "poll", "[[:poll {:x [[0 :a] [1 :b]]}]]")
    flag = ", :seek-to-beginning? true" if seek else ""
    j.raw(f"{{:time 9, :process 1, :type :invoke, :f :assign, :value [:x]{flag}}}")
    j.raw(f"{{:time 9, :process 1, :type :ok, :f :assign, :value [:x]{flag}}}")
    j.o(1, "invoke", "poll", "[[:poll]]")
    j.o(1, "ok", "poll", "[[:poll {:x [[0 :a] [1 :b]]}]]")
    res = j.check()
    assert (errors(res, "nonmonotonic-poll") == []) is seek
    assert res["valid"] is seek
