"""Brokers joining and leaving a running cluster.

Modelled on KRaft (apache/kafka):

- Joining: a new broker registers with the controller (``ClusterControlManager.registerBroker``)
  and starts *fenced*; its first heartbeat unfences it (``BrokerHeartbeatManager``, once it has
  caught up with the metadata log). It hosts nothing until partitions are reassigned to it:
  Kafka never moves data on its own (``kafka-reassign-partitions.sh`` does).
- Leaving (the operator's decommissioning procedure): first reassign every partition off the
  broker (``ReplicationControlManager.alterPartitionReassignments``), then a controlled shutdown
  (``BrokerHeartbeatManager`` / ``ReplicationControlManager.handleBrokerInControlledShutdown``:
  the broker leaves every ISR and its leaderships move before it stops), then
  ``UnregisterBroker`` (``ClusterControlManager.unregisterBroker``). A partition that could not
  be moved (no spare broker) keeps the departed broker in its replicas, offline: it runs
  under-replicated, as in Kafka, until an operator reassigns it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from sim.cluster.build import add_broker
from sim.cluster.reassign import reassignments

if TYPE_CHECKING:
    from sim.cluster.broker import Broker
    from sim.cluster.world import World

POLL = 0.05


def leaving(world: World) -> set[str]:
    r = world.controller.reassignments
    return r.leaving if r is not None else set()


def active_brokers(world: World) -> list[str]:
    """Brokers that may receive replicas: registered, not being decommissioned."""
    out = leaving(world)
    return [b for b in world.broker_names() if b not in out]


def next_broker_name(world: World) -> str:
    taken = [*world.brokers, *world.departed]
    return f"b{max(int(n[1:]) for n in taken) + 1}" if taken else "b0"


def join(world: World, name: str) -> Broker:
    """A new broker comes up and registers (fenced until its first heartbeat)."""
    broker = add_broker(world, name)
    c = world.controller
    c.brokers.append(name)
    c.last_heartbeat[name] = world.env.now
    c.fenced.add(name)
    return broker


def replace_in(
    world: World, key: str, old: str, new: str | None, rng: random.Random
) -> list[str] | None:
    """The replica set of ``key`` with ``old`` swapped for ``new`` (drawn when None)."""
    p = world.controller.partitions[key]
    if new is None:
        spare = [b for b in active_brokers(world) if b not in p.replicas and b != old]
        if not spare:
            return None
        new = spare[rng.randrange(len(spare))]
    return [new if r == old else r for r in p.replicas]


def drain(world: World, name: str, rng: random.Random) -> dict[str, list[str]]:
    """Start moving every partition hosted by ``name`` elsewhere; partition -> target."""
    state = reassignments(world.controller)
    state.leaving.add(name)
    moves: dict[str, list[str]] = {}
    for key, p in world.controller.partitions.items():
        if name not in p.replicas or key in state.ongoing:
            continue
        target = replace_in(world, key, name, None, rng)
        if target is not None and state.start(key, target) is None:
            moves[key] = target
    return moves


def shut_down(world: World, name: str) -> list[str]:
    """Controlled shutdown then UnregisterBroker; returns the partitions left with it as an
    (offline) replica."""
    c = world.controller
    if name not in c.fenced:
        c.fence(name)  # out of every ISR, leaderships moved (handleBrokerInControlledShutdown)
    broker = world.brokers.pop(name)
    broker.crash()
    world.departed[name] = broker
    c.brokers.remove(name)
    c.last_heartbeat.pop(name, None)
    state = c.reassignments
    if state is not None:
        state.leaving.discard(name)
    return [k for k, p in c.partitions.items() if name in p.replicas]


def decommission(
    world: World, name: str, rng: random.Random, done: Callable[[list[str]], None]
) -> tuple[dict[str, list[str]], Callable[[], None]]:
    """Drain ``name``, shut it down once no move still takes replicas off it; the returned
    function shuts it down at once (the end of the fault window) if it has not gone yet."""
    moves = drain(world, name, rng)
    state = reassignments(world.controller)
    flag = {"gone": False}

    def finish() -> None:
        if not flag["gone"]:
            flag["gone"] = True
            done(shut_down(world, name))

    def wait() -> Generator[Any, Any, None]:
        while not flag["gone"] and state.involving(name):
            yield world.env.timeout(POLL)
        finish()

    world.env.process(wait())
    return moves, finish
