"""The bug matrix: for every known-bug switch, a small campaign that must catch it, and the
same campaign without the bug, which must be clean. Used by the tests and the README.

    python -m sim.scenarios.bug_matrix [--seeds 20] [--clean-seeds 200]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.config import Config


def fault(at: float, nemesis: str, duration: float, target: str, **params: Any) -> dict[str, Any]:
    return {"at": at, "nemesis": nemesis, "duration": duration, "target": target, "params": params}


QUICK: dict[str, Any] = {"time_limit": 5.0, "convergence": 3.0}


@dataclass(frozen=True)
class BugCampaign:
    bug: str
    config: Config
    schedule: Callable[[int], list[dict[str, Any]]]
    catches: tuple[str, ...]  # the anomaly types that reveal it (any of them)


def acks_dropped(seed: int) -> list[dict[str, Any]]:
    return [
        fault(1.0, "drop-acks", 1.5, "all-producers"),
        fault(3.0, "drop-acks", 1.0, "all-producers"),
    ]


def acks_dropped_during_failover(seed: int) -> list[dict[str, Any]]:
    return [
        fault(1.0, "drop-acks", 2.5, "all-producers"),
        fault(1.5, "kill-broker", 1.0, f"leader-of:k{seed % 6}"),
        fault(2.7, "kill-broker", 1.0, f"leader-of:k{(seed + 3) % 6}"),
    ]


def zombie(seed: int) -> list[dict[str, Any]]:
    at = 1.0 + 0.1 * (seed % 5)
    return [fault(at, "pause-client", 1.5, "c0"), fault(at, "start-zombie", 0.1, "c0")]


def leader_failovers(seed: int) -> list[dict[str, Any]]:
    """A partition splits the cluster (deposed leaders keep unreplicated appends), then the
    current leader of one partition dies for longer than broker.session.timeout.ms, so the
    leadership moves again, possibly back to a replica that diverged."""
    return [
        fault(0.5 + 0.1 * (seed % 5), "partition-halves", 1.0, "brokers"),
        fault(2.2, "kill-broker", 1.5, f"leader-of:k{seed % 6}"),
    ]


def processor_crashes(seed: int) -> list[dict[str, Any]]:
    return [
        fault(1.0 + 0.2 * (seed % 4), "crash-consumer", 0.6, "processors"),
        fault(3.0, "crash-consumer", 0.6, "processors"),
    ]


def whole_cluster_power_loss(seed: int) -> list[dict[str, Any]]:
    """Every broker loses power at one instant, while writes are in flight."""
    return [fault(2.0 + 0.13 * (seed % 7), "power-loss", 1.5, "brokers")]


def nothing(seed: int) -> list[dict[str, Any]]:
    return []


def markers_held_then_clock_jump(seed: int) -> list[dict[str, Any]]:
    """The coordinator's first WriteTxnMarkers is held for a second (the commit stays in
    PrepareCommit), then the coordinator's clock jumps 10 s forward, past every open
    transaction's transaction.timeout.ms (5 s)."""
    at = 1.0 + 0.1 * (seed % 7)
    return [
        fault(at, "delay-request", 0.1, "coordinator", api="WriteTxnMarkers", delay=1.0, count=1),
        fault(at + 0.3, "clock-bump", 1.5, "coordinator", delta=10.0),
    ]


def leader_moves(seed: int) -> list[dict[str, Any]]:
    """Two partitions are reassigned away from their leaders (five brokers, so each move
    draws its new replicas from four), the second time by decommissioning a broker."""
    k = seed % 6
    return [
        fault(1.0 + 0.1 * (seed % 5), "reassign", 0.5, f"leader-of:k{k}", partition=f"k{k}"),
        fault(2.5, "reassign", 0.5, f"leader-of:k{(k + 3) % 6}", partition=f"k{(k + 3) % 6}"),
    ]


def stale_preferred(seed: int) -> list[dict[str, Any]]:
    """A preferred leader is down longer than broker.session.timeout.ms (leadership moves and
    writes go on without it), comes back slow (every message delayed 0.3 s, so it has not
    caught up), and a preferred-leader election runs for it."""
    b = f"b{seed % 3}"
    at = 1.0 + 0.1 * (seed % 5)
    return [
        fault(at, "kill-broker", 2.0, b),
        fault(at + 1.9, "delay", 1.0, b, delay=0.3),
        fault(at + 2.4, "elect-preferred", 0.2, b),
    ]


def controller_leader_cut_with_partition_leader(seed: int) -> list[dict[str, Any]]:
    """The active KRaft controller is cut off together with one partition's leader; the other
    voters elect a new controller, which fences that broker and moves its leaderships, while
    the deposed leader (still reaching clients) asks its old controller to shrink its ISR."""
    return cut_controller_leader_with(seed, f"k{seed % 6}")


def cut_controller_leader_with(seed: int, key: str) -> list[dict[str, Any]]:
    return [
        fault(
            1.0 + 0.1 * (seed % 5),
            "partition-controller-leader",
            2.5,
            "controller-leader",
            **{"with": f"leader-of:{key}"},
        )
    ]


def controller_killed_then_quick_broker_restart(seed: int) -> list[dict[str, Any]]:
    """The active controller dies (the quorum fails over), then a partition leader crashes
    losing its unflushed suffix and restarts within broker.session.timeout.ms."""
    return [
        fault(1.0 + 0.05 * (seed % 4), "kill-controller", 1.0, "controller-leader"),
        fault(
            2.2 + 0.1 * (seed % 5),
            "kill-broker",
            0.3,
            f"leader-of:k{seed % 6}",
            **{"lose-unflushed": True},
        ),
    ]


QUORUM = {"controller.quorum.voters": 3}

TXN: dict[str, Any] = {
    "mode": "transactional",
    "workload": "produce-consume",
    "external": {"workload.abort-probability": 0.3},
}

MATRIX: tuple[BugCampaign, ...] = (
    BugCampaign("no-dedup", Config(mode="idempotent", **QUICK), acks_dropped, ("duplicate",)),
    BugCampaign(
        "dedup-not-replicated",
        Config(mode="idempotent", **QUICK),
        acks_dropped_during_failover,
        ("duplicate",),
    ),
    BugCampaign(
        "no-epoch-fencing",
        Config(mode="transactional", workload="produce", **QUICK),
        zombie,
        ("lost-write", "G1a", "zombie-write", "uncommitted-read", "stalled"),
    ),
    BugCampaign(
        "lso-ignores-open-txn", Config(**TXN, **QUICK), nothing, ("uncommitted-read", "G1a")
    ),
    BugCampaign("abort-markers-skipped", Config(**TXN, **QUICK), nothing, ("G1a",)),
    BugCampaign(
        "ack-before-replication",
        Config(mode="idempotent", **QUICK),
        leader_failovers,
        ("lost-write",),
    ),
    BugCampaign(
        "unclean-truncation",
        Config(mode="idempotent", **QUICK),
        leader_failovers,
        ("inconsistent-offsets", "lost-write", "duplicate"),
    ),
    BugCampaign(
        "offsets-outside-txn",
        Config(
            mode="transactional", workload="ctp", external={"workload.txn-think-ms": 50.0}, **QUICK
        ),
        processor_crashes,
        ("pipeline-loss", "pipeline-duplicate"),
    ),
    BugCampaign(
        "lost-marker", Config(**TXN, **QUICK), nothing, ("fractured-read", "stalled", "lost-write")
    ),
    BugCampaign(
        "ack-before-flush",
        Config(mode="idempotent", log_flush_interval_messages=1, **QUICK),
        whole_cluster_power_loss,
        ("lost-write",),
    ),
    BugCampaign(
        "kraft-ack-before-commit",
        # min.insync.replicas 1: only the controller's commit rule keeps a deposed leader from
        # acknowledging acks=all alone; replica.lag.time.max.ms 200 lets it ask before its
        # controller resigns (check quorum after 1.5 x controller.quorum.fetch.timeout.ms)
        Config(
            mode="idempotent",
            min_insync_replicas=1,
            replica_lag_time_max_ms=200.0,
            external=QUORUM,
            **QUICK,
        ),
        controller_leader_cut_with_partition_leader,
        ("lost-write", "inconsistent-offsets"),
    ),
    BugCampaign(
        "kraft-duplicate-registration",
        # 4.0: from 4.1 new clusters have Eligible Leader Replicas, whose unclean-shutdown
        # handling takes any new incarnation out of every ISR as it registers, so a missing
        # duplicate-registration check no longer lets it lead with what it came back with
        Config(mode="idempotent", kafka_version="4.0", external=QUORUM, **QUICK),
        controller_killed_then_quick_broker_restart,
        ("lost-write", "inconsistent-offsets"),
    ),
    BugCampaign(
        "txn-timeout-aborts-prepared",
        Config(mode="transactional", external={"client.reinit-on-fenced": True}, **QUICK),
        markers_held_then_clock_jump,
        ("lost-write", "fractured-read", "G1a"),
    ),
    BugCampaign(
        "reassign-drops-before-caught-up",
        Config(mode="idempotent", brokers=5, **QUICK),
        leader_moves,
        ("lost-write", "inconsistent-offsets"),
    ),
    BugCampaign(
        "preferred-election-ignores-isr",
        Config(mode="idempotent", **QUICK),
        stale_preferred,
        ("lost-write", "inconsistent-offsets"),
    ),
)


def run_campaign(entry: BugCampaign, seeds: range, with_bug: bool) -> dict[int, list[str]]:
    """seed -> anomaly types found (all of them) for the campaign with or without its bug."""
    from sim.runs.runner import run

    config = entry.config.replace(bugs=(entry.bug,) if with_bug else ())
    found = {}
    for seed in seeds:
        outcome = run(config, seed, entry.schedule(seed))
        found[seed] = sorted(outcome.results.get("anomaly_types", []))
        found[seed] = [
            *found[seed],
            *(["INVALID"] if outcome.results.get("valid") is False else []),
        ]
    return found


def catching(found: dict[int, list[str]], catches: tuple[str, ...]) -> list[int]:
    return sorted(s for s, names in found.items() if set(names) & set(catches))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--clean-seeds", type=int, default=20)
    args = parser.parse_args()
    for entry in MATRIX:
        buggy = run_campaign(entry, range(args.seeds), True)
        clean = run_campaign(entry, range(args.clean_seeds), False)
        caught = catching(buggy, entry.catches)
        caught_by = sorted({n for s in caught for n in buggy[s] if n in entry.catches})
        false_pos = sorted(s for s, names in clean.items() if "INVALID" in names)
        print(
            f"{entry.bug}: caught in {len(caught)}/{args.seeds} seeds by {caught_by}, first seed {caught[0] if caught else None}; without the bug: {len(false_pos)}/{args.clean_seeds} invalid {false_pos[:5]}"
        )


if __name__ == "__main__":
    main()
