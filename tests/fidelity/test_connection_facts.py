"""Client connection facts: one connection per broker, answered in order, closed on a timeout.
An idempotent producer's dedup relies on them: no batch is acknowledged while an earlier batch
to the same broker is unanswered, so each unacknowledged batch stays within the broker's
five-batch window."""

from __future__ import annotations

from typing import Any

from sim.clients.connections import OrderedConnections
from sim.cluster.network import Message
from sim.cluster.node import BaseNode
from sim.cluster.world import World
from sim.config import Config, from_mapping
from sim.runs.runner import run


class Client(OrderedConnections):
    pass


class Broker(BaseNode):
    """Answers request "late" after 0.5 s, "lost" never, anything else at once."""

    def __init__(self, world: World, name: str) -> None:
        super().__init__(world, name)
        self.handlers = {"Api": self.on_request}

    def on_request(self, msg: Message) -> None:
        kind = msg.body["kind"]
        if kind == "late":
            self.env.timeout(0.5).callbacks.append(lambda _e: self.reply(msg, {"ok": kind}))
        elif kind != "lost":
            self.reply(msg, {"ok": kind})


def cluster() -> tuple[World, Client]:
    world = World(Config(), 0)
    client, broker = Client(world, "c0"), Broker(world, "b0")
    world.net.add_node(client, "producer")
    world.net.add_node(broker, "broker")
    return world, client


def test_responses_from_one_broker_are_handled_in_request_order() -> None:
    """A broker reads a connection's next request only after answering the current one, so a
    client sees answers in request order; an answer that arrives early waits its turn.

    Kafka: core/src/main/scala/kafka/network/SocketServer.scala, Processor.processCompletedReceives
    (the channel is muted until the response is sent); clients NetworkClient.handleCompletedReceives
    (InFlightRequests.completeNext, oldest first)
    """
    world, client = cluster()
    seen: list[tuple[str, float]] = []
    for kind in ("late", "fast"):
        client.call(
            "b0", "Api", {"kind": kind}, 2.0, lambda r: seen.append((r["ok"], world.env.now))
        )
    world.env.run(until=3.0)
    assert [k for k, _ in seen] == ["late", "fast"]
    assert seen[1][1] >= seen[0][1] >= 0.5


def test_a_request_timeout_closes_the_connection_and_fails_what_is_in_flight_on_it() -> None:
    """An unanswered request times out, the client disconnects from that broker, and every
    other request in flight on the connection fails as disconnected (its outcome unknown, so a
    producer retries it); an answer that was waiting behind the lost one is discarded.

    Kafka: clients/src/main/java/org/apache/kafka/clients/NetworkClient.java,
    handleTimedOutRequests -> processTimeoutDisconnection -> cancelInFlightRequests
    """
    world, client = cluster()
    seen: dict[str, tuple[Any, float]] = {}
    for kind in ("lost", "fast"):
        client.call(
            "b0",
            "Api",
            {"kind": kind},
            1.0,
            lambda r, k=kind: seen.setdefault(k, (r, world.env.now)),
        )
    world.env.run(until=0.5)
    assert seen == {}  # "fast" was answered, but behind the unanswered "lost"
    client.call(
        "b0", "Api", {"kind": "later"}, 5.0, lambda r: seen.setdefault("later", (r, world.env.now))
    )
    world.env.run(until=5.0)
    assert seen["lost"][0]["error"] == "request_timed_out" and seen["lost"][1] == 1.0
    assert seen["fast"][0].get("disconnected") and seen["fast"][1] == 1.0
    assert seen["later"][0].get("disconnected")  # on the same connection, so cancelled too


def test_an_idempotent_producer_with_lost_acks_never_duplicates_under_open_arrivals() -> None:
    """With many batches in flight per partition (open-loop arrivals) and acknowledgements
    lost, every retry is still deduplicated: without the connection semantics above, later
    batches were acknowledged past a lost one, pushed it out of the broker's five-batch window,
    and its retry after a local epoch bump was appended twice (57 of 60 seeds).

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerStateEntry.java,
    NUM_BATCHES_TO_RETAIN = 5 (with ProducerAppendInfo.checkSequence); clients
    RecordAccumulator.shouldStopDrainBatchesForPartition
    """
    config = from_mapping(
        {"mode": "idempotent", "nemesis": "drop-acks", "workload.arrivals": "open"}
    )
    for seed in range(4):
        results = run(config, seed).results
        assert "duplicate" not in results["anomaly_types"], (
            seed,
            results["anomalies"].get("duplicate"),
        )
        assert results["stats"]["deduplicated"] > 0  # the faults did force retries


def test_a_connection_does_not_survive_its_broker_restarting() -> None:
    """A request sent to a crashed broker is lost with it; once the broker is back, a later
    request on the same connection must not be processed ahead of the lost one (TCP delivers a
    connection's bytes in order or not at all). The restarted process never accepted that
    connection, so its stack answers with a reset: the client disconnects, every request in
    flight on the connection fails as disconnected (outcome unknown, retried), and the next
    request opens a new connection to the new process.

    Kafka: clients/src/main/java/org/apache/kafka/clients/NetworkClient.java,
    processDisconnection -> cancelInFlightRequests (a reset closes the channel as a timeout does)
    """
    world, client = cluster()
    broker = world.net.nodes["b0"]
    handled: list[str] = []
    original = broker.on_request

    def counting(msg: Message) -> None:
        handled.append(msg.body["kind"])
        original(msg)

    broker.handlers["Api"] = counting
    seen: dict[str, Any] = {}
    client.call("b0", "Api", {"kind": "first"}, 5.0, lambda r: seen.setdefault("first", r))
    world.env.run(until=0.1)  # answered: the connection is bound to this broker process
    broker.crash()
    client.call("b0", "Api", {"kind": "lost"}, 5.0, lambda r: seen.setdefault("lost", r))
    world.env.run(until=0.2)  # reached a dead broker: gone
    broker.alive = True  # the broker process restarts (a new incarnation)
    client.call("b0", "Api", {"kind": "after"}, 5.0, lambda r: seen.setdefault("after", r))
    world.env.run(until=0.5)
    assert handled == ["first"], "a request on the old connection was processed by the new process"
    assert seen["lost"].get("disconnected") and seen["after"].get("disconnected")
    client.call("b0", "Api", {"kind": "retry"}, 5.0, lambda r: seen.setdefault("retry", r))
    world.env.run(until=1.0)
    assert handled == ["first", "retry"] and seen["retry"] == {"ok": "retry"}


def test_a_broker_restart_mid_flight_does_not_duplicate_an_idempotent_send() -> None:
    """Found by a swarm campaign (seed 1063 of idempotent + BUGGIFY, overlapping lanes): a
    producer's first batch to a partition went to its leader just as the leader's process was
    killed; after the restart the second batch, on the same connection, was appended first.
    The leader knew no state for the producer, so it took sequence 1; the retried sequence 0
    then met OutOfOrderSequence, the producer bumped its epoch and renumbered both batches, and
    the one already in the log was appended again. With connections bound to the process that
    accepted them the second batch is reset instead, and both are retried in order.

    Kafka: clients/src/main/java/org/apache/kafka/clients/NetworkClient.java,
    processDisconnection; clients TransactionManager.canRetry (OUT_OF_ORDER_SEQUENCE_NUMBER:
    idempotent epoch bump and startSequencesAtBeginning)
    """
    from faults.schedule import validate_schedule

    schedule = validate_schedule(
        [
            {
                "at": 1.161,
                "nemesis": "partition-ring",
                "duration": 1.584,
                "target": "brokers",
                "params": {},
            },
            {
                "at": 1.207,
                "nemesis": "kill-broker",
                "duration": 0.923,
                "target": "random-broker",
                "params": {},
            },
            {
                "at": 3.295,
                "nemesis": "partition-ring",
                "duration": 1.592,
                "target": "brokers",
                "params": {},
            },
            {
                "at": 5.826,
                "nemesis": "crash-producer",
                "duration": 0.515,
                "target": "producers",
                "params": {},
            },
            {
                "at": 5.956,
                "nemesis": "partition-one-way",
                "duration": 1.362,
                "target": "random-broker",
                "params": {},
            },
            {
                "at": 6.859,
                "nemesis": "kill-coordinator",
                "duration": 0.595,
                "target": "coordinator",
                "params": {},
            },
            {
                "at": 7.603,
                "nemesis": "partition-ring",
                "duration": 1.59,
                "target": "brokers",
                "params": {},
            },
            {
                "at": 7.929,
                "nemesis": "partition-one-way",
                "duration": 1.069,
                "target": "random-broker",
                "params": {},
            },
        ]
    )
    config = from_mapping({"mode": "idempotent", "sim.buggify": True})
    results = run(config, 1063, schedule).results
    assert results["valid"] is True, results["forbidden"]


def test_a_producer_request_is_never_duplicated_or_reordered_on_its_connection() -> None:
    """TCP delivers a connection's bytes once and in order, so the duplicate and reorder
    nemeses cannot touch a producer's requests (they still touch other traffic). Found by a
    guided search's false positive on a correct configuration: a request overtook its
    predecessor on one connection, met OutOfOrderSequence, and the epoch bump that followed
    appended its value twice.

    Kafka: clients/src/main/java/org/apache/kafka/clients/NetworkClient.java, one connection
    per broker with requests written in order (TCP below it neither duplicates nor reorders)
    """
    from faults.schedule import validate_schedule
    from sim.cluster.trace import MessageTrace
    from sim.runs.runner import simulate

    schedule = validate_schedule(
        [
            {"at": 0.5, "nemesis": "duplicate", "duration": 2.0, "target": "b0",
             "params": {"p": 1.0}},
            {"at": 0.5, "nemesis": "reorder", "duration": 2.0, "target": "b0",
             "params": {"p": 1.0}},
        ]
    )  # fmt: skip
    trace = MessageTrace()
    world, _, _ = simulate(
        from_mapping({"mode": "idempotent", "time-limit": 3.0}), 0, schedule, trace=trace
    )
    produce = [m for m in trace.messages if m.api == "Produce" and not m.response and m.dst == "b0"]
    assert produce, "no produce request reached b0"
    assert not [m for m in produce if m.duplicate or m.reordered]
    others = [m for m in trace.messages if m.duplicate and m.api == "Fetch"]
    assert others, "the nemeses stopped touching other traffic"
