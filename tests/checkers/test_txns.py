"""G1a, uncommitted-read, precommitted-read, fractured-read, zombie-write, crash mid-txn."""

from __future__ import annotations

from tests.checkers.builders import H, only, witnesses


# --- G1a / uncommitted-read ----------------------------------------------------------------------
def test_g1a_read_of_an_aborted_txn():
    h = H()
    t = h.txn(1, sends=[("k", 10, 0)], type_="fail", aborted=True)
    r = h.poll(2, {"k": [(0, 10)]})
    res = h.check("transactional")
    w = only(res, "G1a")
    assert w["ops"] == [t, r] and w["value"] == 10 and "aborted" in w["explanation"]
    assert res["valid"] is False
    assert witnesses(res, "uncommitted-read") == []  # reader did not promise read_committed


def test_info_txn_read_is_not_g1a():
    h = H()
    h.txn(1, sends=[("k", 10, None)], type_="info")  # crashed mid-commit: may have committed
    h.poll(2, {"k": [(0, 10)]})
    res = h.check("transactional")
    assert res["anomaly_types"] == [] and res["valid"] is True


def test_aborted_txn_then_retry_with_new_values():
    h = H()
    h.txn(1, sends=[("k", 10, 0), ("j", 20, 0)], type_="fail", aborted=True)
    h.txn(1, sends=[("k", 11, 2), ("j", 21, 2)])  # offsets 0,1 hold aborted data and a marker
    h.assign(2, ["k", "j"])
    h.poll(2, {"k": [(2, 11)], "j": [(2, 21)]}, isolation="read_committed")
    res = h.check("transactional")
    assert res["anomaly_types"] == [] and res["valid"] is True


def test_uncommitted_read_needs_read_committed():
    h = H()
    t = h.txn(1, sends=[("k", 10, 0)], type_="fail")
    r = h.poll(2, {"k": [(0, 10)]}, isolation="read_committed")
    res = h.check("transactional")
    w = only(res, "uncommitted-read")
    assert w["ops"] == [t, r] and w["key"] == "k" and w["value"] == 10
    assert {"G1a", "uncommitted-read"} <= set(res["forbidden"])


def test_read_committed_read_of_committed_txn():
    h = H()
    h.txn(1, sends=[("k", 10, 0)])
    h.poll(2, {"k": [(0, 10)]}, isolation="read_committed")
    assert h.check()["anomaly_types"] == []


def test_read_before_commit_ack_is_not_flagged():
    # markers land before the producer hears "ok": a consumer may see the commit first
    h = H()
    h.invoke(1, "txn", [["send", "k", 10]])
    r = h.poll(2, {"k": [(0, 10)]}, isolation="read_committed")
    h.complete(1, "ok", "txn", [["send", "k", [0, 10]]])
    assert r < len(h.ops) - 1
    assert h.check()["anomaly_types"] == []


# --- crash mid-transaction ------------------------------------------------------------------------
def test_crash_mid_transaction_present_or_absent_is_fine():
    for present in (True, False):
        h = H()
        h.send(3, "k", 1, offset=0)
        h.txn(1, sends=[("k", 10, None), ("k", 11, None)], type_="info", crashed=True)
        h.send(3, "k", 2, offset=3)
        h.assign(2, ["k"])
        reads = [(0, 1), (1, 10), (2, 11), (3, 2)] if present else [(0, 1), (3, 2)]
        h.poll(2, {"k": reads})
        res = h.check("transactional")
        assert res["anomaly_types"] == [], (present, res["anomalies"])
        assert res["valid"] is True


# --- precommitted-read ----------------------------------------------------------------------------
def test_precommitted_read():
    h = H()
    t = h.txn(1, sends=[("k", 10, 0)], polls={"k": [(0, 10)]})
    res = h.check("transactional")
    w = only(res, "precommitted-read")
    assert w["ops"] == [t] and w["values"] == [10]
    assert res["valid"] is False


def test_txn_reading_others_writes_is_not_precommitted():
    h = H()
    h.txn(2, sends=[("k", 9, 0)])
    h.txn(1, sends=[("k", 10, 1)], polls={"k": [(0, 9)]})
    assert witnesses(h.check(), "precommitted-read") == []


# --- fractured-read ---------------------------------------------------------------------------------
def fractured_setup(h: H) -> int:
    t = h.txn(1, sends=[("k", 10, 0), ("k", 11, 1)])
    h.send(3, "k", 12, offset=2)
    h.assign(2, ["k"])
    return t


def test_fractured_read():
    h = H()
    t = fractured_setup(h)
    a = h.poll(2, {"k": [(0, 10)]})
    b = h.poll(2, {"k": [(2, 12)]})
    h.poll(9, {"k": [(1, 11)]})
    res = h.check("transactional")
    w = only(res, "fractured-read")
    assert w["txn"] == t and w["missing"] == 11 and w["read"] == [10]
    assert set(w["ops"]) == {t, a, b}
    assert res["valid"] is False
    assert h.check("at-least-once")["forbidden"] == ["poll-skip"]  # no atomicity promise


def test_complete_read_of_txn_is_not_fractured():
    h = H()
    fractured_setup(h)
    h.poll(2, {"k": [(0, 10)]})
    h.poll(2, {"k": [(1, 11), (2, 12)]})
    assert h.check()["anomaly_types"] == []


def test_skip_of_a_non_txn_write_is_not_fractured():
    h = H()
    h.txn(1, sends=[("k", 10, 0), ("k", 11, 2)])
    h.send(3, "k", 12, offset=1)
    h.assign(2, ["k"])
    h.poll(2, {"k": [(0, 10)]})
    h.poll(2, {"k": [(2, 11)]})
    h.poll(9, {"k": [(1, 12)]})
    res = h.check()
    assert witnesses(res, "fractured-read") == [] and "poll-skip" in res["anomaly_types"]


# --- zombie-write -----------------------------------------------------------------------------------
def test_zombie_write_lands_after_newer_epoch():
    h = H()
    h.invoke(1, "txn", [["send", "k", 10]], txn_id="t", epoch=0)  # paused old instance
    new = h.txn(2, sends=[("k", 20, 0)], txn_id="t", epoch=1)
    old = h.complete(1, "ok", "txn", [["send", "k", [1, 10]]], txn_id="t", epoch=0)
    h.poll(3, {"k": [(0, 20), (1, 10)]})
    res = h.check("transactional")
    w = only(res, "zombie-write")
    assert w["ops"] == sorted([old, new]) and w["epoch"] == 0 and w["newer_epoch"] == 1
    assert res["valid"] is False
    assert h.check("at-least-once")["valid"] is True


def test_old_epoch_write_before_newer_epoch_is_fine():
    h = H()
    h.txn(1, sends=[("k", 10, 0)], txn_id="t", epoch=0)
    h.init(2, "t", 1)
    h.txn(2, sends=[("k", 20, 1)], txn_id="t", epoch=1)
    h.poll(3, {"k": [(0, 10), (1, 20)]})
    assert h.check()["anomaly_types"] == []


def test_zombie_write_after_init_fenced_it():
    h = H()
    init = h.init(2, "t", 1)
    z = h.txn(1, sends=[("k", 10, 0)], txn_id="t", epoch=0)  # invoked after the fence
    h.poll(3, {"k": [(0, 10)]})
    res = h.check("transactional")
    w = only(res, "zombie-write")
    assert w["ops"] == [init, z] and w["newer_epoch"] == 1


def test_fenced_zombie_that_never_landed_is_fine():
    h = H()
    h.init(2, "t", 1)
    h.txn(1, sends=[("k", 10, None)], txn_id="t", epoch=0, type_="fail")
    h.txn(2, sends=[("k", 20, 0)], txn_id="t", epoch=1)
    h.poll(3, {"k": [(0, 20)]})
    assert h.check()["anomaly_types"] == []


def test_info_txn_proven_committed_can_lose_a_write():
    # one value of the crashed txn was read, so it committed: its other value must be there too
    h = H()
    t = h.txn(1, sends=[("k", 10, 0), ("k", 11, 1)], type_="info", crashed=True)
    h.send(3, "k", 12, offset=2)
    h.assign(2, ["k"])
    r = h.poll(2, {"k": [(0, 10), (2, 12)]})
    res = h.check("transactional")
    lw = only(res, "lost-write")
    assert lw["value"] == 11 and lw["ops"] == [t, r]


def test_info_txn_not_proven_is_never_lost():
    h = H()
    h.txn(1, sends=[("k", 10, 0), ("k", 11, 1)], type_="info", crashed=True)
    h.send(3, "k", 12, offset=2)
    h.assign(2, ["k"])
    h.poll(2, {"k": [(2, 12)]})
    assert h.check()["anomaly_types"] == []
