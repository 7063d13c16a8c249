"""Storage facts: when a batch reaches the disk, and how a broker that lost its tail rejoins."""

from __future__ import annotations

from typing import Any

import pytest

from sim.cluster.world import World
from tests.fidelity.kit import RawClient, run_for, settled


def produce_and_snapshot(world: World, client: RawClient) -> tuple[dict[str, Any], list[int]]:
    """acks=all Produce to k0's leader; each replica's on-disk prefix when the answer arrives."""
    leader = str(world.controller.leader_of("k0"))
    seen: list[Any] = []

    def answered(body: dict[str, Any]) -> None:
        seen.append((body, [b.logs["k0"].on_disk for b in world.brokers.values()]))

    body = {"key": "k0", "values": [1, 2, 3], "pid": -1, "epoch": -1, "seq": -1, "acks": "all"}
    client.call(leader, "Produce", {**body, "txn": False, "txn_id": None}, 2.0, answered)
    run_for(world, 0.3)
    assert len(seen) == 1, seen
    return seen[0]


@pytest.mark.parametrize(("flush_messages", "on_disk"), [(None, 0), (1, 3)])
def test_acks_all_is_answered_from_memory_unless_every_append_is_flushed(
    flush_messages: int | None, on_disk: int
) -> None:
    """acks=all is answered once the ISR has the batch, in memory: with the default
    log.flush.interval.messages (Long.MAX_VALUE) no replica has fsynced it; with 1 every append
    is fsynced before it returns (before a follower's next fetch reports its new log end, and
    before the leader's high watermark can pass it), so every replica has it on disk.

    Kafka: core/src/main/scala/kafka/log/UnifiedLog.scala, UnifiedLog.append
    (if (localLog.unflushedMessages >= config.flushInterval) flush(false))
    """
    world, client = settled(log_flush_interval_messages=flush_messages)
    reply, disks = produce_and_snapshot(world, client)
    assert reply.get("offset") == 0, reply
    assert disks == [on_disk] * 3


def test_a_broker_that_lost_data_rejoins_only_after_its_old_session_expired() -> None:
    """A broker restarting after a power loss registers a new incarnation; the controller refuses
    it (DuplicateBrokerRegistrationException) while the old incarnation's session is valid, so it
    cannot resume leading with its shortened log: it joins once the session has expired and the
    controller has fenced it and moved its leaderships.

    Kafka: metadata/src/main/java/org/apache/kafka/controller/ClusterControlManager.java,
    registerBroker (heartbeatManager.hasValidSession)
    """
    world, _ = settled()
    name = str(world.controller.leader_of("k0"))
    broker = world.brokers[name]
    epoch = world.controller.partitions["k0"].leader_epoch
    broker.lose_power(world.rng("test"), 0.0)
    broker.restart()
    run_for(world, 0.4)  # < broker.session.timeout.ms (1000 ms)
    assert broker.registering and not broker.leading and name not in world.controller.fenced
    run_for(world, 1.5)
    assert not broker.registering
    assert world.controller.partitions["k0"].leader_epoch > epoch
    assert (
        world.controller.leader_of("k0") != name
        or world.controller.partitions["k0"].leader_epoch > epoch + 1
    )
