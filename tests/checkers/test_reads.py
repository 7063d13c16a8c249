"""poll-skip, nonmonotonic-poll, int-poll-skip, int-nonmonotonic-poll."""

from __future__ import annotations

import pytest

from tests.checkers.builders import H, only, witnesses


def three_values(h: H) -> None:
    for off, v in enumerate([10, 11, 12]):
        h.send(100, "k", v, offset=off)


# --- poll-skip ---------------------------------------------------------------------------------
def test_poll_skip_between_polls():
    h = H()
    three_values(h)
    h.assign(1, ["k"])
    a = h.poll(1, {"k": [(0, 10)]})
    b = h.poll(1, {"k": [(2, 12)]})
    h.poll(9, {"k": [(1, 11)]})  # someone else read 11: it is not lost, 1 was skipped
    res = h.check("at-least-once")
    w = only(res, "poll-skip")
    assert w["ops"] == [a, b] and w["skipped"] == [1] and w["subscribed"] is False
    assert res["valid"] is False


def test_no_poll_skip_when_contiguous():
    h = H()
    three_values(h)
    h.assign(1, ["k"])
    h.poll(1, {"k": [(0, 10)]})
    h.poll(1, {"k": [(1, 11), (2, 12)]})
    res = h.check("transactional")
    assert res["anomaly_types"] == [] and res["valid"] is True


def test_poll_skip_under_subscribe_is_allowed():
    h = H()
    three_values(h)
    h.subscribe(1, ["k"], group="g")
    h.poll(1, {"k": [(0, 10)]})
    h.poll(1, {"k": [(2, 12)]})
    h.poll(9, {"k": [(1, 11)]})
    res = h.check("transactional")
    assert only(res, "poll-skip")["subscribed"] is True
    assert res["valid"] is True and "poll-skip" in res["allowed"]


def test_rebalanced_key_is_exempt():
    h = H()
    three_values(h)
    h.assign(1, ["k"])
    h.poll(1, {"k": [(0, 10)]})
    h.poll(1, {"k": [(2, 12)]}, rebalance_log=["k"])
    h.poll(9, {"k": [(1, 11)]})
    assert h.check()["anomaly_types"] == []


def test_skipping_an_aborted_offset_is_not_a_skip():
    h = H()
    h.send(100, "k", 10, offset=0)
    h.txn(101, sends=[("k", 11, 1)], type_="fail")  # aborted
    h.send(100, "k", 12, offset=2)
    h.poll(9, {"k": [(0, 10), (1, 11), (2, 12)]}, isolation="read_uncommitted")
    h.assign(1, ["k"])
    h.poll(1, {"k": [(0, 10)]}, isolation="read_committed")
    h.poll(1, {"k": [(2, 12)]}, isolation="read_committed")
    res = h.check("transactional")
    assert witnesses(res, "poll-skip") == []
    assert "G1a" in res["anomaly_types"]  # the read_uncommitted reader saw aborted data


def test_reassign_to_the_same_key_keeps_the_position():
    """Kafka's assign (and Jepsen's checker) keep the position of partitions still assigned."""
    h = H()
    three_values(h)
    h.assign(1, ["k"])
    a = h.poll(1, {"k": [(0, 10)]})
    h.assign(1, ["k", "other"])
    b = h.poll(1, {"k": [(2, 12)]})
    h.poll(9, {"k": [(1, 11)]})
    res = h.check()
    w = only(res, "poll-skip")
    assert w["ops"] == [a, b] and w["skipped_values"] == [11] and w["subscribed"] is False
    assert res["valid"] is False


@pytest.mark.parametrize("extra", [{"value": ["other"]}, {"seek-to-beginning?": True}])
def test_assign_without_the_key_or_seeking_to_the_beginning_resets_it(extra):
    h = H()
    three_values(h)
    h.assign(1, ["k"])
    h.poll(1, {"k": [(0, 10)]})
    value = extra.get("value", ["k"])
    h.invoke(1, "assign", value)
    h.complete(1, "ok", "assign", value, **{k: v for k, v in extra.items() if k != "value"})
    h.poll(1, {"k": [(2, 12)]})
    h.poll(9, {"k": [(1, 11)]})
    assert h.check()["anomaly_types"] == []


# --- nonmonotonic-poll -------------------------------------------------------------------------
def test_nonmonotonic_poll():
    h = H()
    three_values(h)
    h.assign(1, ["k"])
    a = h.poll(1, {"k": [(0, 10), (1, 11)]})
    b = h.poll(1, {"k": [(1, 11), (2, 12)]})
    res = h.check("at-least-once")
    w = only(res, "nonmonotonic-poll")
    assert w["ops"] == [a, b] and w["offsets"] == [1, 1]
    assert res["valid"] is False


def test_nonmonotonic_poll_after_reset_is_fine():
    h = H()
    three_values(h)
    h.assign(1, ["k"])
    h.poll(1, {"k": [(0, 10), (1, 11)]})
    h.assign(1, ["j"])
    h.assign(1, ["k"])
    h.poll(1, {"k": [(1, 11), (2, 12)]})
    assert h.check()["anomaly_types"] == []


def test_failed_poll_does_not_move_the_session():
    h = H()
    three_values(h)
    h.assign(1, ["k"])
    h.poll(1, {"k": [(0, 10), (1, 11)]}, type_="fail")
    h.poll(1, {"k": [(0, 10), (1, 11), (2, 12)]})
    assert h.check()["anomaly_types"] == []


@pytest.mark.parametrize("type_", ["fail", "info"])
def test_failed_or_crashed_poll_is_checked_against_the_position(type_):
    """It should have started where the session stood (Jepsen checks every poll)."""
    h = H()
    three_values(h)
    h.assign(1, ["k"])
    a = h.poll(1, {"k": [(0, 10)]})
    b = h.poll(1, {"k": [(2, 12)]}, type_=type_)
    h.poll(9, {"k": [(1, 11)]})
    res = h.check()
    w = only(res, "poll-skip")
    assert w["ops"] == [a, b] and w["skipped"] == [1]
    assert f"({type_}: it should have rewound)" in w["explanation"]


# --- int-poll-skip / int-nonmonotonic-poll ------------------------------------------------------
def test_int_poll_skip():
    h = H()
    three_values(h)
    h.poll(9, {"k": [(1, 11)]})
    r = h.poll(1, {"k": [(0, 10), (2, 12)]})
    res = h.check("at-least-once")
    w = only(res, "int-poll-skip")
    assert w["ops"] == [r] and w["skipped"] == [1] and w["skipped_count"] == 1
    assert res["valid"] is False


def test_int_poll_skip_exempt_when_rebalanced():
    h = H()
    three_values(h)
    h.poll(9, {"k": [(1, 11)]})
    h.poll(1, {"k": [(0, 10), (2, 12)]}, rebalance_log=["k"])
    assert h.check()["anomaly_types"] == []


def test_int_nonmonotonic_poll():
    h = H()
    three_values(h)
    r = h.poll(1, {"k": [(1, 11), (0, 10), (2, 12)]})
    res = h.check("at-least-once")
    w = only(res, "int-nonmonotonic-poll")
    assert w["ops"] == [r] and w["offsets"] == [1, 0]
    assert res["valid"] is False


def test_int_monotonic_poll():
    h = H()
    three_values(h)
    h.poll(1, {"k": [(0, 10), (1, 11), (2, 12)]})
    assert h.check()["anomaly_types"] == []
