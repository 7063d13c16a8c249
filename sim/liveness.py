"""Liveness checks the history alone cannot make: did the system converge after faults healed?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.world import World


def stalled(world: World) -> dict[str, list[dict[str, Any]]]:
    """A partition whose LSO is stuck behind an open transaction at the end of the run (a
    hanging transaction), or that has no leader, did not converge: report it as ``stalled``."""
    out: list[dict[str, Any]] = []
    for key in world.data_keys:
        leader = world.controller.leader_of(key)
        if leader is None:
            out.append(
                {"key": key, "ops": [], "explanation": f"{key} has no leader at the end of the run"}
            )
            continue
        log = world.brokers[leader].logs[key]
        if log.lso < log.hw:
            out.append(
                {
                    "key": key,
                    "lso": log.lso,
                    "hw": log.hw,
                    "ops": [],
                    "explanation": f"{key}: LSO stuck at {log.lso} behind high watermark {log.hw} (an open transaction never ended)",
                }
            )
    return {"stalled": out} if out else {}
