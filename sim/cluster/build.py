"""Assemble a world: the one place that knows every concrete node class of the cluster."""

from __future__ import annotations

from sim.cluster.broker import Broker
from sim.cluster.controller import Controller
from sim.cluster.group import GroupCoordinator
from sim.cluster.quorum import Quorum, Voter, voter_names
from sim.cluster.txn import TxnCoordinator, TxnPartitionGate
from sim.cluster.world import World
from sim.config import Config


def build_world(config: Config, seed: int) -> World:
    """A world with its controller and brokers; each broker hosts a group coordinator, a
    transaction coordinator and the transaction gate on its partitions (Kafka's KIP-890)."""
    world = World(config, seed)
    names = [f"b{i}" for i in range(config.brokers)]
    keys = world.all_keys
    if config.quorum_voters > 1:
        world.voter_names = voter_names(config.quorum_voters)
        voters = [
            Voter(
                world,
                v,
                world.voter_names,
                keys,
                names,
                config.replication_factor,
                world.rng(f"quorum/{v}"),
            )
            for v in world.voter_names
        ]
        world.quorum = Quorum(voters)
        for voter in voters:
            world.net.add_node(voter, "controller")
    else:
        world.controller = Controller(world, keys, names, config.replication_factor)
        world.net.add_node(world.controller, "controller")
    for name in names:
        add_broker(world, name)
    return world


def add_broker(world: World, name: str) -> Broker:
    """A broker with its coordinators and transaction gate, on the network (also at run time,
    when the add-broker nemesis brings a new machine into the cluster)."""
    broker = Broker(world, name, world.all_keys)
    GroupCoordinator(broker)
    world.txn_coordinators[name] = TxnCoordinator(broker)
    broker.gate = TxnPartitionGate(broker)
    world.brokers[name] = broker
    world.net.add_node(broker, "broker")
    return broker
