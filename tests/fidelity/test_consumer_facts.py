"""Consumer facts: how a consumer's position survives a leader change."""

from __future__ import annotations

import pytest

from sim.clients.consumer import Consumer
from sim.cluster.log import Record
from tests.fidelity.kit import run_for, settled


@pytest.mark.parametrize(("position_epoch", "first_read"), [(1, 3), (2, 4)])
def test_a_position_past_the_new_leaders_log_end_for_its_epoch_is_rewound(
    position_epoch: int, first_read: int
) -> None:
    """KIP-320: after a leader change the consumer asks the new leader (OffsetsForLeaderEpoch)
    where the epoch of its last consumed record ends. Here the new leader's epoch 0 ends at 3
    while the consumer, which read offset 3 under epoch 1 from a leader that diverged, stands at
    4: it seeks back to 3 and reads the records that replaced its own, instead of skipping them.
    A position whose epoch the leader agrees with is left alone.

    Kafka: clients/src/main/java/org/apache/kafka/clients/consumer/internals/SubscriptionState.java,
    SubscriptionState.maybeCompleteValidation
    """
    world, _ = settled()
    leader = world.controller.leader_of("k0")
    assert leader is not None
    log = world.brokers[leader].logs["k0"]
    log.epoch_cache = [(0, 0)]
    log.append_batch([Record(0, v, leader_epoch=0) for v in (10, 11, 12)])
    log.note_epoch(2)
    log.append_batch([Record(0, v, leader_epoch=2) for v in (13, 14)])
    log.hw = log.leo
    consumer = Consumer(world, "reader", None, "read_uncommitted")
    world.net.add_node(consumer, "consumer")
    reads: list[dict[str, list[list[int]]]] = []

    def reader():  # type: ignore[no-untyped-def]
        yield from consumer.refresh_metadata()
        yield from consumer.assign(["k0"], {"k0": 4})
        consumer.position_epochs["k0"] = position_epoch
        reads.append((yield from consumer.poll()))

    world.env.process(reader())
    run_for(world, 1.0)
    assert reads and reads[0]["k0"][0][0] == first_read
    assert consumer.truncations_detected == (1 if first_read == 3 else 0)
