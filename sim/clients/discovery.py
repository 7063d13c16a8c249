"""Finding and calling a coordinator (group or transaction), rediscovering it when it moves."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from simpy import Event

RETRY = 0.05
MOVED = ("not_coordinator", "request_timed_out", "coordinator_not_available")


def find_coordinator(node: Any, kind: str) -> Generator[Event, Any, str]:
    """Ask any broker where the coordinator of ``kind`` ("group" or "txn") lives."""
    while kind not in node.coordinators:
        body = yield node.request(
            node.any_broker(), "FindCoordinator", {"kind": kind}, node.request_timeout
        )
        if "coordinator" in body:
            node.coordinators[kind] = body["coordinator"]
        else:
            yield node.env.timeout(RETRY)
    return str(node.coordinators[kind])


def coordinator_call(
    node: Any, kind: str, api: str, body: dict[str, Any]
) -> Generator[Event, Any, dict[str, Any]]:
    """One request to the coordinator; forget its address if it moved or did not answer."""
    coordinator = yield from find_coordinator(node, kind)
    reply = yield node.request(coordinator, api, body, node.request_timeout)
    if reply.get("error") in MOVED:
        node.coordinators.pop(kind, None)
    return reply
