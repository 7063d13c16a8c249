"""Hand-built experiments that need finer control than a workload: the LSO effect of a long
transaction. Used by tests and by the lso-blocking scenario's lag plot."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from simpy import Event

from sim.clients.consumer import Consumer
from sim.clients.producer import Producer
from sim.clients.txn_producer import TxnProducer
from sim.cluster.build import build_world
from sim.config import Config


@dataclass
class LsoResult:
    hold: float
    delay: dict[str, float]  # isolation -> mean delay from ack to first read of a plain write
    max_delay: dict[str, float]  # isolation -> the longest such delay (about ``hold`` when blocked)
    lag: dict[str, list[tuple[float, int]]] = field(
        default_factory=dict
    )  # isolation -> (time, records behind)
    window: tuple[float, float] = (0.0, 0.0)


def lso_blocking(
    hold: float, seed: int = 0, key: str = "k0", duration: float | None = None
) -> LsoResult:
    """Open a transaction on ``key`` and keep it open ``hold`` seconds while a plain producer
    keeps writing to the same partition; measure how late two consumers (read_committed and
    read_uncommitted) see those plain writes."""
    config = Config(mode="transactional", transaction_timeout_ms=(hold + 10) * 1000.0).validate()
    world = build_world(config, seed)
    env = world.env
    acked: dict[int, float] = {}
    seen: dict[str, dict[int, float]] = {"read_committed": {}, "read_uncommitted": {}}
    lag: dict[str, list[tuple[float, int]]] = {"read_committed": [], "read_uncommitted": []}
    end = duration if duration is not None else hold + 3.0
    start_txn = 0.5
    window = (start_txn, start_txn + hold)

    def txn_holder() -> Generator[Event, Any, None]:
        producer = TxnProducer(world, "holder", "long-txn")
        world.net.add_node(producer, "producer")
        yield env.timeout(0.2)
        yield from producer.init_transactions()
        yield env.timeout(max(0.0, start_txn - env.now))
        producer.begin()
        yield from producer.add_partitions([key])
        yield env.process(producer.txn_send(key, -1))
        yield env.timeout(max(0.0, start_txn + hold - env.now))
        yield from producer.end(commit=True)

    def plain_writer() -> Generator[Event, Any, None]:
        producer = Producer(world, "writer")
        world.net.add_node(producer, "producer")
        yield producer.init()
        value = 0
        while env.now < end - 1.0:
            yield env.timeout(0.05)
            done = producer.send_event(key, value)
            outcome, _ = yield done
            if outcome == "ok":
                acked[value] = env.now
            value += 1

    def reader(isolation: str) -> Generator[Event, Any, None]:
        consumer = Consumer(world, f"reader-{isolation}", None, isolation)
        world.net.add_node(consumer, "consumer")
        yield from consumer.refresh_metadata()
        yield from consumer.assign([key], {key: 0})
        while env.now < end:
            got = yield from consumer.poll()
            for _offset, value in got.get(key, []):
                if value >= 0:
                    seen[isolation].setdefault(value, env.now)
            behind = sum(1 for v in acked if v not in seen[isolation])
            lag[isolation].append((round(env.now, 4), behind))

    for proc in (
        txn_holder(),
        plain_writer(),
        reader("read_committed"),
        reader("read_uncommitted"),
    ):
        env.process(proc)
    env.run(until=end)
    delay, max_delay = {}, {}
    for isolation, times in seen.items():
        during = [
            times[v] - t for v, t in acked.items() if v in times and window[0] <= t <= window[1]
        ]
        delay[isolation] = sum(during) / len(during) if during else float("nan")
        max_delay[isolation] = max(during) if during else float("nan")
    return LsoResult(hold, delay, max_delay, lag, window)
