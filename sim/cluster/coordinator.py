"""Shared machinery of coordinators hosted on the leader of an internal partition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.cluster.broker import Broker


class HostedCoordinator:
    """Active while its broker leads ``key``; rebuilds its state from that partition's log on
    takeover, the way Kafka's group and transaction coordinators load their topic partitions."""

    key: str = ""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.env = broker.env
        self.active_epoch: int | None = None
        broker.extensions.append(self)

    @property
    def active(self) -> bool:
        return (
            self.active_epoch is not None
            and self.broker.leader_epoch(self.key) == self.active_epoch
        )

    def on_metadata(self) -> None:
        epoch = self.broker.leader_epoch(self.key)
        if epoch is not None and epoch != self.active_epoch:
            self.active_epoch = epoch
            self._traced(True)
            self.load([rec.value for rec in self.broker.logs[self.key].records])
        elif epoch is None and self.active_epoch is not None:
            self.active_epoch = None
            self._traced(False)
            self.unload()

    def _traced(self, active: bool) -> None:
        trace = self.broker.net.trace
        if trace is not None:
            kind = "transaction" if self.key == "__transaction_state" else "group"
            trace.coordinator_moved(self.broker.name, kind, active)

    def reset(self) -> None:
        if self.active_epoch is not None:
            self._traced(False)
        self.active_epoch = None
        self.unload()

    # --- hooks ---------------------------------------------------------------------------
    def load(self, payloads: list[Any]) -> None:
        """Rebuild state from the internal partition's records."""

    def unload(self) -> None:
        """Drop in-memory state when leadership is lost."""

    def tick(self, now: float) -> None:
        pass

    def on_hw(self, key: str, hw: int) -> None:
        pass

    def persist(self, payload: dict[str, Any], done: Any) -> None:
        self.broker.append_internal(self.key, payload, done)
