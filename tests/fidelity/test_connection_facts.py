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
