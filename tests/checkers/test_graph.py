"""G0 and G1c over committed transactions."""

from __future__ import annotations

from tests.checkers.builders import H, only, witnesses


def test_g0_write_cycle_is_reported_but_allowed():
    h = H()
    a = h.txn(1, sends=[("x", 1, 0), ("y", 1, 1)])
    b = h.txn(2, sends=[("x", 2, 1), ("y", 2, 0)])
    h.read_all()
    res = h.check("transactional")
    w = only(res, "G0")
    assert sorted(w["cycle"]) == [a, b] and w["ops"] == [a, b]
    assert {s["type"] for s in w["steps"]} == {"ww"}
    assert res["valid"] is True and "G0" in res["allowed"]


def test_no_g0_when_writes_agree():
    h = H()
    h.txn(1, sends=[("x", 1, 0), ("y", 1, 0)])
    h.txn(2, sends=[("x", 2, 1), ("y", 2, 1)])
    assert witnesses(h.check(), "G0") == []


def test_g1c_pure_wr_cycle_is_forbidden_in_transactional():
    h = H()
    a = h.txn(1, sends=[("x", 1, 0)], polls={"y": [(0, 2)]})
    b = h.txn(2, sends=[("y", 2, 0)], polls={"x": [(0, 1)]})
    res = h.check("transactional")
    w = only(res, "G1c")
    assert w["wr_only"] is True and w["ops"] == [a, b]
    assert {s["type"] for s in w["steps"]} == {"wr"}
    assert res["valid"] is False and "G1c" in res["forbidden"]
    assert h.check("at-least-once")["valid"] is True


def test_no_g1c_when_reads_are_one_way():
    h = H()
    h.txn(2, sends=[("y", 2, 0)])
    h.txn(1, sends=[("x", 1, 0)], polls={"y": [(0, 2)]})
    h.read_all()
    res = h.check()
    assert witnesses(res, "G1c") == [] and res["valid"] is True


def test_g1c_closed_by_ww_edge_is_allowed():
    # a appends x before b does; b commits y; a reads b's y, then commits: legal in Kafka
    h = H()
    h.txn(2, sends=[("x", 2, 1), ("y", 3, 0)])
    a = h.txn(1, sends=[("x", 1, 0)], polls={"y": [(0, 3)]})
    h.read_all()
    res = h.check("transactional")
    w = only(res, "G1c")
    assert w["wr_only"] is False and a in w["ops"]
    assert res["valid"] is True and "G1c" in res["allowed"]


def test_failed_txns_are_not_in_the_graph():
    h = H()
    h.txn(1, sends=[("x", 1, 0)], polls={"y": [(0, 2)]}, type_="fail")
    h.txn(2, sends=[("y", 2, 0)], polls={"x": [(0, 1)]})
    res = h.check()
    assert witnesses(res, "G1c") == []
    assert "G1a" in res["anomaly_types"]


def test_g0_between_multi_key_sends():
    """Jepsen builds its graph over send and poll ops too, not only txns."""
    h = H()
    a = h.sends(1, [("x", 1, 0), ("y", 1, 1)])
    b = h.sends(2, [("x", 2, 1), ("y", 2, 0)])
    h.read_all()
    w = only(h.check("transactional"), "G0")
    assert sorted(w["cycle"]) == [a, b]
    assert "sent 1 to x before op" in w["explanation"]


def test_no_g0_when_multi_key_sends_agree():
    h = H()
    h.sends(1, [("x", 1, 0), ("y", 1, 0)])
    h.sends(2, [("x", 2, 1), ("y", 2, 1)])
    h.read_all()
    res = h.check("transactional")
    assert witnesses(res, "G0") == [] and res["valid"] is True


def test_single_key_sends_between_txns_keep_the_cycle():
    """A plain send between two txns on x is left out of the graph; its neighbours are linked."""
    h = H()
    a = h.txn(1, sends=[("x", 1, 0), ("y", 1, 1)])
    h.send(3, "x", 9, offset=1)
    b = h.txn(2, sends=[("x", 2, 2), ("y", 2, 0)])
    h.read_all()
    w = only(h.check("transactional"), "G0")
    assert sorted(w["cycle"]) == [a, b]


def test_wr_edges_from_every_value_read_not_only_the_last():
    """b read 1 (a's) and then 3 (c's) on x; a read b's y: a wr-only cycle a -> b -> a."""
    h = H()
    h.send(9, "x", 3, offset=1)
    a = h.txn(1, sends=[("x", 1, 0)], polls={"y": [(0, 2)]})
    b = h.txn(2, sends=[("y", 2, 0)], polls={"x": [(0, 1), (1, 3)]})
    h.read_all()
    res = h.check("transactional")
    w = only(res, "G1c")
    assert w["wr_only"] is True and sorted(w["cycle"]) == [a, b]
    assert res["valid"] is False
