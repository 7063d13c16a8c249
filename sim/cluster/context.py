"""What a cluster node sees of the world it lives in: a narrow interface, not the world itself.

Nodes need the clock, the network, the config, the active bug switches and cluster-wide counters;
they never reach the other nodes through the world. Keeping this a Protocol lets ``world.py``
hold the nodes without the nodes importing it back (no import cycle in the cluster).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from simpy import Environment

    from sim.cluster.buggify import Buggify
    from sim.cluster.network import Network
    from sim.config import Config


class Context(Protocol):
    env: Environment
    net: Network
    config: Config
    bugs: frozenset[str]
    voter_names: list[str]  # the KRaft voters when controller.quorum.voters > 1, else empty
    buggify: Buggify | None  # rare legal paths (sim.buggify), None in ordinary runs

    def next_id(self, name: str) -> int:
        """A cluster-wide counter (producer ids, process numbers): deterministic, never reused."""
        ...

    def observe(self, kind: str, key: str) -> None:
        """The simulator's own record of something no history shows (sim.runs.known reads it
        after the run to tell Kafka's real failure classes from the model's); the model never
        reads it back."""
        ...
