"""Helpers for the fault-injection tests: build schedules, run a world step by step, and read
the brokers' logs and the history without going through the checkers package."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from faults.schedule import install
from sim.clients.workload import Workload
from sim.cluster.build import build_world
from sim.cluster.world import World
from sim.config import Config
from sim.runs.runner import close_pending, simulate


def fault(
    at: float, nemesis: str, duration: float, target: str | None = None, **params: Any
) -> dict[str, Any]:
    """One fault op; ``params`` use Python names (``lose_unflushed`` -> ``lose-unflushed``)."""
    op: dict[str, Any] = {"at": at, "nemesis": nemesis, "duration": duration}
    if target is not None:
        op["target"] = target
    op["params"] = {k.replace("_", "-"): v for k, v in params.items()}
    return op


_CACHE: dict[str, tuple[World, Workload, list[dict[str, Any]]]] = {}


def run(
    config: Config, seed: int, schedule: list[dict[str, Any]] | None
) -> tuple[World, Workload, list[dict[str, Any]]]:
    """``simulate`` with a per-session cache: several tests look at the same run. Callers must
    not mutate what they get back."""
    key = json.dumps([repr(config), seed, schedule], sort_keys=True, default=repr)
    if key not in _CACHE:
        _CACHE[key] = simulate(config, seed, schedule)
    return _CACHE[key]


class Stepper:
    """A world built by hand so a test can stop the clock mid-fault and look inside."""

    def __init__(self, config: Config, seed: int, schedule: list[dict[str, Any]]) -> None:
        config.validate()
        self.world = build_world(config, seed)
        self.workload = Workload(self.world)
        self.world.workload = self.workload
        self.workload.start()
        install(self.world, self.workload, schedule)

    @property
    def now(self) -> float:
        return float(self.world.env.now)

    def until(self, t: float) -> Stepper:
        self.world.env.run(until=t)
        return self

    def finish(self) -> Stepper:
        """Run to the end of the final reads, as ``simulate`` does."""
        wl = self.workload
        env = self.world.env
        env.run(until=env.any_of([wl.final_done, env.timeout(wl.end_at + 30.0 - env.now)]))
        close_pending(self.world)
        return self


# --- history -------------------------------------------------------------------------------
def session(workload: Workload, name: str) -> Any:
    return next(s for s in workload.sessions if s.name == name)


def nemesis_ops(ops: list[dict[str, Any]], phase: str | None = None) -> list[dict[str, Any]]:
    return [
        o
        for o in ops
        if o["process"] == "nemesis" and (phase is None or o["value"].get("phase") == phase)
    ]


def fault_target(ops: list[dict[str, Any]], index: int = 0) -> str:
    starts = [o for o in nemesis_ops(ops, "start") if o["value"]["fault"] == index]
    assert len(starts) == 1, starts
    return str(starts[0]["value"]["target"])


def completed(
    ops: list[dict[str, Any]], processes: Iterable[int] | None = None, f: str | None = None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(invoke, completion) pairs, in completion order."""
    wanted = None if processes is None else set(processes)
    open_: dict[Any, dict[str, Any]] = {}
    out = []
    for o in ops:
        if o["process"] == "nemesis" or (wanted is not None and o["process"] not in wanted):
            continue
        if f is not None and o["f"] != f:
            continue
        if o["type"] == "invoke":
            open_[o["process"]] = o
        else:
            out.append((open_.pop(o["process"]), o))
    return out


def sent_values(op: dict[str, Any]) -> list[tuple[str, int]]:
    """(key, value) of every send micro-op in an op (invoke or completion)."""
    out = []
    for mop in op["value"] or []:
        if mop[0] == "send":
            value = mop[2][1] if isinstance(mop[2], list) else mop[2]
            out.append((mop[1], value))
    return out


def final_reads(ops: list[dict[str, Any]]) -> dict[str, dict[int, Any]]:
    """key -> offset -> value from the final readers' polls (polls without a group)."""
    out: dict[str, dict[int, Any]] = {}
    for o in ops:
        if o["f"] == "poll" and o["type"] == "ok" and o.get("group") is None:
            for key, records in o["value"][0][1].items():
                for offset, value in records:
                    out.setdefault(key, {})[offset] = value
    return out


# --- broker state --------------------------------------------------------------------------
def leader_records(world: World, key: str) -> list[Any]:
    leader = world.controller.leader_of(key)
    assert leader is not None, f"{key} has no leader"
    return [r for r in world.brokers[leader].logs[key].records if r.control is None]


def leader_value_counts(world: World) -> dict[str, Counter[Any]]:
    """key -> Counter of data values in the current leader's log."""
    return {k: Counter(r.value for r in leader_records(world, k)) for k in world.data_keys}


def duplicated_values(world: World) -> list[tuple[str, Any]]:
    return sorted(
        (k, v)
        for k, counts in leader_value_counts(world).items()
        for v, n in counts.items()
        if n > 1
    )


def records_of_pid(world: World, pid: int) -> int:
    return sum(1 for k in world.data_keys for r in leader_records(world, k) if r.pid == pid)


def group_state(world: World, group: str = "g") -> Any:
    """The consumer group as its active coordinator sees it."""
    leader = world.controller.leader_of("__consumer_offsets")
    assert leader is not None
    coordinators = [e for e in world.brokers[leader].extensions if hasattr(e, "groups")]
    assert len(coordinators) == 1
    return coordinators[0].groups.get(group)


# --- network -------------------------------------------------------------------------------
def missing_edges(world: World) -> set[tuple[str, str]]:
    g = world.net.graph
    return {(a, b) for a, b in itertools.permutations(sorted(g.nodes), 2) if not g.has_edge(a, b)}


class DeliveryLog:
    """Wraps one world's network to record, per directed link, the order messages were sent
    and delivered in (instance attributes only: the model's code is untouched)."""

    def __init__(self, world: World) -> None:
        net = world.net
        self.env = world.env
        self.sent_seq: dict[int, tuple[tuple[str, str], int, float]] = {}
        self._keep: list[Any] = []  # keep messages alive so id() stays unique
        self._next: dict[tuple[str, str], int] = {}
        self._max_delivered: dict[tuple[str, str], int] = {}
        self.deliveries: Counter[int] = Counter()
        self.out_of_order: list[tuple[tuple[str, str], float, float]] = []  # link, sent, delivered
        # (api, is_response, link, sent at, delivered at) of every first delivery
        self.delivered: list[tuple[str, bool, tuple[str, str], float, float]] = []
        orig_send, orig_deliver = net.send, net._deliver

        def send(msg: Any) -> None:
            link = (msg.src, msg.dst)
            n = self._next.get(link, 0)
            self._next[link] = n + 1
            self.sent_seq[id(msg)] = (link, n, self.env.now)
            self._keep.append(msg)
            orig_send(msg)

        def deliver(msg: Any) -> None:
            link, n, sent_at = self.sent_seq[id(msg)]
            self.deliveries[id(msg)] += 1
            if self.deliveries[id(msg)] == 1:
                top = self._max_delivered.get(link, -1)
                if n < top:
                    self.out_of_order.append((link, sent_at, self.env.now))
                self._max_delivered[link] = max(top, n)
                self.delivered.append((msg.api, msg.is_response, link, sent_at, self.env.now))
            orig_deliver(msg)

        net.send = send  # type: ignore[method-assign]
        net._deliver = deliver  # type: ignore[method-assign]

    def duplicated(self) -> list[tuple[tuple[str, str], float]]:
        """(link, sent at) of every message delivered more than once."""
        return [
            (self.sent_seq[i][0], self.sent_seq[i][2]) for i, n in self.deliveries.items() if n > 1
        ]
