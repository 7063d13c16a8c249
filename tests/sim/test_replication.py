"""Replication rules: high watermark, ISR shrink and expand, truncation after a leader change."""

from __future__ import annotations

from typing import Any

from sim.cluster.build import build_world
from sim.cluster.node import BaseNode
from sim.cluster.world import World
from sim.config import Config


class RawClient(BaseNode):
    """A bare client that speaks the produce protocol, to poke brokers directly."""

    def __init__(self, world: World, name: str = "t0") -> None:
        super().__init__(world, name)
        world.net.add_node(self, "producer")
        self.replies: list[dict[str, Any]] = []

    def produce(self, broker: str, key: str, values: list[int], acks: str = "all") -> None:
        body = {
            "key": key,
            "values": values,
            "pid": -1,
            "epoch": -1,
            "seq": -1,
            "acks": acks,
            "txn": False,
            "txn_id": None,
        }
        self.call(broker, "Produce", body, 2.0, self.replies.append)


def settled_world(**overrides: Any) -> tuple[World, RawClient]:
    world = build_world(Config(**overrides).validate(), seed=1)
    client = RawClient(world)
    world.env.run(until=0.5)  # heartbeats deliver the first metadata image
    return world, client


def test_high_watermark_advances_once_every_isr_member_has_the_batch() -> None:
    world, client = settled_world()
    leader = world.controller.leader_of("k0")
    client.produce(leader, "k0", [1, 2, 3])
    world.env.run(until=0.6)
    assert client.replies == [{"offset": 0, "duplicate": False}]
    logs = [b.logs["k0"] for b in world.brokers.values()]
    assert all(log.leo == 3 for log in logs)
    assert world.brokers[leader].logs["k0"].hw == 3


def test_acks_all_waits_for_followers_but_acks_1_does_not() -> None:
    world, client = settled_world()
    leader = world.controller.leader_of("k0")
    followers = [b for b in world.brokers if b != leader]
    world.net.cut([(leader, f) for f in followers] + [(f, leader) for f in followers])
    client.produce(leader, "k0", [1], acks="1")
    client.produce(leader, "k0", [2], acks="all")
    world.env.run(until=0.55)
    assert client.replies == [{"offset": 0, "duplicate": False}]  # acks=all still waiting
    assert world.brokers[leader].logs["k0"].hw == 0


def test_isr_shrinks_when_a_follower_dies_and_expands_when_it_catches_up() -> None:
    world, client = settled_world()
    state = world.controller.partitions["k0"]
    leader = state.leader
    follower = next(b for b in state.replicas if b != leader)
    world.brokers[follower].crash()
    for i in range(5):
        client.produce(leader, "k0", [i])
    world.env.run(until=3.0)
    assert follower not in state.isr
    assert len(client.replies) == 5 and all(
        "offset" in r for r in client.replies
    )  # min.insync=2 still met
    world.brokers[follower].restart()
    world.env.run(until=5.0)
    assert follower in state.isr
    assert world.brokers[follower].logs["k0"].leo == world.brokers[leader].logs["k0"].leo == 5


def test_deposed_leader_truncates_its_unreplicated_suffix() -> None:
    world, client = settled_world()
    key = "k0"
    old = world.controller.leader_of(key)
    others = [n for n in world.brokers if n != old] + ["controller"]
    client.produce(old, key, [1], acks="all")
    world.env.run(until=0.7)
    # Cut the leader off from the cluster but not from the client: it keeps accepting acks=1.
    world.net.cut([(old, o) for o in others] + [(o, old) for o in others])
    client.produce(old, key, [2, 3], acks="1")
    world.env.run(until=3.0)
    new = world.controller.leader_of(key)
    assert new != old
    assert [r.value for r in world.brokers[old].logs[key].records] == [1, 2, 3]
    client.produce(new, key, [4], acks="all")
    world.env.run(until=3.5)
    world.net.heal()
    world.env.run(until=6.0)
    old_log = [(r.offset, r.value) for r in world.brokers[old].logs[key].records]
    new_log = [(r.offset, r.value) for r in world.brokers[new].logs[key].records]
    assert old_log == new_log == [(0, 1), (1, 4)]  # 2 and 3 were acked with acks=1 and lost
    assert world.controller.partitions[key].leader_epoch >= 1


def test_unclean_election_picks_an_out_of_sync_replica_only_when_enabled() -> None:
    for unclean, expect_leader in ((False, False), (True, True)):
        world, client = settled_world(unclean_leader_election_enable=unclean)
        state = world.controller.partitions["k0"]
        leader = state.leader
        lagging = next(b for b in state.replicas if b != leader)
        world.brokers[lagging].crash()
        world.env.run(until=2.5)  # the ISR shrinks to the live replicas
        for b in state.replicas:
            if b != lagging:
                world.brokers[b].crash()
        world.brokers[lagging].restart()
        world.env.run(until=5.0)
        assert (state.leader == lagging) is expect_leader
