"""Poke a simulated cluster the way Kafka's own unit tests poke a broker: raw requests, no client
library in between, so each fidelity test checks one fact of the model against Kafka's source."""

from __future__ import annotations

from typing import Any

from sim.cluster.build import build_world
from sim.cluster.node import BaseNode
from sim.cluster.world import World
from sim.config import Config


class RawClient(BaseNode):
    """A bare client node that sends requests and keeps every reply in order."""

    def __init__(self, world: World, name: str = "t0") -> None:
        super().__init__(world, name)
        world.net.add_node(self, "producer")
        self.replies: list[dict[str, Any]] = []

    def send(self, broker: str, api: str, body: dict[str, Any], timeout: float = 2.0) -> None:
        self.call(broker, api, body, timeout, self.replies.append)

    def produce(
        self,
        broker: str,
        key: str,
        values: list[int],
        *,
        pid: int = -1,
        epoch: int = -1,
        seq: int = -1,
        acks: str = "all",
        txn: bool = False,
        txn_id: str | None = None,
    ) -> None:
        body = {
            "key": key,
            "values": values,
            "pid": pid,
            "epoch": epoch,
            "seq": seq,
            "acks": acks,
            "txn": txn,
            "txn_id": txn_id,
        }
        self.send(broker, "Produce", body)


def settled(config: Config | None = None, **overrides: Any) -> tuple[World, RawClient]:
    """A world whose brokers have their first metadata, and a raw client in it."""
    world = build_world((config or Config()).replace(**overrides).validate(), seed=1)
    client = RawClient(world)
    world.env.run(until=0.5)
    return world, client


def run_for(world: World, seconds: float) -> None:
    world.env.run(until=world.env.now + seconds)
