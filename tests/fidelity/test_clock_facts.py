"""Which of Kafka's timers read the wall clock (``Time.milliseconds()`` =
``System.currentTimeMillis``) and so move when a node's clock jumps, and which run on monotonic
time (``Time.hiResClockMs()`` / ``nanoseconds()``) and do not."""

from __future__ import annotations

from typing import Any

from sim.config import Config
from tests.fidelity.kit import RawClient, run_for, settled
from tests.fidelity.test_transaction_facts import ask, coordinator, init_producer

TXN = Config(mode="transactional")


def open_transaction(world, client: RawClient) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    ids = init_producer(world, client)
    body = {"txn_id": "t", "pid": ids["pid"], "epoch": ids["epoch"], "keys": ["k0"]}
    assert ask(world, client, "AddPartitionsToTxn", body, "__transaction_state") == {"ok": True}
    return ids


def test_a_forward_jump_of_the_coordinators_clock_expires_an_open_transaction() -> None:
    """The coordinator aborts (and fences) a transaction once txnStartTimestamp +
    transaction.timeout.ms is below its broker's wall clock, so a 10 s forward jump expires a
    transaction opened 0.3 s before with a 5 s timeout; without the jump it stays open.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionStateManager.scala,
    TransactionStateManager.timedOutTransactions (txnStartTimestamp + txnTimeoutMs <
    time.milliseconds()); TransactionCoordinator.abortTimedOutTransactions
    """
    for jump in (0.0, 10.0):
        world, client = settled(TXN)
        ids = open_transaction(world, client)
        coord = world.txn_coordinators[coordinator(world, "__transaction_state")]
        if jump:
            world.brokers[coord.broker.name].clock.bump(jump)
        run_for(world, 0.3)
        meta = coord.txns["t"]
        if jump:
            assert meta.state in ("PrepareAbort", "CompleteAbort")
            assert meta.epoch == ids["epoch"] + 1  # prepareFenceProducerEpoch
            assert coord.stats["timeouts"] == 1
        else:
            assert (meta.state, meta.epoch, coord.stats["timeouts"]) == ("Ongoing", ids["epoch"], 0)


def test_a_backward_jump_of_the_coordinators_clock_keeps_an_expired_transaction_open() -> None:
    """With the coordinator's clock set 10 s back, a transaction older than its 5 s timeout is
    not aborted: the comparison is against the wall clock, not elapsed (monotonic) time.

    Kafka: core/src/main/scala/kafka/coordinator/transaction/TransactionStateManager.scala,
    TransactionStateManager.timedOutTransactions
    """
    world, client = settled(TXN)
    open_transaction(world, client)
    coord = world.txn_coordinators[coordinator(world, "__transaction_state")]
    coord.broker.clock.bump(-10.0)
    run_for(world, 6.0)
    assert (coord.txns["t"].state, coord.stats["timeouts"]) == ("Ongoing", 0)
    coord.broker.clock.reset()  # NTP puts it right: the scan now sees the transaction expired
    run_for(world, 0.2)
    assert coord.stats["timeouts"] == 1


def steady_writes(world, client: RawClient, leader: str, seconds: float):  # type: ignore[no-untyped-def]
    def writer():  # type: ignore[no-untyped-def]
        for i in range(int(seconds / 0.01)):
            client.produce(leader, "k0", [i], acks="1")
            yield world.env.timeout(0.01)

    world.env.process(writer())


def isr_sizes(world, state, seconds: float) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(smallest, largest) ISR of a partition, sampled every 10 ms for ``seconds``."""
    sizes = []
    for _ in range(int(seconds / 0.01)):
        run_for(world, 0.01)
        sizes.append(len(state.isr))
    return min(sizes), max(sizes)


def test_a_forward_jump_of_the_leaders_clock_shrinks_the_isr() -> None:
    """Under steady writes a leader whose clock jumps 10 s forward sees every follower's
    lastCaughtUpTimeMs more than replica.lag.time.max.ms in the past and shrinks the ISR to
    itself; the followers return once their next fetches catch up (at the new clock time).

    Kafka: core/src/main/scala/kafka/cluster/Replica.scala, ReplicaState.isCaughtUp
    (currentTimeMs - lastCaughtUpTimeMs <= replicaMaxLagMs); Partition.getOutOfSyncReplicas
    reads time.milliseconds()
    """
    world, client = settled()
    state = world.controller.partitions["k0"]
    leader = state.leader
    steady_writes(world, client, leader, 4.0)
    run_for(world, 1.0)
    assert len(state.isr) == 3 and world.controller.isr_shrinks == 0
    world.brokers[leader].clock.bump(10.0)
    assert isr_sizes(world, state, 1.5)[0] == 1  # shrunk to the leader alone
    assert world.controller.isr_shrinks >= 1
    assert len(state.isr) == 3  # re-admitted: caught up again, on the leader's new time


def test_a_follower_clock_jump_does_not_touch_the_isr() -> None:
    """Only the leader's clock matters for the ISR: the follower's fetch carries no
    timestamp, the leader stamps it with its own time.milliseconds().

    Kafka: core/src/main/scala/kafka/server/ReplicaManager.scala, ReplicaManager.fetchMessages
    (fetchTimeMs = time.milliseconds) -> Partition.updateFollowerFetchState
    """
    world, client = settled()
    state = world.controller.partitions["k0"]
    leader = state.leader
    follower = next(b for b in state.replicas if b != leader)
    steady_writes(world, client, leader, 3.0)
    run_for(world, 1.0)
    world.brokers[follower].clock.bump(10.0)
    assert isr_sizes(world, state, 1.5) == (3, 3)


def test_group_session_timeouts_run_on_monotonic_time() -> None:
    """A broker's clock jump does not expire a consumer group member: the session timeout is a
    delayed operation in the heartbeat purgatory, whose timer reads Time.hiResClockMs
    (System.nanoTime), so the model keeps it on simulated time.

    Kafka: server-common/src/main/java/org/apache/kafka/server/util/timer/SystemTimer.java,
    SystemTimer.add (timerTask.delayMs + Time.SYSTEM.hiResClockMs()); GroupCoordinator.scala
    completeAndScheduleNextExpiration (DelayedHeartbeat)
    """
    from sim.runs.runner import run

    config = Config(mode="at-least-once", time_limit=4.0, convergence=1.0)
    bump = [
        {
            "at": 1.0,
            "nemesis": "clock-bump",
            "duration": 2.0,
            "target": "group-coordinator",
            "params": {"delta": 30.0},
        }
    ]
    plain, bumped = run(config, 3, []), run(config, 3, bump)
    rebalances = [
        sum(1 for op in outcome.ops if op["f"] == "poll" and op.get("rebalance_log"))
        for outcome in (plain, bumped)
    ]
    assert rebalances[0] == rebalances[1]
