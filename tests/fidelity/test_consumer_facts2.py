"""Consumer facts: what auto-commit and commitSync() commit, and what a committed epoch does."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from simpy import Event

from sim.clients.consumer import Consumer
from sim.cluster.world import World
from sim.config import Config
from tests.fidelity.kit import run_for, settled


def committed(world: World) -> int | None:
    leader = world.brokers[str(world.controller.leader_of("__consumer_offsets"))]
    group = next(e for e in leader.extensions if hasattr(e, "pending_txn_offsets"))
    return group.offsets.get(("g", "k0"))


@pytest.mark.parametrize("auto_commit", [True, False])
def test_auto_commit_commits_the_positions_of_the_previous_poll(auto_commit: bool) -> None:
    """With enable.auto.commit a poll first commits the positions left by the polls before it
    and only then fetches, so the records a poll returns are committed by a later poll, never by
    the poll that returned them (at-least-once).

    The consumer (group "g", partition k0 assigned) polls three times, 0.3 s apart (longer than
    auto.commit.interval.ms = 100 ms): poll 1 returns offsets 0-2, two records are produced,
    poll 2 returns 3-4, poll 3 returns nothing. The committed offset after poll 1 is not 3 (only
    the position before poll 1 could be committed), after poll 2 it is 3 (poll 1's position,
    not poll 2's 5), after poll 3 it is 5. Without auto-commit nothing is ever committed.

    Kafka: clients/src/main/java/org/apache/kafka/clients/consumer/internals/ConsumerCoordinator.java,
    ConsumerCoordinator.poll -> maybeAutoCommitOffsetsAsync (commits subscriptions.allConsumed())
    """
    config = Config(enable_auto_commit=auto_commit, auto_commit_interval_ms=100.0)
    world, client = settled(config)
    leader = str(world.controller.leader_of("k0"))
    client.produce(leader, "k0", [10, 11, 12])
    run_for(world, 0.3)
    assert client.replies == [{"offset": 0, "duplicate": False}]
    consumer = Consumer(world, "reader", "g", "read_uncommitted")
    world.net.add_node(consumer, "consumer")
    polls: list[dict[str, list[list[int]]]] = []
    after: list[int | None] = []

    def reader() -> Generator[Event, Any, None]:
        yield from consumer.refresh_metadata()
        yield from consumer.assign(["k0"])
        for i in range(3):
            polls.append((yield from consumer.poll()))
            if i == 0:
                client.produce(leader, "k0", [13, 14])
            yield world.env.timeout(0.3)
            after.append(committed(world))

    world.env.process(reader())
    run_for(world, 2.0)
    offsets: list[Any] = [[o for o, _ in p.get("k0", [])] for p in polls]
    assert offsets == [[0, 1, 2], [3, 4], []]
    if auto_commit:
        assert after[0] in (None, 0)
        assert after[1:] == [3, 5]
    else:
        assert after == [None, None, None]


def group_coordinator(world: World) -> Any:
    leader = world.brokers[str(world.controller.leader_of("__consumer_offsets"))]
    return next(e for e in leader.extensions if hasattr(e, "pending_txn_offsets"))


def test_commit_sync_commits_each_position_with_the_leader_epoch_of_its_last_record() -> None:
    """commitSync() without arguments commits every consumed position with the leader epoch of
    the record before it; the group coordinator keeps that epoch with the offset and returns it
    to OffsetFetch. An offset the application builds itself (no epoch) replaces the whole value,
    epoch included.

    Kafka: clients/src/main/java/org/apache/kafka/clients/consumer/internals/SubscriptionState.java,
    SubscriptionState.allConsumed
    """
    world, client = settled()
    leader = str(world.controller.leader_of("k0"))
    client.produce(leader, "k0", [10, 11, 12])
    run_for(world, 0.3)
    consumer = Consumer(world, "reader", "g", "read_uncommitted")
    world.net.add_node(consumer, "consumer")
    stored: list[Any] = []

    def reader() -> Generator[Event, Any, None]:
        yield from consumer.refresh_metadata()
        yield from consumer.assign(["k0"])
        yield from consumer.poll()
        positions = dict(consumer.positions)
        yield from consumer.commit(positions, consumer.consumed_epochs(positions))
        stored.append(dict(group_coordinator(world).offset_epochs))
        yield from consumer.commit({"k0": 2})
        stored.append(dict(group_coordinator(world).offset_epochs))

    world.env.process(reader())
    run_for(world, 2.0)
    assert consumer.positions == {"k0": 3}
    assert stored == [{("g", "k0"): 0}, {}]


@pytest.mark.parametrize("committed_epoch", [None, 5])
def test_a_committed_epoch_newer_than_the_metadata_keeps_the_consumer_off_its_leader(
    committed_epoch: int | None,
) -> None:
    """KIP-320: a committed offset's leader epoch becomes the partition's last seen epoch when it
    is newer, and metadata older than the last seen epoch is not current: the consumer has no
    leader for the partition, fetches nothing and refreshes its metadata until metadata of that
    epoch names one. Here the committed epoch (5) is newer than any leader's (0): the resumed
    consumer reads nothing. Committed without an epoch, it fetches from the metadata's leader.

    Kafka: clients/src/main/java/org/apache/kafka/clients/Metadata.java,
    Metadata.updateLastSeenEpochIfNewer (called from ConsumerUtils.refreshCommittedOffsets) and
    Metadata.currentLeader -> partitionMetadataIfCurrent
    """
    world, client = settled()
    leader = str(world.controller.leader_of("k0"))
    client.produce(leader, "k0", [10, 11, 12])
    run_for(world, 0.3)
    writer = Consumer(world, "writer", "g", "read_uncommitted")
    reader = Consumer(world, "reader", "g", "read_uncommitted")
    world.net.add_node(writer, "consumer")
    world.net.add_node(reader, "consumer")
    polls: list[dict[str, list[list[int]]]] = []
    epochs = None if committed_epoch is None else {"k0": committed_epoch}

    def resume() -> Generator[Event, Any, None]:
        yield from writer.refresh_metadata()
        yield from writer.commit({"k0": 1}, epochs)
        yield from reader.refresh_metadata()
        yield from reader.assign(["k0"])
        for _ in range(3):
            polls.append((yield from reader.poll()))

    world.env.process(resume())
    run_for(world, 2.0)
    read = [o for p in polls for o, _ in p.get("k0", [])]
    assert read == ([1, 2] if committed_epoch is None else [])
    assert (reader.leaders["k0"][0] is None) == (committed_epoch is not None)
