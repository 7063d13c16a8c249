"""Jepsen's ``kafka_test.clj``: nonmonotonic-send-test, int-send-skip-test,
int-nonmonotonic-send-test, g0-test, g1c-pure-wr-test, g1c-ww-wr-test, and the validity rule of
Jepsen's checker (``allowed-error-types``). Each test names what it translates.
"""

from __future__ import annotations

import pytest

from tests.checkers.jepsen.jepsen_ops import J, errors, pick


def _nonmonotonic_send(j: J, between: str | None) -> tuple[int, int]:
    j.o(0, "invoke", "send", "[[:send :x :c] [:send :x :d]]")
    a = j.o(0, "ok", "send", "[[:send :x [3 :c]] [:send :x [4 :d]]]")
    if between:
        f, type_, keys = between.split(maxsplit=2)
        j.o(0, "invoke", f, keys)
        j.o(0, type_, f, keys)
    j.o(0, "invoke", "send", "[[:send :x 1] [:send :x 2]]")
    b = j.o(0, "ok", "send", "[[:send :x [1 :a]] [:send :x [2 :b]]]")
    return a, b


NM = ("key", "values", "delta", "ops")


@pytest.mark.parametrize("between", [None, "subscribe ok [:x :y]", "assign ok [:x :y]"])
def test_nonmonotonic_send_test(between):
    """nonmonotonic-send-test: sends land at 3 4, then at 1 2 (also across a subscribe/assign
    that still covers x)."""
    j = J()
    a, b = _nonmonotonic_send(j, between)
    assert pick(errors(j.check(), "nonmonotonic-send"), *NM) == [
        {"key": "x", "values": ["d", "a"], "delta": -3, "ops": [a, b]}
    ]


@pytest.mark.parametrize("between", ["subscribe ok [:y]", "assign info [:y]"])
def test_nonmonotonic_send_test_intermediate_subscribe_deviation(between):
    """nonmonotonic-send-test / "with intermediate subscribe" to [:y]: Jepsen expects nothing,
    because its checker resets a process's send tracking on the consumer's subscribe/assign.
    eosim deliberately does not (README, "Jepsen conformance"): a consumer's assignment says
    nothing about the producer, whose sends to x still went backwards."""
    j = J()
    a, b = _nonmonotonic_send(j, between)
    assert pick(errors(j.check(), "nonmonotonic-send"), *NM) == [
        {"key": "x", "values": ["d", "a"], "delta": -3, "ops": [a, b]}
    ]


def test_int_send_skip_test():
    """int-send-skip-test: a at 1 and c (offset unknown) in one op; a poll shows b at 2, c at 3."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x :a] [:send :x :c]]")
    op = j.o(0, "ok", "send", "[[:send :x [1 :a]] [:send :x :c]]")
    j.o(1, "invoke", "send", "[[:send :x :b]]")
    j.o(1, "info", "send", "[[:send :x :b]]")
    j.o(2, "invoke", "poll", "[[:poll]]")
    j.o(2, "ok", "poll", "[[:poll {:x [[2 :b] [3 :c]]}]]")
    res = j.check()
    assert pick(
        errors(res, "int-send-skip"), "key", "values", "skipped_values", "delta", "ops"
    ) == [{"key": "x", "values": ["a", "c"], "skipped_values": ["b"], "delta": 2, "ops": [op]}]


def test_int_nonmonotonic_send_test():
    """int-nonmonotonic-send-test: offsets out of order in the ack (3 then 1), or inferred from
    a poll for an info op (d at 4, then b at 2)."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x 3] [:send :x 1]]")
    a = j.o(0, "ok", "send", "[[:send :x [3 :c]] [:send :x [1 :a]]]")
    j.o(0, "invoke", "send", "[[:send :y :d] [:send :y :b]]")
    b = j.o(0, "info", "send", "[[:send :y :d] [:send :y :b]]")
    j.o(1, "invoke", "send", "[[:send :y :c]]")
    j.o(1, "info", "send", "[[:send :y :c]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    j.o(0, "ok", "poll", "[[:poll {:y [[2 :b] [3 :c] [4 :d]]}]]")
    assert pick(errors(j.check(), "int-nonmonotonic-send"), "key", "values", "delta", "ops") == [
        {"key": "x", "values": ["c", "a"], "delta": -1, "ops": [a]},
        {"key": "y", "values": ["d", "b"], "delta": -2, "ops": [b]},
    ]


def test_info_send_is_placed_by_its_own_offsets():
    """An info send that reports offsets is placed there, not where its value was first seen:
    a duplicate copy read earlier must not make its sends look reordered or apart."""
    j = J()
    j.o(1, "invoke", "poll", "[[:poll]]")
    j.o(1, "ok", "poll", "[[:poll {:x [[0 :b]]}]]")
    j.o(0, "invoke", "send", "[[:send :x :a] [:send :x :b]]")
    j.o(0, "info", "send", "[[:send :x [5 :a]] [:send :x [6 :b]]]")
    res = j.check()
    assert errors(res, "int-nonmonotonic-send") == [] and errors(res, "int-send-skip") == []
    j.o(0, "invoke", "send", "[[:send :x :c] [:send :x :d]]")
    bad = j.o(0, "info", "send", "[[:send :x [9 :c]] [:send :x [7 :d]]]")
    assert pick(errors(j.check(), "int-nonmonotonic-send"), "values", "ops") == [
        {"values": ["c", "d"], "ops": [bad]}
    ]


STEP = ("from", "to", "type", "key", "value", "value_to")


def test_g0_test():
    """g0-test (with ww-deps: eosim always infers ww edges from offsets): two sends write x and
    y in opposite orders."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x :a] [:send :y :a]]")
    j.o(1, "invoke", "send", "[[:send :x :b] [:send :y :b]]")
    wa = j.o(0, "ok", "send", "[[:send :x [0 :a]] [:send :y [1 :a]]]")
    wb = j.o(1, "ok", "send", "[[:send :x [1 :b]] [:send :y [0 :b]]]")
    res = j.check()
    (w,) = errors(res, "G0")
    assert sorted(w["cycle"]) == [wa, wb]
    assert sorted(pick(w["steps"], *STEP), key=lambda s: s["key"]) == [
        {"from": wa, "to": wb, "type": "ww", "key": "x", "value": "a", "value_to": "b"},
        {"from": wb, "to": wa, "type": "ww", "key": "y", "value": "b", "value_to": "a"},
    ]
    assert "G0" in res["allowed"]  # Jepsen: G0 is always allowed


def test_g1c_pure_wr_test():
    """g1c-pure-wr-test: each transaction polls the other's write. Forbidden (Jepsen without
    ww-deps; eosim always, see README)."""
    j = J()
    j.o(0, "invoke", "txn", "[[:send :x :a] [:poll]]")
    j.o(1, "invoke", "txn", "[[:send :y :b] [:poll]]")
    t1 = j.o(0, "ok", "txn", "[[:send :x [0 :a]] [:poll {:y [[0 :b]]}]]")
    t2 = j.o(1, "ok", "txn", "[[:send :y [0 :b]] [:poll {:x [[0 :a]]}]]")
    res = j.check()
    (w,) = errors(res, "G1c")
    assert sorted(w["cycle"]) == [t1, t2] and w["wr_only"] is True
    assert sorted(
        pick(w["steps"], "from", "to", "type", "key", "value"), key=lambda s: s["key"]
    ) == [
        {"from": t1, "to": t2, "type": "wr", "key": "x", "value": "a"},
        {"from": t2, "to": t1, "type": "wr", "key": "y", "value": "b"},
    ]
    assert res["valid"] is False and "G1c" in res["forbidden"]


def test_g1c_ww_wr_test():
    """g1c-ww-wr-test (with ww-deps): t2 reads t1's x, and t2's y precedes t1's y. Allowed, as
    Jepsen allows G1c when it infers ww edges."""
    j = J()
    j.o(0, "invoke", "txn", "[[:send :x :a] [:send :y :c]]")
    j.o(1, "invoke", "txn", "[[:poll] [:send :y :b]]")
    t1 = j.o(0, "ok", "txn", "[[:send :x [0 :a]] [:send :y [2 :c]]]")
    t2 = j.o(1, "ok", "txn", "[[:poll {:x [[0 :a]]}] [:send :y [1 :b]]]")
    res = j.check()
    (w,) = errors(res, "G1c")
    assert w["wr_only"] is False
    assert sorted(pick(w["steps"], *STEP), key=lambda s: s["key"]) == [
        {"from": t1, "to": t2, "type": "wr", "key": "x", "value": "a", "value_to": None},
        {"from": t2, "to": t1, "type": "ww", "key": "y", "value": "b", "value_to": "c"},
    ]
    assert "G1c" in res["allowed"]


def test_allowed_error_types():
    """allowed-error-types: int-send-skip and G0 are always allowed; poll-skip and
    nonmonotonic-poll only for subscribed consumers; everything else invalidates."""
    from checkers.modes import rule, violates

    assert rule("transactional", "int-send-skip") == "A" and rule("transactional", "G0") == "A"
    for name in ("poll-skip", "nonmonotonic-poll"):
        assert not violates("transactional", name, {"subscribed": True})
        assert violates("transactional", name, {"subscribed": False})
    for name in (
        "lost-write",
        "duplicate",
        "inconsistent-offsets",
        "G1a",
        "precommitted-read",
        "nonmonotonic-send",
        "int-nonmonotonic-send",
        "int-poll-skip",
        "int-nonmonotonic-poll",
    ):
        assert rule("transactional", name) == "F", name
