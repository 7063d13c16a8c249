"""The exactly-once story, claim by claim (issue: scenario gallery)."""

from __future__ import annotations

from typing import Any

from sim.config import Config
from sim.scenarios.base import Case, Scenario, scenario

QUICK: dict[str, Any] = {"time_limit": 6.0, "convergence": 3.0}


def fault(at: float, nemesis: str, duration: float, target: str, **params: Any) -> dict[str, Any]:
    return {"at": at, "nemesis": nemesis, "duration": duration, "target": target, "params": params}


def drop_acks_schedule(seed: int) -> list[dict[str, Any]]:
    return [
        fault(1.0 + 0.1 * (seed % 5), "drop-acks", 1.5, "producers"),
        fault(3.5, "drop-acks", 1.5, "producers"),
    ]


def processor_crashes(seed: int) -> list[dict[str, Any]]:
    return [
        fault(1.0 + 0.2 * (seed % 4), "crash-consumer", 0.6, "processors"),
        fault(3.2, "crash-consumer", 0.6, "processors"),
    ]


def producer_stats(outcome: Any) -> dict[str, Any]:
    world = outcome.world
    sessions = [
        s
        for s in world_sessions(world)
        if hasattr(s.node, "stats") and hasattr(s.node.stats, "duplicates_answered")
    ]
    return {
        "duplicate_batches_answered": sum(s.node.stats.duplicates_answered for s in sessions),
        "fencings": sum(getattr(s.node, "fencings", 0) for s in sessions),
        "txn_ok": sum(1 for op in outcome.ops if op["f"] == "txn" and op["type"] == "ok"),
        "txn_fail": sum(1 for op in outcome.ops if op["f"] == "txn" and op["type"] == "fail"),
        "fenced_ops": sum(1 for op in outcome.ops if "fenced" in str(op.get("error", ""))),
    }


def world_sessions(world: Any) -> list[Any]:
    return list(world.workload.sessions) if world.workload is not None else []


scenario(
    Scenario(
        name="two-generals",
        claim="at-least-once + lost acks: the producer retries and the log holds duplicates",
        explanation=(
            "The broker appended the batch, but its acknowledgement was lost on the way back (the Two "
            "Generals problem: no finite exchange of messages over a lossy link lets both sides agree). "
            "The producer cannot tell a lost request from a lost ack, so it retries, and without "
            "idempotence the broker appends the same records again at new offsets."
        ),
        cases=(
            Case(
                "at-least-once",
                Config(mode="at-least-once", **QUICK),
                drop_acks_schedule,
                found=("duplicate",),
                absent=("lost-write",),
            ),
        ),
    )
)

scenario(
    Scenario(
        name="idempotent-dedup",
        claim="the same lost acks with enable.idempotence: no duplicates; the broker drops the retried batches",
        explanation=(
            "Each batch carries the producer id, epoch and sequence number. The leader remembers the "
            "last five batches of every producer (replicated with the log) and answers a retry of one of "
            "them with its original offset instead of appending it again."
        ),
        cases=(
            Case(
                "idempotent",
                Config(mode="idempotent", **QUICK),
                drop_acks_schedule,
                absent=("duplicate", "lost-write"),
                measure=producer_stats,
                judge=lambda ms: (
                    sum(m["duplicate_batches_answered"] for m in ms) > 0,
                    f"{sum(m['duplicate_batches_answered'] for m in ms)} retried batches answered as duplicates",
                ),
            ),
        ),
    )
)

scenario(
    Scenario(
        name="idempotent-restart",
        claim="an idempotent pipeline that crashes and restarts (new producer id) reprocesses its input: duplicates across sessions",
        explanation=(
            "Idempotence deduplicates retries within one producer session only: the sequence numbers "
            "belong to a producer id. A restarted processor gets a new producer id and re-reads the input "
            "from the last committed offset, so every record it had already transformed but not yet "
            "committed is written again."
        ),
        cases=(
            Case(
                "idempotent ctp",
                Config(mode="idempotent", workload="ctp", **QUICK),
                processor_crashes,
                found=("pipeline-duplicate",),
                absent=("lost-write",),
            ),
        ),
    )
)

scenario(
    Scenario(
        name="transactional-restart",
        claim="the same crashes with transactions and a stable transactional.id: exactly one output per input",
        explanation=(
            "The outputs and the input offsets commit in one transaction. The restarted processor calls "
            "initTransactions with the same transactional.id, which bumps the epoch and aborts whatever "
            "the dead instance left open, then resumes from offsets that are consistent with the outputs."
        ),
        cases=(
            Case(
                "transactional ctp",
                Config(mode="transactional", workload="ctp", **QUICK),
                processor_crashes,
                absent=("pipeline-duplicate", "pipeline-loss", "duplicate", "lost-write", "G1a"),
            ),
        ),
    )
)


def zombie_schedule(seed: int) -> list[dict[str, Any]]:
    at = 1.0 + 0.15 * (seed % 4)
    return [fault(at, "pause-client", 1.8, "c0"), fault(at, "start-zombie", 0.1, "c0")]


def fenced_judge(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    n = sum(m["fenced_ops"] for m in ms)
    return n > 0, f"zombie fenced in {sum(1 for m in ms if m['fenced_ops'])} of {len(ms)} seeds"


scenario(
    Scenario(
        name="zombie-fencing",
        claim="a paused producer wakes after its replacement started: its writes are fenced",
        explanation=(
            "A GC pause makes a producer look dead; a replacement with the same transactional.id calls "
            "initTransactions, which bumps the epoch. When the old instance wakes, every request it sends "
            "carries the old epoch and is rejected with ProducerFenced, so it cannot commit anything."
        ),
        cases=(
            Case(
                "same transactional.id",
                Config(mode="transactional", workload="produce", **QUICK),
                zombie_schedule,
                absent=("duplicate", "G1a", "lost-write"),
                measure=producer_stats,
                judge=fenced_judge,
            ),
        ),
    )
)


def paused_processor(seed: int) -> list[dict[str, Any]]:
    return [fault(1.0 + 0.2 * (seed % 4), "pause-client", 2.0, "processors")]


scenario(
    Scenario(
        name="zombie-without-fencing",
        claim="the replacement uses a different transactional.id and offsets carry no group generation: duplicates",
        explanation=(
            "A paused processor is expelled from its group and its partitions go to another processor "
            "with another transactional.id, so nothing fences the old one by epoch. Before KIP-447 the "
            "offsets it sends in its transaction did not carry the group generation either, so when it "
            "wakes it commits outputs for input the new owner has processed too."
        ),
        cases=(
            Case(
                "no fencing",
                Config(
                    mode="transactional",
                    workload="ctp",
                    external={"client.send-offsets-without-generation": True},
                    **QUICK,
                ),
                paused_processor,
                found=("pipeline-duplicate",),
            ),
            Case(
                "KIP-447 generation check",
                Config(mode="transactional", workload="ctp", **QUICK),
                paused_processor,
                absent=("pipeline-duplicate", "pipeline-loss"),
            ),
        ),
    )
)

scenario(
    Scenario(
        name="read-committed-vs-uncommitted",
        claim="aborted transactions are visible to read_uncommitted consumers only",
        explanation=(
            "Records of a transaction are in the log before its outcome is known; an abort only appends "
            "a marker. read_committed consumers stop at the Last Stable Offset and skip aborted data "
            "using the aborted-transaction index; read_uncommitted consumers read everything below the "
            "high watermark, including records that were later aborted."
        ),
        cases=(
            Case(
                "read_uncommitted",
                Config(
                    mode="transactional",
                    isolation_level="read_uncommitted",
                    external={"workload.abort-probability": 0.3},
                    **QUICK,
                ),
                found=("G1a",),
            ),
            Case(
                "read_committed",
                Config(
                    mode="transactional",
                    isolation_level="read_committed",
                    external={"workload.abort-probability": 0.3},
                    **QUICK,
                ),
                absent=("G1a", "uncommitted-read"),
            ),
        ),
    )
)


def stale_leader_answers(seed: int) -> list[dict[str, Any]]:
    """b2 (the leader of in2 and in5) is cut off from the controller for the whole run and
    keeps leading under its old epoch; processor c2 restarts (as c4) just after the new
    leader's election and commits in5 past b2's log end; then c4 crashes for longer than
    the group session, and c3 takes over in5 with metadata from before the cut. (The
    workload names its feeders c0 and c1, its processors c2 and c3, and c2's successor c4.)"""
    return [
        fault(0.1, "partition-controller", 5.9, "leader-of:in2"),
        fault(1.2, "crash-consumer", 0.1, "c2"),
        fault(3.3, "crash-consumer", 1.5, "c4"),
    ]


def stale_leader_alone(seed: int) -> list[dict[str, Any]]:
    """The same cut, no processor restarting."""
    return stale_leader_answers(seed)[:1]


scenario(
    Scenario(
        name="stale-leader-reset",
        claim="an exactly-once pipeline processes input twice when a stale leader answers a resumed processor OFFSET_OUT_OF_RANGE",
        explanation=(
            "A broker cut off from the controller (not from clients) keeps leading under its old "
            "leader epoch, with a log that stops growing, while the controller elects another "
            "leader that takes the new records. A processor that joined after the election commits "
            "its input offsets past the stale broker's log end and then dies; the processor that "
            "takes its partition over still has metadata from before the cut and fetches from the "
            "stale broker at the committed offset. That offset carries no leader epoch (Kafka's "
            "exactly-once example and Kafka Streams commit none), so nothing tells the consumer its "
            "metadata is old: the stale broker answers OFFSET_OUT_OF_RANGE, the consumer resets to "
            "the earliest offset, and the pipeline processes and commits that input again. An "
            "application that commits each offset with its record's leader epoch "
            "(client.commit-leader-epoch) avoids it: the resumed consumer sees an epoch newer than "
            "its metadata's, waits for metadata that names the new leader and validates the "
            "offset there (KIP-320). The cut alone, with no processor resuming from a committed offset, loses "
            "and duplicates nothing. Found first as a clean twin's failure in the search benchmark, "
            "now a known real class (sim.runs.known)."
        ),
        cases=(
            Case(
                "restarted processors",
                Config(mode="transactional", workload="ctp", kafka_version="4.2", **QUICK),
                stale_leader_answers,
                found=("pipeline-duplicate",),
            ),
            Case(
                "the cut alone",
                Config(mode="transactional", workload="ctp", kafka_version="4.2", **QUICK),
                stale_leader_alone,
                absent=("pipeline-duplicate", "pipeline-loss", "duplicate", "lost-write", "G1a"),
            ),
            Case(
                "offsets with leader epochs",
                Config(
                    mode="transactional",
                    workload="ctp",
                    kafka_version="4.2",
                    external={"client.commit-leader-epoch": True},
                    **QUICK,
                ),
                stale_leader_answers,
                absent=("pipeline-duplicate", "pipeline-loss", "duplicate", "lost-write", "G1a"),
            ),
        ),
        seeds=10,
    )
)

scenario(
    Scenario(
        name="consume-transform-produce",
        claim="exactly one output per input under crashes of the processor and of brokers",
        explanation=(
            "Kafka's exactly-once pattern: poll, write one output per input and commit the input offsets "
            "inside the same transaction. Crashes abort the open transaction; the restarted processor "
            "resumes from the committed offsets, which always match the committed outputs."
        ),
        cases=(
            Case(
                "ctp + crashes",
                Config(
                    mode="transactional",
                    workload="ctp",
                    nemesis=("crash-consumer", "kill-broker"),
                    nemesis_interval=1.5,
                    **QUICK,
                ),
                absent=("pipeline-duplicate", "pipeline-loss", "duplicate", "G1a", "lost-write"),
            ),
        ),
    )
)

scenario(
    Scenario(
        name="external-sink",
        claim="an EOS pipeline writing to an external database duplicates with a blind sink, not with an idempotent one",
        explanation=(
            "Exactly-once ends at Kafka's boundary: a database write is not part of the transaction. After "
            "a crash the consumer re-reads from its last committed offset and writes again; a blind insert "
            "duplicates, an upsert keyed by the input offset (an idempotent consumer) does not."
        ),
        cases=(
            Case(
                "blind",
                Config(mode="transactional", workload="sink", external={"sink": "blind"}, **QUICK),
                processor_crashes,
                found=("external-duplicate",),
            ),
            Case(
                "idempotent",
                Config(
                    mode="transactional", workload="sink", external={"sink": "idempotent"}, **QUICK
                ),
                processor_crashes,
                absent=("external-duplicate",),
            ),
        ),
    )
)


def halves(seed: int) -> list[dict[str, Any]]:
    return [fault(1.0 + 0.2 * (seed % 3), "partition-halves", 2.0, "brokers")]


scenario(
    Scenario(
        name="pitfall-acks-1",
        claim="acks=1 with a leader failover loses acknowledged writes",
        explanation=(
            "With acks=1 the leader acknowledges as soon as it has written locally. If it is cut off and "
            "a follower becomes leader, the old leader truncates what only it had when it rejoins: writes "
            "the producer saw acknowledged are gone. acks=all waits for the in-sync replicas."
        ),
        cases=(
            Case(
                "acks=1",
                Config(mode="at-least-once", acks="1", **QUICK),
                halves,
                found=("lost-write",),
            ),
            Case(
                "acks=all",
                Config(mode="at-least-once", acks="all", **QUICK),
                halves,
                absent=("lost-write",),
            ),
        ),
    )
)


def power_loss_schedule(target: str) -> Any:
    def schedule(seed: int) -> list[dict[str, Any]]:
        return [fault(2.0 + 0.13 * (seed % 7), "power-loss", 1.5, target)]

    return schedule


def records_lost(outcome: Any) -> dict[str, Any]:
    """Records the power loss took from the brokers' logs (its history op says, per broker and
    partition), acknowledged or not."""
    lost = 0
    for op in outcome.ops:
        value = op["value"]
        if op["process"] == "nemesis" and isinstance(value, dict) and value.get("lost"):
            lost += sum(n for per_key in value["lost"].values() for n in per_key.values())
    return {"records_lost": lost}


def some_lost(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    total = sum(m["records_lost"] for m in ms)
    return (
        total > 0,
        f"{total} records gone from the powered-off broker's logs (fetched back from the leaders)",
    )


def none_lost(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    total = sum(m["records_lost"] for m in ms)
    return total == 0, f"{total} records lost: every append was on disk before it returned"


scenario(
    Scenario(
        name="power-loss",
        claim=(
            "acks=all is durable by replication, not by fsync: if every replica loses power together, "
            "acknowledged writes are lost with the default flush knobs, none with "
            "log.flush.interval.messages=1; one broker losing power loses nothing"
        ),
        explanation=(
            "Kafka answers acks=all once every in-sync replica has the batch in memory (its page cache) "
            "and never fsyncs by default (log.flush.interval.messages and log.flush.interval.ms are "
            "unbounded); the OS writes dirty pages back after about 30 s (here os.dirty.expire.ms, "
            "scaled to 1 s). A power loss on every replica at once drops that unwritten tail everywhere; "
            "recovery (LogLoader, LogSegment.recover) truncates a torn last write by its CRC, and the "
            "replica the controller elects leads with a shorter log, so acknowledged writes vanish and "
            "the offsets are reused. With log.flush.interval.messages=1 each append is fsynced inside "
            "UnifiedLog.append, before a follower reports its new end or the leader advances the high "
            "watermark, so nothing acknowledged is only in memory. A single broker losing power loses its "
            "own tail, but with min.insync.replicas=2 every acknowledged write is on another replica, and "
            "the restarted broker registers anew (refused while its old session lives, so it cannot resume "
            "leading with the shorter log) and fetches back what it lost."
        ),
        cases=(
            Case(
                "all brokers, default flush",
                Config(mode="idempotent", **QUICK),
                power_loss_schedule("brokers"),
                found=("lost-write",),
            ),
            Case(
                "all brokers, log.flush.interval.messages=1",
                Config(mode="idempotent", log_flush_interval_messages=1, **QUICK),
                power_loss_schedule("brokers"),
                absent=("lost-write", "inconsistent-offsets"),
                measure=records_lost,
                judge=none_lost,
            ),
            Case(
                "one broker, min.insync.replicas=2",
                Config(mode="idempotent", min_insync_replicas=2, **QUICK),
                power_loss_schedule("random-broker"),
                absent=("lost-write", "inconsistent-offsets"),
                measure=records_lost,
                judge=some_lost,
            ),
        ),
    )
)


def no_progress(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    ok = sum(m["txn_ok"] for m in ms)
    fail = sum(m["txn_fail"] for m in ms)
    return ok == 0 and fail > 0, f"{ok} transactions committed, {fail} aborted"


scenario(
    Scenario(
        name="pitfall-txn-timeout",
        claim="transaction.timeout.ms below the processing time: every transaction aborts, no progress",
        explanation=(
            "The coordinator aborts a transaction that stays open longer than transaction.timeout.ms and "
            "bumps the producer's epoch; the producer's commit then fails as fenced. If processing always "
            "takes longer than the timeout, nothing ever commits."
        ),
        cases=(
            Case(
                "timeout 300 ms, processing 600 ms",
                Config(
                    mode="transactional",
                    workload="produce",
                    transaction_timeout_ms=300.0,
                    external={"workload.txn-think-ms": 600.0, "workload.abort-probability": 0.0},
                    **QUICK,
                ),
                measure=producer_stats,
                judge=no_progress,
            ),
        ),
        seeds=3,
    )
)


def storm(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    n = sum(m["fencings"] for m in ms)
    return n >= 2 * len(ms), f"{n} fencings over {len(ms)} seeds"


scenario(
    Scenario(
        name="pitfall-shared-txn-id",
        claim="one transactional.id shared by two unrelated producers: a fencing storm",
        explanation=(
            "A transactional.id names one logical producer. Two instances that share it fence each other "
            "every time one of them re-initialises, so both keep losing their transactions."
        ),
        cases=(
            Case(
                "shared id",
                Config(
                    mode="transactional",
                    workload="produce",
                    external={"workload.shared-txn-id": True, "client.reinit-on-fenced": True},
                    **QUICK,
                ),
                measure=producer_stats,
                judge=storm,
            ),
        ),
        seeds=3,
    )
)


def zombie_never_commits(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    n = sum(m["fencings"] for m in ms)
    return n > 0, f"zombie rejected {n} times"


scenario(
    Scenario(
        name="pitfall-ignore-fenced",
        claim="a client that ignores ProducerFenced keeps trying; nothing it sends is committed",
        explanation=(
            "ProducerFenced means a newer instance owns the transactional.id. A client that swallows the "
            "error and retries keeps sending with its old epoch; the coordinator and the partition "
            "leaders reject every attempt, so it does no harm, but it does no work either."
        ),
        cases=(
            Case(
                "ignore fenced",
                Config(
                    mode="transactional",
                    workload="produce",
                    external={"client.ignore-fenced": True},
                    **QUICK,
                ),
                zombie_schedule,
                absent=("duplicate", "G1a", "zombie-write"),
                measure=producer_stats,
                judge=zombie_never_commits,
            ),
        ),
        seeds=3,
    )
)

scenario(
    Scenario(
        name="pitfall-auto-commit",
        claim="auto-commit with transactions: input offsets move outside the transaction, so inputs are lost or duplicated",
        explanation=(
            "The consumer's offsets must be committed with sendOffsetsToTransaction, inside the "
            "transaction. Committed by the consumer instead, they advance even when the transaction "
            "aborts (lost input) or stay behind when it commits (reprocessed input)."
        ),
        cases=(
            Case(
                "auto-commit",
                Config(
                    mode="transactional",
                    workload="ctp",
                    external={
                        "client.offsets-via-auto-commit": True,
                        "workload.txn-think-ms": 50.0,
                    },
                    **QUICK,
                ),
                processor_crashes,
                found_any=("pipeline-loss", "pipeline-duplicate"),
            ),
        ),
    )
)


def _lso_blocking(seeds: int) -> dict[str, Any]:
    """Measured, not checked on histories: how late do consumers see plain writes made while a
    30-second transaction is open on the same partition? Writes the lag plot."""
    from pathlib import Path

    from sim.report import lag_plot
    from sim.scenarios.experiments import lso_blocking

    hold = 30.0
    rows = []
    for seed in range(min(seeds, 3)):
        r = lso_blocking(hold, seed=seed)
        rows.append(r)
    first = rows[0]
    out = Path("store") / "scenarios" / "lso-blocking"
    out.mkdir(parents=True, exist_ok=True)
    plot = lag_plot(
        {
            f"{iso} consumer": [(t, float(v)) for t, v in series]
            for iso, series in first.lag.items()
        },
        out / "lag.png",
        f"consumer lag while a {hold:.0f} s transaction is open",
        windows=[(first.window[0], first.window[1], "open transaction")],
    )
    rc = [r.max_delay["read_committed"] for r in rows]
    ru = [r.max_delay["read_uncommitted"] for r in rows]
    confirmed = all(0.8 * hold <= d <= 1.2 * hold for d in rc) and all(d < 0.1 for d in ru)
    return {
        "expected": {"lso": f"read_committed waits ~{hold:.0f} s, read_uncommitted does not"},
        "observed": {
            "lso": {
                "read_committed max delay (s)": round(max(rc), 2),
                "read_uncommitted max delay (s)": round(max(ru), 3),
            }
        },
        "failing_seeds": {"lso": []},
        "cases_confirmed": {"lso": confirmed},
        "confirmed": confirmed,
        "plot": str(plot),
        "seeds": len(rows),
    }


scenario(
    Scenario(
        name="lso-blocking",
        claim="a 30-second transaction stalls read_committed consumers on that partition for ~30 s; read_uncommitted ones are not delayed",
        explanation=(
            "read_committed fetches stop at the Last Stable Offset, the first offset of the earliest open "
            "transaction. Everything written after it, even outside any transaction, waits until that "
            "transaction ends. The lag plot (store/scenarios/lso-blocking/lag.png) shows the read_committed "
            "consumer falling behind for the whole window while read_uncommitted keeps up."
        ),
        cases=(),
        seeds=1,
        custom=_lso_blocking,
    )
)


# --- clocks (docs/clocks.md) ---------------------------------------------------------------------
def coordinator_clock_jump(seed: int) -> list[dict[str, Any]]:
    return [fault(2.0 + 0.13 * (seed % 5), "clock-bump", 1.5, "coordinator", delta=10.0)]


def leader_clock_jump(seed: int) -> list[dict[str, Any]]:
    return [fault(2.0 + 0.13 * (seed % 5), "clock-bump", 1.5, "leader-of:k0", delta=10.0)]


def clock_measures(outcome: Any) -> dict[str, Any]:
    """What the clock jump did: transactions the coordinator timed out, how long the failed
    transactions had really been open (true time, from the history), what the producers were
    told, and the ISR shrinks the controller accepted."""
    stats = outcome.results.get("stats", {})
    invoked: dict[Any, float] = {}
    ages = []
    errors: dict[str, int] = {}
    for op in outcome.ops:
        if op["type"] == "invoke":
            invoked[op["process"]] = op["time"]
        elif op["f"] == "txn" and op["type"] in ("fail", "info") and "error" in op:
            ages.append(op["time"] - invoked.get(op["process"], op["time"]))
            errors[str(op["error"])] = errors.get(str(op["error"]), 0) + 1
    return {
        "txn_timeouts": stats.get("txn_timeouts", 0),
        "txn_errors": dict(sorted(errors.items())),
        "longest_failed_txn_s": round(max(ages), 3) if ages else 0.0,
        "isr_shrinks": stats.get("isr_shrinks", 0),
        "isr_shrinks_k0": outcome.world.controller.isr_shrinks_by_key.get("k0", 0),
        "producer_errors": stats.get("producer_errors", {}),
    }


def jump_aborts(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    timeouts = [m["txn_timeouts"] for m in ms]
    fenced = sum(m["txn_errors"].get("producer_fenced", 0) for m in ms)
    longest = max(m["longest_failed_txn_s"] for m in ms)
    # a jump that falls between two transactions (a commit done, the next not yet begun)
    # finds nothing open to abort: most seeds, not every one
    ok = sum(1 for t in timeouts if t > 0) * 2 > len(timeouts) and fenced > 0 and longest < 5.0
    return ok, (
        f"timeouts per seed {timeouts}, {fenced} transactions failed with PRODUCER_FENCED, "
        f"open at most {longest} s of a 5 s timeout"
    )


def no_timeouts(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    n = sum(m["txn_timeouts"] for m in ms)
    return n == 0, f"{n} transaction timeouts"


CLOCK_TXN = Config(
    mode="transactional",
    external={"workload.txn-think-ms": 300.0, "workload.abort-probability": 0.0},
    **QUICK,
)

scenario(
    Scenario(
        name="clock-jump-aborts-transactions",
        claim="a 10 s forward jump of the transaction coordinator's clock aborts open transactions well within their 5 s timeout; the producer is fenced, read_committed sees nothing aborted",
        explanation=(
            "The coordinator times a transaction out when txnStartTimestamp + transaction.timeout.ms "
            "is below time.milliseconds(), its broker's wall clock "
            "(TransactionStateManager.timedOutTransactions). A forward jump makes every transaction "
            "that was open at that moment look 10 s old: the coordinator bumps the epoch and aborts "
            "it. The producer, which had its transaction open for well under a second, gets "
            "PRODUCER_FENCED on its next AddPartitionsToTxn or EndTxn (fatal in the Java client: "
            "it must close). Safety holds: the abort markers make read_committed skip the data."
        ),
        cases=(
            Case(
                "jump +10 s on the coordinator",
                CLOCK_TXN,
                coordinator_clock_jump,
                absent=("G1a", "uncommitted-read", "lost-write", "duplicate", "fractured-read"),
                measure=clock_measures,
                judge=jump_aborts,
            ),
            Case(
                "no jump",
                CLOCK_TXN,
                None,
                absent=("G1a", "uncommitted-read", "lost-write", "duplicate"),
                measure=clock_measures,
                judge=no_timeouts,
            ),
        ),
        tags=("clocks",),
    )
)


def isr_shrunk(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    shrinks = [m["isr_shrinks"] for m in ms]
    k0 = [m["isr_shrinks_k0"] for m in ms]
    ner = sum(m["producer_errors"].get("not_enough_replicas", 0) for m in ms)
    return sum(1 for s in shrinks if s) * 2 > len(ms), (
        f"ISR shrinks per seed {shrinks} (of k0: {k0}); producers got NOT_ENOUGH_REPLICAS "
        f"{ner} times and retried"
    )


def isr_kept(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    n = sum(m["isr_shrinks"] for m in ms)
    return n == 0, f"{n} ISR shrinks"


scenario(
    Scenario(
        name="clock-jump-shrinks-isr",
        claim="a 10 s forward jump of a partition leader's clock shrinks its ISRs to itself (in most seeds: when its ISR check runs before the followers fetch again); with acks=all nothing is lost",
        explanation=(
            "A leader keeps a follower in the ISR while time.milliseconds() - lastCaughtUpTimeMs is "
            "within replica.lag.time.max.ms (Replica.isCaughtUp), both read from the leader's wall "
            "clock. A forward jump makes every follower look 10 s behind, so the leader asks the "
            "controller to shrink the ISR to itself. With min.insync.replicas = 2, acks=all "
            "produces are refused (NOT_ENOUGH_REPLICAS) and retried until the followers' next "
            "fetches put them back; no acknowledged write is lost. The shrink needs the check to "
            "run before a follower's next fetch restamps it with the jumped clock, so it does not "
            "happen in every seed (Kafka checks every replica.lag.time.max.ms / 2 and also counts "
            "a follower at the log end as caught up, so there it is rarer still: docs/clocks.md)."
        ),
        cases=(
            Case(
                "jump +10 s on the leader of k0",
                Config(mode="idempotent", acks="all", **QUICK),
                leader_clock_jump,
                absent=("lost-write", "duplicate", "inconsistent-offsets"),
                measure=clock_measures,
                judge=isr_shrunk,
            ),
            Case(
                "no jump",
                Config(mode="idempotent", acks="all", **QUICK),
                None,
                absent=("lost-write", "duplicate"),
                measure=clock_measures,
                judge=isr_kept,
            ),
        ),
        tags=("clocks",),
    )
)


def move_with_failover(seed: int) -> list[dict[str, Any]]:
    """Partition k<seed % 6> is reassigned away from its leader (five brokers: the new replicas
    are drawn from the other four) and, 10 ms into the move, before the new replicas have
    caught up, the cluster splits in two halves for 1.5 s (clients still reach every broker),
    so in some seeds the leader is cut off from the controller and its followers and
    leadership fails over; later a second partition moves, undisturbed."""
    k = seed % 6
    at = 1.0 + 0.1 * (seed % 5)
    return [
        fault(at, "reassign", 1.0, f"leader-of:k{k}", partition=f"k{k}"),
        fault(at + 0.01, "partition-halves", 1.5, "brokers"),
        fault(3.8, "reassign", 0.5, "random-broker"),
    ]


def moves_completed(outcome: Any) -> dict[str, Any]:
    """Reassignments the controller completed (the history's "completed" nemesis ops)."""
    done = sum(
        1
        for op in outcome.ops
        if op["process"] == "nemesis"
        and isinstance(op["value"], dict)
        and op["value"].get("phase") == "completed"
    )
    return {"moves_completed": done}


def all_moved(ms: list[dict[str, Any]]) -> tuple[bool, str]:
    done = sum(m["moves_completed"] for m in ms)
    return done >= len(ms), f"{done} reassignments completed over {len(ms)} seeds"


MOVE: dict[str, Any] = {"brokers": 5, "time_limit": 6.0, "convergence": 3.0}

scenario(
    Scenario(
        name="reassignment-under-load",
        claim=(
            "moving a partition's replicas while producers write loses nothing with acks=all, even "
            "when leadership fails over mid-move; with acks=1 that failover loses acknowledged writes"
        ),
        explanation=(
            "A reassignment (ReplicationControlManager.alterPartitionReassignments) first adds the "
            "target replicas: the partition's replicas become target + old, the new replicas fetch "
            "the log from offset 0, and only once every target replica is in the ISR does the "
            "controller drop the old ones and, if the leader was among them, elect the first target "
            "replica in the ISR (PartitionReassignmentReplicas.maybeCompleteReassignment, "
            "PartitionChangeBuilder). The old replicas stay in the ISR throughout, so an acks=all write "
            "is on every ISR member, old and new, before it is acknowledged, and a leader crash in the "
            "middle of the move elects a replica that has it. acks=1 acknowledges what only the leader "
            "has; when a network split cuts the leader off mid-move it keeps acknowledging writes "
            "its followers never fetch, the controller elects another ISR member, and the old "
            "leader's suffix is truncated when it rejoins, or deleted with its log when the "
            "completed move no longer lists it as a replica."
        ),
        cases=(
            Case(
                "acks=all",
                Config(mode="at-least-once", acks="all", **MOVE),
                move_with_failover,
                absent=("lost-write", "inconsistent-offsets"),
                measure=moves_completed,
                judge=all_moved,
            ),
            Case(
                "acks=1",
                Config(mode="at-least-once", acks="1", **MOVE),
                move_with_failover,
                found=("lost-write",),
            ),
        ),
        seeds=6,
        tags=("membership",),
    )
)


# --- the KRaft controller quorum (sim/cluster/quorum.py) -----------------------------------------
KRAFT = {"controller.quorum.voters": 3}


def controller_leader_cut_with(seed: int) -> list[dict[str, Any]]:
    from sim.scenarios.bug_matrix import cut_controller_leader_with

    return cut_controller_leader_with(seed, "k0")


def controller_failovers(seed: int) -> list[dict[str, Any]]:
    return [
        fault(1.0 + 0.1 * (seed % 5), "kill-controller", 1.0, "controller-leader"),
        fault(3.0 + 0.1 * (seed % 3), "kill-controller", 1.0, "controller-leader"),
    ]


scenario(
    Scenario(
        name="deposed-leader-kraft",
        claim="a partition leader cut off with the active KRaft controller keeps accepting acks=1 writes after the new controller replaced it (lost); acks=all writes are refused (nothing lost); controller failovers under acks=all lose nothing",
        explanation=(
            "With controller.quorum.voters = 3 the controllers are a Raft group. The nemesis cuts "
            "the active controller off together with the leader of k0 (clients still reach it). "
            "The other two voters elect a new controller, which fences the silent broker and "
            "moves its leaderships. The deposed leader learns of this only from the metadata log "
            "(a broker's MetadataLoader applies committed records it fetched), which it cannot "
            "reach, so it keeps acting as leader: acks=1 writes are acknowledged and then "
            "truncated when it rejoins as a follower. An acks=all write needs the ISR: its "
            "followers now fetch from the new leader, and its ISR shrink goes to its old "
            "controller, which cannot commit it (and resigns after 1.5 x "
            "controller.quorum.fetch.timeout.ms), so nothing is acknowledged and nothing lost."
        ),
        cases=(
            Case(
                "acks=1, controller leader cut off with the leader of k0",
                Config(mode="at-least-once", acks="1", external=KRAFT, **QUICK),
                controller_leader_cut_with,
                found=("lost-write",),
            ),
            Case(
                "acks=all, same fault",
                Config(mode="at-least-once", acks="all", external=KRAFT, **QUICK),
                controller_leader_cut_with,
                absent=("lost-write", "inconsistent-offsets"),
            ),
            Case(
                "acks=all, the active controller killed twice under load",
                Config(mode="idempotent", external=KRAFT, **QUICK),
                controller_failovers,
                absent=("lost-write", "duplicate", "inconsistent-offsets"),
            ),
        ),
        tags=("kraft",),
    )
)
