"""A client session and what it needs of the workload that runs it.

Shared by the workload and the pipelines so that neither imports the other: the workload starts
pipelines, and pipelines start sessions through the narrow ``Driver`` interface.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Protocol

from simpy import Event

if TYPE_CHECKING:
    from sim.clients.consumer import Consumer
    from sim.cluster.world import World


class Driver(Protocol):
    """What sessions and pipelines use of the workload that drives them."""

    world: World
    sessions: list[Session]
    end_at: float
    user: Any  # a sim.clients.user.Pipeline run by sim.run_pipeline, else None

    def client_name(self) -> str: ...

    def next_value(self, key: str) -> int: ...

    def poll_op(
        self, session: Session, process: int, consumer: Consumer
    ) -> Generator[Event, Any, dict[str, Any]]: ...


class Session:
    """A client node plus the process numbers it speaks for."""

    def __init__(self, workload: Driver, role: str, node: Any) -> None:
        self.workload = workload
        self.world = workload.world
        self.role = role
        self.node = node
        self.processes: list[int] = []
        self.alive = True
        self.paused_until = 0.0
        # a pipeline processor's transactional producer and numbered slot (sim.clients.pipelines)
        self.producer: Any = None
        self.slot: int | None = None

    @property
    def name(self) -> str:
        return str(self.node.name)

    def new_process(self) -> int:
        p = self.world.next_id("process")
        self.processes.append(p)
        return p

    def invoke(self, process: int, f: str, value: Any, **extra: Any) -> None:
        if self.alive:
            self.world.history.invoke(process, f, value, **extra)

    def complete(self, process: int, type_: str, value: Any, **extra: Any) -> None:
        if self.alive and self.world.history.pending(process) is not None:
            self.world.history.complete(process, type_, value, **extra)

    def crash(self) -> None:
        """Stop the client; its in-flight ops end as info (we cannot know if they happened)."""
        if not self.alive:
            return
        for p in self.processes:
            op = self.world.history.pending(p)
            if op is not None:
                self.world.history.complete(
                    p, "info", crash_value(op), **op_extras(op), crashed=True
                )
        self.alive = False
        for node in (self.node, self.producer):
            if node is not None:
                node.crash()
                self.world.net.remove_node(node.name)

    def paused(self) -> Generator[Event, Any, None]:
        """A GC pause: the client's threads sleep until the pause ends."""
        while self.alive and self.world.env.now < self.paused_until:
            yield self.world.env.timeout(self.paused_until - self.world.env.now)


CORE_FIELDS = ("index", "time", "process", "type", "f", "value")


def op_extras(op: dict[str, Any]) -> dict[str, Any]:
    """The invoke's extra fields (txn_id, lineage, ...), repeated on its completion."""
    return {k: v for k, v in op.items() if k not in CORE_FIELDS}


def crash_value(op: dict[str, Any]) -> Any:
    """The value of a crashed op's info completion: sends with unknown offsets."""
    value = op["value"]
    if op["f"] in ("send", "txn") and isinstance(value, list):
        out = []
        for mop in value:
            if mop[0] == "send":
                out.append(["send", mop[1], [None, mop[2]]])
            else:
                out.append(mop)
        return out
    return value
