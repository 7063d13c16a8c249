"""Shared machinery of coordinators hosted on the leader of an internal partition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.cluster.broker import Broker

# Loading a coordinator's state takes time. Kafka schedules the load on a background thread
# when the broker becomes leader of the internal partition
# (TransactionStateManager.loadTransactionsForTxnTopicPartition, the group coordinator's
# loader); it reads the whole log, and logs "Completed loading ... in N milliseconds" (a few
# ms for partitions as small as a simulation's). Requests meanwhile are refused with
# COORDINATOR_LOAD_IN_PROGRESS, and a leadership lost before the load ends cancels it (the
# loading partition's coordinator epoch no longer matches): nothing is acted on. A broker
# that leads for less than this never acts as coordinator.
LOAD_TIME = 0.005


class HostedCoordinator:
    """Active while its broker leads ``key``; rebuilds its state from that partition's log on
    takeover, the way Kafka's group and transaction coordinators load their topic partitions."""

    key: str = ""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.env = broker.env
        self.active_epoch: int | None = None
        self.loaded = False  # the load for active_epoch has finished
        broker.extensions.append(self)

    @property
    def active(self) -> bool:
        return (
            self.loaded
            and self.active_epoch is not None
            and self.broker.leader_epoch(self.key) == self.active_epoch
        )

    @property
    def refusal(self) -> str:
        """The error for a request this broker cannot serve as coordinator right now."""
        loading = (
            self.active_epoch is not None
            and not self.loaded
            and self.broker.leader_epoch(self.key) == self.active_epoch
        )
        return "coordinator_load_in_progress" if loading else "not_coordinator"

    def refused(self, msg: Any) -> bool:
        """Answer ``msg`` with ``refusal`` unless this broker is the coordinator now."""
        if self.active:
            return False
        self.broker.reply(msg, {"error": self.refusal})
        return True

    def on_metadata(self) -> None:
        epoch = self.broker.leader_epoch(self.key)
        if epoch is not None and epoch != self.active_epoch:
            self._resign()
            self.active_epoch = epoch
            incarnation = self.broker.incarnation
            self.env.timeout(LOAD_TIME).callbacks.append(
                lambda _ev: self._loaded(epoch, incarnation)
            )
        elif epoch is None and self.active_epoch is not None:
            self._resign()

    def _loaded(self, epoch: int, incarnation: int) -> None:
        if (
            self.active_epoch != epoch
            or self.broker.incarnation != incarnation
            or not self.broker.alive
            or self.broker.leader_epoch(self.key) != epoch
        ):
            return  # leadership lost (or the broker restarted) while loading: cancelled
        self.loaded = True
        self._traced(True)
        # the log as it is when the load reads it, to its end (FetchIsolation.LOG_END)
        self.load([rec.value for rec in self.broker.logs[self.key].records])

    def _resign(self) -> None:
        if self.loaded:
            self._traced(False)
            self.unload()
        self.loaded = False
        self.active_epoch = None

    def _traced(self, active: bool) -> None:
        trace = self.broker.net.trace
        if trace is not None:
            kind = "transaction" if self.key == "__transaction_state" else "group"
            trace.coordinator_moved(self.broker.name, kind, active)

    def reset(self) -> None:
        if self.loaded:
            self._traced(False)
        self.loaded = False
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
