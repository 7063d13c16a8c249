"""Kafka's broker-side idempotence rules (ProducerStateManager)."""

from __future__ import annotations

from sim.cluster import producer_state as ps
from sim.cluster.producer_state import ProducerEntry, check_batch, record_batch


def entry_with(batches: list[tuple[int, int]], epoch: int = 0) -> ProducerEntry:
    producers: dict[int, ProducerEntry] = {}
    offset = 0
    for first, last in batches:
        record_batch(producers, 7, epoch, first, last, offset, offset + last - first)
        offset += last - first + 1
    return producers[7]


def test_unknown_producer_is_accepted_at_any_sequence() -> None:
    """As Kafka since KIP-360: state may have been removed by retention, so no error."""
    assert check_batch(None, 0, 0, 4).status == ps.OK
    assert check_batch(None, 0, 5, 9).status == ps.OK


def test_in_order_batch_is_accepted() -> None:
    assert check_batch(entry_with([(0, 4)]), 0, 5, 9).status == ps.OK


def test_retried_batch_is_a_duplicate_answered_with_its_original_offsets() -> None:
    entry = entry_with([(0, 4), (5, 9)])
    verdict = check_batch(entry, 0, 0, 4)
    assert verdict.status == ps.DUPLICATE
    assert verdict.duplicate_of is not None
    assert (verdict.duplicate_of.first_offset, verdict.duplicate_of.last_offset) == (0, 4)


def test_gap_in_sequence_is_out_of_order() -> None:
    assert check_batch(entry_with([(0, 4)]), 0, 7, 9).status == ps.OUT_OF_ORDER


def test_only_the_last_five_batches_are_remembered() -> None:
    entry = entry_with([(i, i) for i in range(6)])
    assert len(entry.batches) == ps.DEDUP_WINDOW
    assert check_batch(entry, 0, 1, 1).status == ps.DUPLICATE  # still in the window
    # The first batch fell out of the window: a retry of it is no longer recognised.
    assert check_batch(entry, 0, 0, 0).status == ps.OUT_OF_ORDER


def test_older_epoch_is_fenced_and_newer_epoch_restarts_at_zero() -> None:
    entry = entry_with([(0, 4)], epoch=3)
    assert check_batch(entry, 2, 5, 9).status == ps.FENCED
    assert check_batch(entry, 4, 0, 0).status == ps.OK
    assert check_batch(entry, 4, 5, 5).status == ps.OUT_OF_ORDER
