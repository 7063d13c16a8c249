"""The clock scenarios assert what the theory predicts, number by number (docs/clocks.md)."""

from __future__ import annotations

from sim.scenarios import SCENARIOS
from sim.scenarios.base import run_case


def test_a_forward_jump_on_the_coordinator_aborts_young_transactions_and_fences_the_producer() -> (
    None
):
    """TransactionStateManager.timedOutTransactions compares with the coordinator broker's
    wall clock: a +10 s jump times out transactions open for well under their 5 s timeout."""
    jump, control = SCENARIOS["clock-jump-aborts-transactions"].cases
    result = run_case(jump, 3)
    assert result.confirmed, result.note
    # a jump between two transactions (one committed, the next not begun) finds none open
    assert sum(1 for m in result.measures if m["txn_timeouts"] > 0) >= 2, result.measures
    assert sum(m["txn_errors"].get("producer_fenced", 0) for m in result.measures) > 0
    assert max(m["longest_failed_txn_s"] for m in result.measures) < 1.0
    forbidden = {"G1a", "uncommitted-read", "lost-write", "duplicate", "fractured-read"}
    assert not forbidden & set(result.observed)
    quiet = run_case(control, 3)
    assert quiet.confirmed and all(m["txn_timeouts"] == 0 for m in quiet.measures)


def test_a_forward_jump_on_a_leader_shrinks_its_isr_and_loses_nothing_with_acks_all() -> None:
    """Replica.isCaughtUp reads the leader's wall clock: after a +10 s jump the leader shrinks
    the ISR to itself unless the followers fetched again first; acks=all keeps every ack."""
    jump, control = SCENARIOS["clock-jump-shrinks-isr"].cases
    result = run_case(jump, 5)
    assert result.confirmed, result.note
    shrinks = [m["isr_shrinks"] for m in result.measures]
    assert sum(1 for s in shrinks if s) >= 3, shrinks
    assert sum(m["producer_errors"].get("not_enough_replicas", 0) for m in result.measures) > 0
    assert not {"lost-write", "duplicate", "inconsistent-offsets"} & set(result.observed)
    quiet = run_case(control, 3)
    assert quiet.confirmed and all(m["isr_shrinks"] == 0 for m in quiet.measures)
