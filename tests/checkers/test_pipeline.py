"""duplicate-delivery, pipeline-duplicate, pipeline-loss, external-duplicate."""

from __future__ import annotations

from tests.checkers.builders import H, only, witnesses


def inputs(h: H, n: int) -> None:
    for off in range(n):
        h.send(100, "in", 1000 + off, offset=off)


# --- duplicate-delivery -------------------------------------------------------------------------
def test_duplicate_delivery_to_a_group():
    h = H()
    inputs(h, 2)
    a = h.poll(1, {"in": [(0, 1000)]}, group="g")
    b = h.poll(2, {"in": [(0, 1000), (1, 1001)]}, group="g")
    res = h.check("transactional")
    w = only(res, "duplicate-delivery")
    assert w["ops"] == [a, b] and w["group"] == "g" and w["offset"] == 0 and w["deliveries"] == 2
    assert res["valid"] is True  # redelivery is outside every mode's promise


def test_each_offset_once_per_group():
    h = H()
    inputs(h, 2)
    h.poll(1, {"in": [(0, 1000)]}, group="g")
    h.poll(2, {"in": [(1, 1001)]}, group="g")
    h.poll(3, {"in": [(0, 1000), (1, 1001)]}, group="other")
    h.poll(4, {"in": [(0, 1000), (1, 1001)]})  # no group: a plain reader
    assert witnesses(h.check(), "duplicate-delivery") == []


# --- pipeline-duplicate --------------------------------------------------------------------------
def ctp(h: H, p: int, in_off: int, out_v: int, out_off: int | None, type_: str = "ok") -> int:
    return h.txn(
        p,
        sends=[("out", out_v, out_off)],
        polls={"in": [(in_off, 1000 + in_off)]},
        type_=type_,
        group="ctp",
        lineage=[["in", in_off, "out", out_v]],
        offsets={"in": in_off + 1},
    )


def test_pipeline_duplicate():
    h = H()
    inputs(h, 1)
    a = ctp(h, 1, 0, 10, 0)
    b = ctp(h, 2, 0, 11, 1)
    res = h.check("transactional")
    w = only(res, "pipeline-duplicate")
    assert w["ops"] == [a, b] and w["key"] == "in" and w["offset"] == 0
    assert w["outputs"] == [["out", 10], ["out", 11]]
    assert res["valid"] is False
    h.read_all()
    assert h.check("idempotent")["valid"] is True


def test_aborted_attempt_then_retry_is_one_output():
    h = H()
    inputs(h, 1)
    ctp(h, 1, 0, 10, 0, type_="fail")
    ctp(h, 2, 0, 11, 2)
    h.poll(9, {"out": [(2, 11)]})
    res = h.check("transactional")
    assert res["anomaly_types"] == [] and res["valid"] is True  # aborted consumption rolls back


# --- pipeline-loss -------------------------------------------------------------------------------
def test_pipeline_loss_committed_position_past_unprocessed_input():
    h = H()
    inputs(h, 2)
    h.txn(
        1,
        sends=[("out", 10, 0)],
        polls={"in": [(0, 1000)]},
        group="ctp",
        lineage=[["in", 0, "out", 10]],
        offsets={"in": 2},  # claims offset 1 processed too
    )
    res = h.check("at-least-once")
    w = only(res, "pipeline-loss")
    assert w["key"] == "in" and w["offset"] == 1 and w["committed_position"] == 2
    assert res["valid"] is False


def test_no_pipeline_loss_when_every_input_has_output():
    h = H()
    inputs(h, 2)
    ctp(h, 1, 0, 10, 0)
    ctp(h, 1, 1, 11, 1)
    assert witnesses(h.check(), "pipeline-loss") == []


def test_pipeline_loss_from_commit_offsets_op():
    h = H()
    inputs(h, 2)
    h.sends(1, [("out", 10, 0)], group="sinkish", lineage=[["in", 0, "out", 10]])
    c = h.commit(1, {"in": 2}, group="sinkish")
    w = only(h.check("at-least-once"), "pipeline-loss")
    assert w["offset"] == 1 and c in w["ops"]


def test_unknown_output_is_not_loss_until_read_past():
    h = H()
    inputs(h, 2)
    ctp(h, 1, 0, 10, 0)
    ctp(h, 1, 1, 11, None, type_="info")  # crashed: output fate unknown
    ctp(h, 2, 1, 12, None, type_="info")
    res = h.check("transactional")
    assert witnesses(res, "pipeline-loss") == []
    # a final reader reads "out" from the start past a later value: the info outputs never landed
    h.send(100, "out", 13, offset=1)
    h.assign(9, ["out"])
    h.poll(9, {"out": [(0, 10), (1, 13)]})
    h.txn(
        3,
        sends=[("out", 14, 2)],
        polls={"in": [(1, 1001)]},
        group="ctp",
        lineage=[],
        offsets={"in": 2},
    )
    w = only(h.check("transactional"), "pipeline-loss")
    assert w["offset"] == 1


# --- external-duplicate --------------------------------------------------------------------------
def test_external_duplicate_blind_sink():
    h = H()
    inputs(h, 1)
    a = h.sink_write(1, "in", 0, 1000, sink="blind", applied=True)
    b = h.sink_write(2, "in", 0, 1000, sink="blind", applied=True)
    h.read_all()
    res = h.check("transactional")
    w = only(res, "external-duplicate")
    assert w["ops"] == [a, b] and w["applied"] == 2 and w["sink"] == "blind"
    assert res["valid"] is True and "external-duplicate" in res["allowed"]


def test_idempotent_sink_upsert_is_not_a_duplicate():
    h = H()
    inputs(h, 1)
    h.sink_write(1, "in", 0, 1000, sink="idempotent", applied=True)
    h.sink_write(2, "in", 0, 1000, sink="idempotent", applied=False)
    assert witnesses(h.check(), "external-duplicate") == []
