"""The world of one run: simpy environment, named random streams, network, history, and the
cluster's nodes once ``sim.cluster.build`` has put them in.

The world is the one object the layers above hold; nodes see only its narrow ``Context``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import simpy

from sim.cluster.buggify import Buggify
from sim.cluster.network import LinkProfile, Network
from sim.config import Config
from sim.history import History
from sim.rand import Streams

if TYPE_CHECKING:
    from sim.cluster.broker import Broker
    from sim.cluster.controller import Controller
    from sim.cluster.quorum import Quorum
    from sim.cluster.txn import TxnCoordinator

CONSUMER_OFFSETS = "__consumer_offsets"
TRANSACTION_STATE = "__transaction_state"
INTERNAL_KEYS = (CONSUMER_OFFSETS, TRANSACTION_STATE)


class World:
    """Satisfies ``sim.cluster.context.Context`` for the nodes it holds."""

    brokers: dict[str, Broker]
    # Every broker hosts one; the active one is on the leader of __transaction_state.
    txn_coordinators: dict[str, TxnCoordinator]

    def __init__(self, config: Config, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.bugs = frozenset(config.bugs)
        self.env = simpy.Environment()
        self.streams = Streams(seed)
        self.history = History(self.env)
        self.net = Network(self.env, self.rng("network"), LinkProfile())
        self.data_keys = config.keys
        self.topics: dict[str, list[str]] = {"data": list(self.data_keys)}
        if config.workload in ("ctp", "sink"):
            self.topics = {"in": [f"in{i}" for i in range(config.partitions)]}
            if config.workload == "ctp":
                self.topics["out"] = [f"out{i}" for i in range(config.partitions)]
            self.data_keys = [k for keys in self.topics.values() for k in keys]
        self.brokers = {}
        # decommissioned brokers (sim.cluster.membership): shut down and unregistered, no longer
        # offered to clients or nemeses, kept for their counters
        self.departed: dict[str, Broker] = {}
        self.txn_coordinators = {}
        self._controller: Controller | None = None
        # controller.quorum.voters > 1: the KRaft voters (sim.cluster.quorum), else none
        self.quorum: Quorum | None = None
        self.voter_names: list[str] = []
        self.counters: dict[str, int] = {}
        self.workload: Any = (
            None  # set by the runner; faults and scenarios reach sessions through it
        )
        self.stats: dict[str, Any] = {}
        # what no history shows, for sim.runs.known: (kind, partition, time), see observe
        self.observations: list[tuple[str, str, float]] = []
        ext = config.external
        self.buggify: Buggify | None = (
            Buggify(
                self.rng,
                all_sites=bool(ext.get("sim.buggify-all")),
                now=lambda: self.env.now,
                sites=config.buggify_sites,
            )
            if config.buggify_on
            else None
        )

    @property
    def controller(self) -> Controller:
        """The metadata the layers above read (targets, liveness, statistics): the single
        controller, or with a quorum the active controller's (else the most advanced voter's)."""
        if self.quorum is not None:
            return self.quorum.view()
        assert self._controller is not None
        return self._controller

    @controller.setter
    def controller(self, value: Controller) -> None:
        self._controller = value

    def controller_names(self) -> list[str]:
        """The controller nodes on the network: ``controller``, or the quorum's voters."""
        return list(self.voter_names) if self.quorum is not None else ["controller"]

    @property
    def all_keys(self) -> list[str]:
        """Every partition the cluster hosts: the workload's, then the internal ones."""
        return [*self.data_keys, *INTERNAL_KEYS]

    def rng(self, name: str) -> random.Random:
        return self.streams.get(name)

    def next_id(self, name: str) -> int:
        """Cluster-wide counters (producer ids, process numbers): deterministic, never reused."""
        n = self.counters.get(name, 0)
        self.counters[name] = n + 1
        return n

    def observe(self, kind: str, key: str) -> None:
        self.observations.append((kind, key, self.env.now))

    def note_offset_reset(self, key: str, answered_epoch: int) -> None:
        """A consumer reset its position on ``key`` after a broker answered OFFSET_OUT_OF_RANGE
        as its leader under ``answered_epoch``: observed as ``stale-leader-reset`` if the
        controller has given the partition a newer leader epoch (what no client can know). The
        epoch of the answer, not the broker's now: a stale leader may step down while the
        consumer still waits on its other fetches."""
        p = self.controller.partitions.get(key)
        if p is not None and p.leader_epoch > answered_epoch:
            self.observe("stale-leader-reset", key)

    def broker_names(self) -> list[str]:
        return list(self.brokers)
