"""duplicate, inconsistent-offsets, lost-write, unseen, nonmonotonic-send, int-send-*."""

from __future__ import annotations

from tests.checkers.builders import H, only, witnesses


def log_of(h: H, key: str, values: list[int], p: int = 100) -> list[int]:
    """Plain ok sends of values at offsets 0..n-1; returns their completion indices."""
    return [h.send(p, key, v, offset=i) for i, v in enumerate(values)]


def final_read(h: H, key: str, pairs: list[tuple[int, int]], p: int = 200) -> int:
    h.assign(p, [key])
    return h.poll(p, {key: pairs})


# --- duplicate ---------------------------------------------------------------------------------
def test_duplicate_value_at_two_offsets():
    h = H()
    w = h.send(1, "k", 7, offset=0)
    r = final_read(h, "k", [(0, 7), (1, 7)])
    res = h.check("at-least-once")
    d = only(res, "duplicate")
    assert d["key"] == "k" and d["value"] == 7 and d["offsets"] == [0, 1]
    assert d["ops"] == [w, r]
    assert d["cross_session"] is False and d["sessions"] == [1]
    assert "value 7 on k at offsets 0 and 1" in d["explanation"]


def test_no_duplicate_when_values_distinct():
    h = H()
    h.send(1, "k", 7, offset=0)
    h.send(1, "k", 8, offset=1)
    final_read(h, "k", [(0, 7), (1, 8)])
    res = h.check("transactional")
    assert res["anomaly_types"] == [] and res["valid"] is True


def test_info_send_present_once_is_fine():
    h = H()
    h.send(1, "k", 7, offset=None, type_="info")
    h.send(2, "k", 8, offset=1)
    final_read(h, "k", [(0, 7), (1, 8)])
    res = h.check("transactional")
    assert res["anomaly_types"] == [] and res["valid"] is True


def test_info_send_absent_is_fine():
    h = H()
    h.send(1, "k", 7, offset=None, type_="info")
    h.send(2, "k", 8, offset=0)
    final_read(h, "k", [(0, 8)])
    res = h.check("transactional")
    assert res["anomaly_types"] == [] and res["valid"] is True


def test_info_send_present_twice_is_a_duplicate():
    h = H()
    w = h.send(1, "k", 7, offset=None, type_="info")
    h.send(2, "k", 8, offset=1)
    r = final_read(h, "k", [(0, 7), (1, 8), (2, 7)])
    d = only(h.check("at-least-once"), "duplicate")
    assert d["offsets"] == [0, 2] and w in d["ops"] and r in d["ops"]
    assert "info" in d["explanation"]


def test_duplicate_sessions_decide_idempotent_verdict():
    same = H()  # an application resend from the same producer id: one session
    a = same.send(1, "k", 7, offset=0, pid=10)
    b = same.send(1, "k", 7, offset=1, pid=10)
    final_read(same, "k", [(0, 7), (1, 7)])
    res = same.check("idempotent")
    d = only(res, "duplicate")
    assert d["cross_session"] is False and set(d["ops"]) >= {a, b}
    assert res["valid"] is False and res["forbidden"] == ["duplicate"]

    cross = H()  # a restarted producer (new pid) wrote the value again
    cross.send(1, "k", 7, offset=0, pid=10)
    cross.send(4, "k", 7, offset=1, pid=11)
    final_read(cross, "k", [(0, 7), (1, 7)])
    res = cross.check("idempotent")
    d = only(res, "duplicate")
    assert d["cross_session"] is True and d["sessions"] == [10, 11]
    assert res["valid"] is True and res["allowed"] == ["duplicate"]


def test_duplicate_verdict_by_mode():
    h = H()
    h.send(1, "k", 7, offset=0)
    final_read(h, "k", [(0, 7), (1, 7)])
    alo = h.check("at-least-once")
    assert alo["valid"] is True and alo["allowed"] == ["duplicate"]
    assert "duplicate" not in alo["promised"]
    txn = h.check("transactional")
    assert txn["valid"] is False and txn["forbidden"] == ["duplicate"]


# --- inconsistent-offsets ----------------------------------------------------------------------
def test_inconsistent_offsets():
    h = H()
    log_of(h, "k", [1, 2])
    r1 = h.poll(5, {"k": [(0, 1), (1, 2)]})
    r2 = h.poll(6, {"k": [(0, 1), (1, 3)]})
    res = h.check("at-least-once")
    w = only(res, "inconsistent-offsets")
    assert w["key"] == "k" and w["offset"] == 1 and w["values"] == [2, 3]
    assert r2 in w["ops"] and r1 not in w["ops"]
    assert res["valid"] is False


def test_consistent_offsets():
    h = H()
    log_of(h, "k", [1, 2])
    h.poll(5, {"k": [(0, 1), (1, 2)]})
    h.poll(6, {"k": [(0, 1), (1, 2)]})
    assert "inconsistent-offsets" not in h.check("at-least-once")["anomaly_types"]


# --- lost-write / unseen -----------------------------------------------------------------------
def test_lost_write_inside_a_range_read():
    h = H()
    w0, w1, w2 = log_of(h, "k", [10, 11, 12])
    r = final_read(h, "k", [(0, 10), (2, 12)])
    res = h.check("at-least-once")
    lw = only(res, "lost-write")
    assert lw["value"] == 11 and lw["offset"] == 1 and lw["ops"] == [w1, r]
    assert res["valid"] is False and "lost-write" in res["forbidden"]


def test_reads_not_caught_up_are_unseen_not_lost():
    h = H()
    w0, w1, w2 = log_of(h, "k", [10, 11, 12])
    final_read(h, "k", [(0, 10)])
    res = h.check("transactional")
    assert "lost-write" not in res["anomaly_types"]
    u = only(res, "unseen")
    assert u["count"] == 2 and u["values"] == [11, 12] and u["ops"] == [w1, w2]
    assert res["warnings"] == ["unseen"] and res["valid"] == "unknown"
    assert res["unknown_reason"].startswith("no final reads: 2 acknowledged value(s) on k")
    h.poll(200, {"k": [(1, 11), (2, 12)]})
    done = h.check("transactional")
    assert done["valid"] is True and done["unknown_reason"] is None


def test_values_below_the_highest_offset_read_are_lost():
    """Jepsen's rule: every value below the highest offset anyone read should have been read
    by someone, even if no single consumer read across it."""
    h = H()
    w0, w1, _ = log_of(h, "k", [10, 11, 12])
    r = final_read(h, "k", [(2, 12)])
    res = h.check("transactional")
    lost = witnesses(res, "lost-write")
    assert [(w["value"], w["offset"], w["max_read_offset"]) for w in lost] == [
        (10, 0, 2),
        (11, 1, 2),
    ]
    assert lost[0]["ops"] == [w0, r] and lost[1]["writer"] == w1
    assert "consumers read k up to offset 2" in lost[0]["explanation"]
    assert "unseen" not in res["anomaly_types"] and res["valid"] is False


def test_values_above_the_highest_offset_read_are_unseen_not_lost():
    h = H()
    log_of(h, "k", [10, 11, 12])
    final_read(h, "k", [(0, 10)])
    res = h.check("transactional")
    assert "lost-write" not in res["anomaly_types"]
    assert only(res, "unseen")["values"] == [11, 12]


def test_lost_write_with_unknown_offset():
    h = H()
    h.send(1, "k", 10, offset=0)
    w = h.send(1, "k", 11, offset=None)  # ok, offset unknown
    h.send(2, "k", 12, offset=1)  # invoked after 11 was acknowledged
    r = final_read(h, "k", [(0, 10), (1, 12)])
    lw = only(h.check("at-least-once"), "lost-write")
    assert lw["value"] == 11 and lw["offset"] is None and lw["ops"] == [w, r]


def test_unknown_offset_concurrent_with_later_value_is_not_lost():
    h = H()
    h.send(1, "k", 10, offset=0)
    h.send_invoke(2, "k", 12)  # invoked before 11 completed: may have landed before it
    h.send(1, "k", 11, offset=None)
    h.send_done(2, "k", 12, 1)
    final_read(h, "k", [(0, 10), (1, 12)])
    res = h.check("at-least-once")
    assert "lost-write" not in res["anomaly_types"]
    assert only(res, "unseen")["values"] == [11]


def test_info_send_never_lost():
    h = H()
    h.send(1, "k", 10, offset=0)
    h.send(1, "k", 11, offset=None, type_="info")
    h.send(1, "k", 12, offset=2)
    final_read(h, "k", [(0, 10), (2, 12)])
    res = h.check("transactional")
    assert res["anomaly_types"] == [] and res["valid"] is True


def test_committed_txn_send_can_be_lost():
    h = H()
    t = h.txn(1, sends=[("k", 10, 0), ("k", 11, 1)])
    r = final_read(h, "k", [(0, 10), (2, 12)])
    h.send(2, "k", 12, offset=2)
    lw = only(h.check("transactional"), "lost-write")
    assert lw["value"] == 11 and lw["ops"] == [t, r]


# --- nonmonotonic-send -------------------------------------------------------------------------
def test_nonmonotonic_send():
    h = H()
    a = h.send(1, "k", 10, offset=5)
    b = h.send(1, "k", 11, offset=3)
    res = h.check("idempotent")
    w = only(res, "nonmonotonic-send")
    assert w["offsets"] == [5, 3] and w["ops"] == [a, b] and w["process"] == 1
    assert w["values"] == [10, 11] and w["delta"] == -1
    assert res["valid"] is False
    h.read_all()
    assert h.check("at-least-once")["valid"] is True


def test_monotonic_send():
    h = H()
    h.send(1, "k", 10, offset=3)
    h.send(1, "k", 11, offset=5)
    h.send(2, "k", 12, offset=4)  # another process: no order between sessions
    assert "nonmonotonic-send" not in h.check("idempotent")["anomaly_types"]


# --- int-send-skip / int-nonmonotonic-send ------------------------------------------------------
def test_int_send_skip():
    h = H()
    h.send(2, "k", 50, offset=1)
    op = h.sends(1, [("k", 10, 0), ("k", 11, 2)])
    h.read_all()
    res = h.check("transactional")
    w = only(res, "int-send-skip")
    assert w["ops"] == [op] and w["offsets"] == [0, 2] and w["between_count"] == 1
    assert w["skipped_values"] == [50] and w["delta"] == 2
    assert res["valid"] is True  # Kafka never kept one op's sends adjacent


def test_int_send_adjacent():
    h = H()
    h.send(2, "k", 50, offset=2)
    h.sends(1, [("k", 10, 0), ("k", 11, 1)])
    assert witnesses(h.check(), "int-send-skip") == []


def test_int_nonmonotonic_send():
    h = H()
    op = h.sends(1, [("k", 10, 2), ("k", 11, 1)])
    res = h.check("idempotent")
    w = only(res, "int-nonmonotonic-send")
    assert w["ops"] == [op] and w["values"] == [10, 11] and w["offsets"] == [2, 1]
    assert res["valid"] is False
    h.read_all()
    assert h.check("at-least-once")["valid"] is True


def test_int_monotonic_send():
    h = H()
    h.sends(1, [("k", 10, 1), ("k", 11, 2)])
    assert witnesses(h.check("idempotent"), "int-nonmonotonic-send") == []


def test_multi_send_of_an_idempotent_pipeline_is_not_atomic():
    """An info multi-send op without txn_id: one value read proves nothing about the others."""
    h = H()
    h.send(1, "k", 10, offset=0)
    h.sends(2, [("k", 11, None), ("j", 20, None)], type_="info")
    h.send(1, "k", 12, offset=2)
    final_read(h, "k", [(0, 10), (2, 12)])
    final_read(h, "j", [(0, 20)], p=201)
    res = h.check("idempotent")
    assert "lost-write" not in res["anomaly_types"] and res["valid"] is True


def test_atomic_multi_send_is_all_or_nothing():
    """The same op marked atomic (as the EDN loader marks Jepsen's sends): j's read of 20 proves
    it committed, so 11 should be in k's log below 12."""
    h = H()
    h.send(1, "k", 10, offset=0)
    w = h.sends(2, [("k", 11, 1), ("j", 20, None)], type_="info", atomic=True)
    h.send(1, "k", 12, offset=2)
    final_read(h, "k", [(0, 10), (2, 12)])
    final_read(h, "j", [(0, 20)], p=201)
    lw = only(h.check("idempotent"), "lost-write")
    assert lw["value"] == 11 and lw["writer"] == w and lw["max_read_offset"] == 2
