"""Liveness checks the history alone cannot make: did the system converge after faults healed?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.cluster.world import World

GRACE = 1.0  # seconds past transaction.timeout.ms before a coordinator must have aborted
MARKER_GRACE = 2.0  # seconds a Prepare state may wait for its markers once the network is whole
PRODUCER_WINDOW = 2.0  # a live producer gets something acknowledged in the workload's last 2 s
RECOVERY = 1.0  # ...provided the network was whole for this long before those 2 s began
FENCING = ("producer_fenced", "invalid_producer_epoch")


def buggify_quiet_from(stop_at: float) -> float:
    """When BUGGIFY's sites fall quiet (``sim.cluster.buggify``): as a fault healed then would,
    just early enough that the producers' window is judged on a healthy system. A site's
    perturbations are legal, but like faults they may hold progress back while they last: the
    model's rebalance timeout (0.5 s, Kafka's max.poll.interval.ms) is shorter than its request
    timeout (0.8 s), where Kafka's defaults have it ten times longer (300 s against 30 s), so a
    consume-transform-produce member slowed by a late answer or a re-sent marker can be
    removed from its group at every rebalance while they last. What must not happen is that
    the system stays stuck once they stop."""
    return stop_at - PRODUCER_WINDOW - RECOVERY


def stalled(world: World) -> dict[str, list[dict[str, Any]]]:
    """Everything that did not converge after the faults healed, as ``stalled`` witnesses:
    partitions (below), transactions stuck in a Prepare state, and producers that stopped."""
    out = _stalled_partitions(world) + _stuck_prepares(world) + _stopped_producers(world)
    return {"stalled": out} if out else {}


def _stalled_partitions(world: World) -> list[dict[str, Any]]:
    """A partition with no leader, or whose LSO is held by a *hanging* transaction, did not
    converge.

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
    return out


def last_heal(world: World) -> float:
    """When the last fault healed (0 without faults): the network is whole from then on."""
    heals = [
        op["time"]
        for op in world.history.ops
        if op["process"] == "nemesis"
        and isinstance(op["value"], dict)
        and op["value"].get("phase") == "stop"
    ]
    return max(heals, default=0.0)


def _stuck_prepares(world: World) -> list[dict[str, Any]]:
    """A transaction in PrepareCommit/PrepareAbort whose markers never all landed, though the
    network has been whole for a while: read_committed consumers wait on it for ever."""
    running = _running_transactions(world)
    since = max(last_heal(world), 0.0)
    now = world.env.now
    if now - since < MARKER_GRACE:
        return []
    from sim.cluster.txn import PREPARE_ABORT, PREPARE_COMMIT

    out = []
    for pid, meta in sorted(running.items()):
        if meta.state in (PREPARE_COMMIT, PREPARE_ABORT) and now - meta.prepared_at > MARKER_GRACE:
            out.append(
                {
                    "txn_id": meta.txn_id,
                    "pid": pid,
                    "ops": [],
                    "explanation": f"transaction {meta.txn_id!r} (producer {pid}) has been in "
                    f"{meta.state} since {meta.prepared_at:.3f}s: its markers never all landed",
                }
            )
    return out


def _stopped_producers(world: World) -> list[dict[str, Any]]:
    """A live producer session that got nothing acknowledged in the workload's last healthy
    seconds, though it kept trying (a livelock) or because its client went fatal (where Kafka's
    would not), stopped making progress. A transactional producer fenced by a newer instance of
    its transactional.id is excluded: that is fencing doing its job."""
    workload = world.workload
    if workload is None:
        return []
    stop = workload.stop_at
    healed = last_heal(world)
    start = stop - PRODUCER_WINDOW
    if start - healed < RECOVERY:
        return []  # too little healthy time left to judge
    tried: dict[int, int] = {}
    acked: dict[int, int] = {}
    last_ok: dict[int, dict[str, Any]] = {}
    for op in world.history.ops:
        if op["process"] == "nemesis" or op["f"] not in ("send", "txn"):
            continue
        process = op["process"]
        if op["type"] == "invoke" and start <= op["time"] <= stop - PRODUCER_WINDOW / 2:
            tried[process] = tried.get(process, 0) + 1  # (late invokes may not have completed)
        elif op["type"] == "ok":
            last_ok[process] = op
            if op["time"] >= start:
                acked[process] = acked.get(process, 0) + 1
    out = []
    for session in workload.sessions:
        node = session.producer or session.node
        if not session.alive or not hasattr(node, "fatal"):
            continue
        if node.fatal in FENCING and getattr(node, "txn_id", lambda: None)() is not None:
            continue
        trying = any(tried.get(p) for p in session.processes)
        progressed = any(acked.get(p) for p in session.processes)
        if progressed or not (trying or node.fatal):
            continue
        previous = [last_ok[p] for p in session.processes if p in last_ok]
        last = max(previous, key=lambda op: op["index"]) if previous else None
        since = (
            f"last acknowledged at {last['time']:.3f}s (op {last['index']})"
            if last
            else "nothing ever acknowledged"
        )
        state = f"; the client is fatal ({node.fatal})" if node.fatal else ""
        what = "kept sending" if trying else "stopped sending"
        out.append(
            {
                "producer": session.name,
                "pid": getattr(node, "pid", None),
                "ops": [last["index"]] if last else [],
                "explanation": f"producer {session.name} {what} and got nothing acknowledged "
                f"between {start:.3f}s and the end of the workload at {stop:.3f}s, though the last "
                f"fault healed at {healed:.3f}s; {since}{state}",
            }
        )
    return out


def _running_transactions(world: World) -> dict[int, Any]:
    """Producer id -> the active transaction coordinator's metadata of its transaction."""
    for name, coordinator in world.txn_coordinators.items():
        if name in world.brokers and world.brokers[name].alive and coordinator.active:
            return {meta.pid: meta for meta in coordinator.txns.values()}
    return {}


def _in_progress(meta: Any, key: str, now: float) -> bool:
    from sim.cluster.txn import ONGOING, PREPARE_ABORT, PREPARE_COMMIT

    if meta is None or key not in meta.partitions:
        return False
    if meta.state in (PREPARE_COMMIT, PREPARE_ABORT):
        return True  # markers on their way
    return meta.state == ONGOING and now - meta.started <= meta.timeout + GRACE
