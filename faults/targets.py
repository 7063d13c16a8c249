"""Targets chosen by role (``leader-of:k3``, ``coordinator``, ``producers``, ``random-broker``),
resolved deterministically when the fault fires, from the nemesis's own random stream."""

from __future__ import annotations

import random
from typing import Any

from sim.errors import UsageError

ROLES = (
    "producers",
    "processors",
    "consumers",
    "clients",
    "random-broker",
    "brokers",
    "majority-brokers",
    "controller",
    "controller-leader",
    "controller-follower",
    "coordinator",
    "group-coordinator",
    "leader-of:<key>",
    "<node name>",
)


EVERY = ("all-producers", "all-processors")  # the fault applies to each of them, not one


def resolve(world: Any, workload: Any, target: str, rng: random.Random) -> list[str]:
    """Node names for a role; an empty list when nobody has that role right now."""
    if target in ("producers", "consumers", "clients", "processors"):
        roles = {
            "producers": ("producer",),
            "consumers": ("consumer", "processor"),
            "processors": ("processor",),
        }
        wanted = roles.get(target, ("producer", "consumer", "processor"))
        names = [s.name for s in workload.live_sessions() if s.role in wanted]
        return [names[rng.randrange(len(names))]] if names else []
    if target == "all-producers":
        return [s.name for s in workload.live_sessions("producer")]
    if target == "all-processors":
        return [s.name for s in workload.live_sessions("processor")]
    if target == "random-broker":
        names = world.broker_names()
        return [names[rng.randrange(len(names))]]
    if target == "brokers":
        return world.broker_names()
    if target == "majority-brokers":
        names = world.broker_names()
        chosen = set(rng.sample(names, len(names) // 2 + 1))
        return [n for n in names if n in chosen]
    if target in ("controller", "controller-leader"):
        quorum = getattr(world, "quorum", None)
        if quorum is None:
            return ["controller"]
        leader = quorum.leader()  # the active KRaft controller, if there is one now
        return [leader] if leader else []
    if target == "controller-follower":
        quorum = getattr(world, "quorum", None)
        if quorum is None:
            return []
        leader = quorum.leader()
        names = [v.name for v in quorum.voters if v.name != leader and v.alive]
        return [names[rng.randrange(len(names))]] if names else []
    if target == "coordinator":
        leader = world.controller.leader_of("__transaction_state")
        return [leader] if leader else []
    if target == "group-coordinator":
        leader = world.controller.leader_of("__consumer_offsets")
        return [leader] if leader else []
    if target.startswith("leader-of:"):
        key = target.split(":", 1)[1]
        if key not in world.controller.partitions:
            raise UsageError(f"target {target!r} names an unknown partition {key!r}")
        leader = world.controller.leader_of(key)
        return [leader] if leader else []
    if target in world.departed:
        return []  # decommissioned: gone for good
    if target in world.net.nodes or target in world.brokers:
        return [target]
    session = next((s for s in workload.sessions if s.name == target), None)
    if session is not None:
        return [target] if session.alive else []
    return []


def validate_target(target: str) -> None:
    fixed = {r for r in ROLES if "<" not in r} | set(EVERY)
    if target in fixed or target.startswith("leader-of:"):
        return
    if target[:1] in ("b", "c") and target[1:].isdigit():
        return
    if target.startswith("ctrl") and target[4:].isdigit():  # a KRaft voter
        return
    raise UsageError(f"unknown fault target {target!r} (expected one of: {', '.join(ROLES)})")
