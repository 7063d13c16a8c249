"""Liveness checks the history alone cannot make: did the system converge after faults healed?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.cluster.world import World

GRACE = 1.0  # seconds past transaction.timeout.ms before a coordinator must have aborted


def stalled(world: World) -> dict[str, list[dict[str, Any]]]:
    """A partition with no leader, or whose LSO is held by a *hanging* transaction, did not
    converge: report it as ``stalled``.

    An open transaction is hanging when the transaction coordinator no longer runs it for that
    partition (it ended, or never included the partition: KAFKA-17754's late write), or runs it
    past ``transaction.timeout.ms`` without aborting it. A transaction that is simply still in
    progress when the run stops holds the LSO for a moment; that is how read_committed works."""
    running = _running_transactions(world)
    now = world.env.now
    out: list[dict[str, Any]] = []
    for key in world.data_keys:
        leader = world.controller.leader_of(key)
        if leader is None:
            out.append(
                {"key": key, "ops": [], "explanation": f"{key} has no leader at the end of the run"}
            )
            continue
        log = world.brokers[leader].logs[key]
        if log.lso >= log.hw:
            continue
        hanging = [
            (entry.txn_first_offset, pid)
            for pid, entry in sorted(log.producers.items())
            if entry.txn_first_offset is not None and not _in_progress(running.get(pid), key, now)
        ]
        if hanging:
            first, pid = min(hanging)
            out.append(
                {
                    "key": key,
                    "lso": log.lso,
                    "hw": log.hw,
                    "pid": pid,
                    "ops": [],
                    "explanation": f"{key}: LSO stuck at {log.lso} behind high watermark {log.hw}: "
                    f"producer {pid}'s transaction from offset {first} never ended",
                }
            )
    return {"stalled": out} if out else {}


def _running_transactions(world: World) -> dict[int, Any]:
    """Producer id -> the active transaction coordinator's metadata of its transaction."""
    for name, coordinator in world.txn_coordinators.items():
        if world.brokers[name].alive and coordinator.active:
            return {meta.pid: meta for meta in coordinator.txns.values()}
    return {}


def _in_progress(meta: Any, key: str, now: float) -> bool:
    from sim.cluster.txn import ONGOING, PREPARE_ABORT, PREPARE_COMMIT

    if meta is None or key not in meta.partitions:
        return False
    if meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
        return True  # markers on their way
    return meta.state == ONGOING and now - meta.started <= meta.timeout + GRACE
