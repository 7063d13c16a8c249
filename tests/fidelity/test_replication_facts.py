"""Replication facts: when the high watermark moves and who counts as in sync."""

from __future__ import annotations

from typing import Any

import pytest

from sim.cluster.build import build_world
from sim.config import Config
from tests.fidelity.kit import run_for, settled


def isolate_leader_from_followers(world, key: str = "k0") -> str:  # type: ignore[no-untyped-def]
    state = world.controller.partitions[key]
    leader = state.leader
    followers = [b for b in state.replicas if b != leader]
    world.net.cut([(leader, f) for f in followers] + [(f, leader) for f in followers])
    return leader


@pytest.mark.parametrize(("version", "advances"), [("3.6", True), ("3.7", False), ("4.0", False)])
def test_high_watermark_is_held_while_the_isr_is_below_min_insync(
    version: str, advances: bool
) -> None:
    """From 3.7 the leader's high watermark does not advance while the ISR is smaller than
    min.insync.replicas (KAFKA-15583); before, an ISR shrunk to the leader alone exposed
    acks=1 writes to consumers at once.

    Kafka: core/src/main/scala/kafka/cluster/Partition.scala, Partition.maybeIncrementLeaderHW
    """
    world, client = settled(kafka_version=version)
    leader = isolate_leader_from_followers(world)
    run_for(world, 3.0)  # followers fall out of the ISR (replica.lag.time.max.ms = 1 s)
    assert world.controller.partitions["k0"].isr == [leader]
    client.produce(leader, "k0", [7], acks="1")
    run_for(world, 0.5)
    assert client.replies == [{"offset": 0, "duplicate": False}]  # acks=1: the leader has it
    assert world.brokers[leader].logs["k0"].hw == (1 if advances else 0)


def test_a_follower_that_reached_the_previous_log_end_stays_in_sync() -> None:
    """Under steady writes and a 200 ms link delay a follower's fetch offset never equals the
    leader's *current* log end, yet Kafka keeps it in the ISR: a fetch that reached the log end
    the leader had at the follower's previous fetch counts as caught up as of that fetch.

    Kafka: core/src/main/scala/kafka/cluster/Replica.scala, Replica.updateFetchStateOrThrow
    """
    from sim.cluster.network import Rule

    world, client = settled()
    state = world.controller.partitions["k0"]
    leader = state.leader
    brokers = set(world.brokers)
    world.net.rules.append(
        Rule("slow-replication", lambda m: m.src in brokers and m.dst in brokers, delay=0.2)
    )

    def writer():  # type: ignore[no-untyped-def]
        for i in range(800):
            client.produce(leader, "k0", [i], acks="1")
            yield world.env.timeout(0.01)

    world.env.process(writer())
    run_for(world, 2.0)  # start-up: the first long poll parks on an empty log
    sizes = []
    for _ in range(60):
        run_for(world, 0.1)
        sizes.append(len(state.isr))
    assert sizes == [3] * 60, "a healthy follower 200 ms away is out of the ISR"


def test_truncation_drops_an_empty_leader_epoch_so_the_follower_converges() -> None:
    """A broker that led epoch 2 without writing a record keeps (2, 19) in its leader-epoch
    cache. Fetching from the epoch-5 leader it is told that epoch 2 is unknown and that epoch 0
    ends at 19; truncating to 19 removes no record but must drop the empty epoch, else every
    following fetch names epoch 2 again and diverges for ever (the follower never rejoins).

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/epoch/LeaderEpochFileCache.java,
    LeaderEpochFileCache.truncateFromEnd
    """
    from sim.cluster.log import PartitionLog, Record

    leader, follower = PartitionLog("k0"), PartitionLog("k0")
    for log in (leader, follower):
        log.note_epoch(0)
        log.append_batch([Record(0, v, -1, -1, -1, 0) for v in range(19)])
    follower.note_epoch(2)  # led epoch 2, appended nothing
    leader.note_epoch(5)
    epoch, end = leader.end_offset_for_epoch(follower.last_epoch)
    assert (epoch, end) == (0, 19)
    follower.truncate_to(min(end, follower.end_offset_for_epoch(epoch)[1]))
    assert follower.leo == 19 and follower.last_epoch == 0
    assert leader.end_offset_for_epoch(follower.last_epoch) == (0, 19)  # no longer diverging


def test_a_follower_learns_a_new_high_watermark_from_the_next_records_not_at_once() -> None:
    """A follower's fetch reads to the leader's log end, so a parked follower fetch completes
    only when records arrive past its offset (or its wait expires), never because the high
    watermark moved: a caught-up follower's HW lags the leader's until the next answer. The
    leader's HW (and so acks=all and consumers) does not wait for that.

    Kafka: core/src/main/scala/kafka/server/DelayedFetch.scala, DelayedFetch.tryComplete
    (FetchIsolation.LOG_END for followers; Case G counts bytes past the fetch offset only)
    """
    world, client = settled()
    leader = world.controller.partitions["k0"].leader
    followers = [b for b in world.controller.partitions["k0"].replicas if b != leader]
    run_for(world, 1.0)  # every follower caught up, its fetch parked on an empty log
    client.produce(leader, "k0", [7])
    run_for(world, 0.05)  # records to the followers, their next fetches raise the leader's HW
    assert client.replies == [{"offset": 0, "duplicate": False}]
    assert world.brokers[leader].logs["k0"].hw == 1
    assert [world.brokers[f].logs["k0"].leo for f in followers] == [1, 1]
    assert [world.brokers[f].logs["k0"].hw for f in followers] == [0, 0], (
        "a parked follower fetch was answered for a HW change alone"
    )
    run_for(world, 0.6)  # the parked fetches expire (replica.fetch.wait.max.ms) with the HW
    assert [world.brokers[f].logs["k0"].hw for f in followers] == [1, 1]


def test_a_quorum_controller_answers_a_read_only_after_what_it_wrote_commits() -> None:
    """A KRaft controller answers a request that wrote nothing (an AlterPartition refused with
    INVALID_UPDATE_VERSION, and the state it read) only once every record it has written so far
    commits: its in-memory state may hold an ISR shrink the quorum has not committed, and a
    leader acting on that shrink acknowledges writes that a controller elected without the
    record can lose (the model did so, found by a guided campaign's clean twin).

    Kafka: metadata/src/main/java/org/apache/kafka/controller/QuorumController.java,
    ControllerWriteEvent.run (a result without records waits for highestPendingOffset)
    """
    from sim.cluster.network import Message
    from sim.config import Config
    from sim.runs.runner import simulate

    config = Config(time_limit=3.0, convergence=1.0, external={"controller.quorum.voters": 3})
    world, _, _ = simulate(config, 3)
    assert world.quorum is not None
    env = world.env
    active = next(v for v in world.quorum.voters if v.active)
    p = active.partitions["k0"]
    assert p.leader is not None
    stale = p.partition_epoch
    p.isr = [p.leader]  # an ISR shrink, written: it commits once a follower fetches it
    p.partition_epoch += 1
    active.push([p])
    answers: list[tuple[float, dict]] = []
    reply = active.reply

    def watch(msg: Message, body: dict) -> None:
        if msg.api == "AlterPartition" and msg.corr == -7:
            answers.append((env.now, body))
        else:
            reply(msg, body)

    active.reply = watch  # type: ignore[method-assign]
    body = {"key": "k0", "isr": [p.leader], "leader_epoch": p.leader_epoch,
            "partition_epoch": stale}  # fmt: skip
    active.on_alter(Message(p.leader, active.name, "AlterPartition", body, -7))
    assert answers == []  # not at once: the shrink is not committed yet
    written = len(active.log) - 1
    env.run(until=env.now + 0.5)
    assert active.hw > written  # it committed
    assert answers, "answered once the record committed"
    assert answers[0][1]["error"] == "invalid_update_version"
    assert answers[0][1]["state"]["partition_epoch"] == stale + 1


def leader_one_record_ahead_of(version: str) -> tuple[Any, Any, str]:
    """k0's leader with a record that one follower (in the ISR) has and the other (outside
    the ISR) lacks: the world, the leader broker, and that other follower."""
    from sim.cluster.log import Record

    world = build_world(Config(mode="idempotent", kafka_version=version).validate(), seed=1)
    world.env.run(until=0.5)
    leader = str(world.controller.leader_of("k0"))
    broker = world.brokers[leader]
    st, log = broker.leading["k0"], broker.logs["k0"]
    in_isr, joining = sorted(r for r in st.follower_leo)
    log.append(Record(0, 7, -1, -1, -1, st.epoch))
    st.isr = [leader, in_isr]
    st.follower_leo[in_isr] = log.leo
    st.follower_leo[joining] = log.leo - 1
    return world, broker, joining


@pytest.mark.parametrize(
    ("version", "pending_add", "caught_up", "waits"),
    [
        ("3.5", False, True, False),  # 3.5: only the (maximal) ISR holds the high watermark
        ("3.5", True, True, True),  # an AlterPartition in flight adds it: maximal ISR
        ("4.2", False, True, True),  # 3.6+: a caught-up follower about to join holds it too
        ("4.2", False, False, False),  # a lagging one does not
    ],
)
def test_the_high_watermark_waits_for_a_replica_that_may_join_the_isr(
    version: str, pending_add: bool, caught_up: bool, waits: bool
) -> None:
    """The leader's high watermark is the smallest log end of its *maximal* ISR: a replica
    that an AlterPartition in flight adds counts already, and from 3.6 so does a follower that
    is caught up but not yet in the ISR. Counting only the committed ISR let a record commit
    (and a transaction's PrepareCommit be acknowledged) while a replica without it joined the
    ISR and was then elected: an acknowledged commit lost (found by the search benchmark's
    clean twin of txn-timeout-aborts-prepared).

    Kafka: core/src/main/scala/kafka/cluster/Partition.scala, Partition.maybeIncrementLeaderHW
    (partitionState.maximalIsr; shouldWaitForReplicaToJoinIsr, KAFKA-15021) and
    PendingExpandIsr.maximalIsr
    """
    world, broker, joining = leader_one_record_ahead_of(version)
    st, log = broker.leading["k0"], broker.logs["k0"]
    st.caught_up[joining] = world.env.now if caught_up else -1e9
    st.joining = (joining,) if pending_add else ()
    broker._advance_hw("k0")
    assert log.hw == (log.leo - 1 if waits else log.leo)


@pytest.mark.parametrize(
    ("answer", "waits"), [({"error": "request_timed_out"}, True), (None, False)]
)
def test_an_unanswered_alter_partition_keeps_its_replica_holding_the_high_watermark(
    answer: dict | None, waits: bool
) -> None:
    """An AlterPartition that adds a replica and gets no answer may still have been committed
    by the controller (which may then elect that replica), so the leader goes on counting the
    replica until it learns the outcome; an answer with the partition's state ends that. The
    model had dropped the pending addition on a timeout and acknowledged a write the replica
    lacked: with the controller's ISR holding that replica, its election lost the write
    (found by the search benchmark's clean twin of kraft-ack-before-commit).

    Kafka: core/src/main/scala/kafka/cluster/Partition.scala, PendingExpandIsr.maximalIsr and
    Partition.handleAlterPartitionError / sendAlterPartitionRequest (the pending state stays
    until a response; the request is retried)
    """
    world, broker, joining = leader_one_record_ahead_of("3.5")
    st, log = broker.leading["k0"], broker.logs["k0"]
    st.joining = (joining,)
    state = {**world.controller.partitions["k0"].image(), "isr": list(st.isr)}
    broker._on_alter_reply(
        "k0", broker.controller, answer if answer is not None else {"state": state}
    )
    broker._advance_hw("k0")
    assert log.hw == (log.leo - 1 if waits else log.leo)


def _controller(version: str, **external: Any) -> Any:
    """A settled world's controller (single controller: the same decisions a KRaft quorum
    makes, as records)."""
    config = Config(mode="idempotent", kafka_version=version, external=external).validate()
    world = build_world(config, seed=1)
    world.env.run(until=0.5)
    return world.controller


@pytest.mark.parametrize(
    ("version", "external", "elr"),
    [("4.0", {}, False), ("4.1", {}, True), ("4.2", {}, True),
     ("4.0", {"eligible.leader.replicas.version": 1}, True),
     ("4.2", {"eligible.leader.replicas.version": 0}, False)],
)  # fmt: skip
def test_eligible_leader_replicas_keep_a_crashed_last_isr_member_from_leading(
    version: str, external: dict[str, Any], elr: bool
) -> None:
    """Eligible Leader Replicas keep a crashed last ISR member from leading again (KIP-966
    part 1: new clusters from 4.1; 4.0 with eligible.leader.replicas.version=1). A replica
    that leaves an ISR smaller than
    min.insync.replicas (2) becomes an eligible leader; fencing the last ISR member empties
    the ISR instead of keeping it there; a broker that registers as a new process (a crash)
    leaves every ISR and ELR; a leaderless partition with an empty ISR elects an unfenced
    ELR member, which becomes the ISR. Without ELR the last member stays in the ISR, is
    elected again when it comes back, and nothing else can lead.

    Kafka: metadata/src/main/java/org/apache/kafka/controller/PartitionChangeBuilder.java,
    maybePopulateTargetElr, isValidNewLeader, tryElection and build (an empty ISR only with
    ELR); ReplicationControlManager.java, handleBrokerFenced, handleBrokerUncleanShutdown;
    ClusterControlManager.java, registerBroker (a new incarnation id goes to the
    unclean-shutdown handler)."""
    c = _controller(version, **external)
    p = c.partitions["k0"]
    leader, first, second = p.replicas
    c.fence(first)
    assert (p.isr, p.elr) == ([leader, second], [])  # still min.insync.replicas: no ELR
    c.fence(second)
    assert p.isr == [leader] and p.elr == ([second] if elr else [])
    c.fence(leader)  # the last ISR member crashes
    assert p.leader is None
    assert (p.isr, p.elr) == (([], [leader, second]) if elr else ([leader], []))
    assert c.restarted(leader, 1)  # it registers as a new process
    c.unclean_shutdown(leader)
    c.unfence(leader)
    if elr:
        assert p.leader is None and p.isr == [] and p.elr == [second]  # it cannot lead
        c.unfence(second)
        assert p.leader == second and (p.isr, p.elr) == ([second], [])
    else:
        assert p.leader == leader and p.isr == [leader]  # re-elected without what it lost


def test_a_broker_registering_again_in_the_same_process_is_no_unclean_shutdown() -> None:
    """A broker registering again in the same process is no unclean shutdown: answered
    STALE_BROKER_EPOCH, it registers with the same incarnation id, and only a new incarnation
    goes to the unclean-shutdown handler, so it keeps its place in the ELR.

    Kafka: metadata/src/main/java/org/apache/kafka/controller/ClusterControlManager.java,
    registerBroker (request.incarnationId() against the registered one)."""
    c = _controller("4.2")
    assert not c.restarted("b0", 0)  # the process the cluster started with
    assert c.restarted("b0", 1) and not c.restarted("b0", 1)


def test_eligible_leader_replicas_need_kafka_4() -> None:
    """Eligible Leader Replicas exist from 4.0 (eligible.leader.replicas.version 1; 0 turns
    them off): asking for them on an older release is refused with one line.

    Kafka: server-common/src/main/java/org/apache/kafka/server/common/MetadataVersion.java,
    isElrSupported (IBP_4_0_IV1); docs/ops.html, Eligible Leader Replicas."""
    from sim.errors import UsageError

    config = Config(kafka_version="3.9", external={"eligible.leader.replicas.version": 1})
    with pytest.raises(UsageError, match=r"eligible.leader.replicas.version=1 needs kafka.version"):
        config.validate()
    with pytest.raises(UsageError, match="eligible.leader.replicas.version"):
        Config(external={"eligible.leader.replicas.version": 2}).validate()


def test_a_broker_restarted_within_its_session_comes_back_fenced_under_new_epochs() -> None:
    """A broker process that restarts within its session (a plain crash, page cache intact)
    is refused as a new incarnation (DuplicateBrokerRegistration) until its old session
    expires; it is then fenced, its leaderships move under new leader epochs, and it
    registers. It never resumes a leadership under the epoch its old process led with.

    Kafka: metadata/src/main/java/org/apache/kafka/controller/ClusterControlManager.java,
    registerBroker (hasValidSession with another incarnation id: DuplicateBrokerRegistration
    Exception); core/src/main/scala/kafka/server/BrokerLifecycleManager.scala,
    sendBrokerRegistration (every broker process registers when it starts)."""
    world, _ = settled(Config(mode="idempotent"))
    c = world.controller
    led = sorted(k for k, p in c.partitions.items() if p.leader == "b0")
    epochs = {k: c.partitions[k].leader_epoch for k in led}
    broker = world.brokers["b0"]
    broker.crash()
    run_for(world, 0.2)
    broker.restart()  # well within broker.session.timeout.ms (1 s)
    run_for(world, 0.3)
    assert broker.registering and "b0" not in c.fenced  # refused: the old session is valid
    assert all(c.partitions[k].leader != "b0" or c.partitions[k].leader_epoch == epochs[k]
               for k in led)  # fmt: skip
    run_for(world, 2.0)
    assert not broker.registering and "b0" not in c.fenced and c.incarnations["b0"] == 1
    for k in led:
        assert c.partitions[k].leader_epoch > epochs[k], k  # fenced meanwhile: moved on
        if broker.leader_epoch(k) is not None:
            assert broker.leader_epoch(k) > epochs[k]


def test_the_same_incarnation_registering_again_amends_its_registration() -> None:
    """A broker whose registration answer was lost registers again with the same incarnation
    id, and that is an amendment, not a duplicate: accepted while its session is valid, with
    no unclean shutdown (only a new incarnation goes to that handler).

    Kafka: metadata/src/main/java/org/apache/kafka/controller/ClusterControlManager.java,
    registerBroker (DuplicateBrokerRegistrationException only for another incarnation id;
    "Amending registration of broker")."""
    from sim.cluster.network import Message

    c = _controller("4.2")
    answers: list[dict[str, Any]] = []
    c.reply = lambda msg, body: answers.append(body)  # type: ignore[method-assign]
    c.on_heartbeat(Message("b0", c.name, "BrokerHeartbeat", {"register": True, "incarnation": 0}))
    assert "error" not in answers[-1] and "b0" not in c.fenced
    c.on_heartbeat(Message("b0", c.name, "BrokerHeartbeat", {"register": True, "incarnation": 1}))
    assert answers[-1] == {"error": "duplicate_broker_registration"}  # a new process: refused


@pytest.mark.parametrize("crash_at", [0.6, 0.96, 1.1, 1.3])
def test_live_brokers_find_the_new_controller_before_their_sessions_expire(crash_at: float) -> None:
    """A broker whose active controller crashed finds the new one and stays unfenced.

    Heartbeats go out every tick, so when the controller dies several are in flight to it and
    time out one after another. The broker steps to the next voter on the first; the others
    answer for a voter it has already left and must not move it again. (The model had stepped
    on each, circled the voters past its session, and the new controller fenced a live broker,
    which left a partition's only unfenced copy to one that had lost its page cache: the
    search benchmark's 4.2 twin of the unclean shutdown failed that way.)

    Kafka: core/src/main/scala/kafka/server/NodeToControllerChannelManager.scala,
    NodeToControllerRequestThread.handleResponse (on a disconnect or NOT_CONTROLLER it forgets
    the controller and re-resolves the active one from the raft leader, getControllerInfo; it
    never steps past one it has found)
    """
    config = Config(time_limit=6.0, convergence=1.0, external={"controller.quorum.voters": 3})
    world = build_world(config.validate(), seed=1)
    world.env.run(until=crash_at)
    assert world.quorum is not None
    active = next(v for v in world.quorum.voters if v.active)
    active.crash()
    fenced: list[tuple[float, str]] = []
    for voter in world.quorum.voters:
        fence = voter.fence

        def watch(broker: str, fence: Any = fence, voter: Any = voter) -> None:
            fenced.append((voter.env.now, broker))
            fence(broker)

        voter.fence = watch  # type: ignore[method-assign]
    world.env.run(until=crash_at + 3.0)
    assert any(v.active for v in world.quorum.voters), "a new controller was elected"
    assert fenced == [], f"live brokers fenced: {fenced}"
