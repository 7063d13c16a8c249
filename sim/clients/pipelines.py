"""Pipelines that read what others wrote: consume-transform-produce and an external sink.

consume-transform-produce is Kafka's exactly-once pattern: poll the input, write one output per
input record and commit the input offsets *in the same transaction*. The sink variant writes to a
simulated database outside Kafka, where exactly-once ends: a blind insert duplicates on
redelivery, an upsert keyed by input offset does not (an idempotent consumer).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, cast

from simpy import Event

from sim.clients.consumer import Consumer
from sim.clients.producer import Producer
from sim.clients.session import Session
from sim.clients.txn_producer import TxnProducer

if TYPE_CHECKING:
    from sim.clients.session import Driver

SINK_WRITE_TIME = 0.002


class ExternalSink:
    """A key-value database outside Kafka. ``blind`` inserts every write; ``idempotent`` upserts
    keyed by the input (partition, offset), so a redelivered record changes nothing."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.rows: list[tuple[str, int, int]] = []
        self.by_input: dict[tuple[str, int], int] = {}

    def write(self, in_key: str, offset: int, value: int) -> bool:
        if self.kind == "idempotent" and (in_key, offset) in self.by_input:
            return False
        self.by_input[(in_key, offset)] = value
        self.rows.append((in_key, offset, value))
        return True


def output_key(in_key: str) -> str:
    return "out" + in_key[2:]


class Pipelines:
    def __init__(self, workload: Driver) -> None:
        self.workload = workload
        self.world = workload.world
        self.env = workload.world.env
        self.cfg = workload.world.config
        self.sink = ExternalSink(str(self.cfg.external.get("sink", "blind")))

    def start_processor(self, slot: int | None = None) -> Session:
        wl = self.workload
        if slot is None:
            slot = self.world.next_id("processor-slot")
        name = wl.client_name()
        group = "ctp" if self.cfg.workload == "ctp" else "sink"
        consumer = Consumer(
            self.world,
            name,
            group,
            self.cfg.isolation,
        )
        self.world.net.add_node(consumer, "processor")
        session = Session(wl, "processor", consumer)
        session.slot = slot  # type: ignore[attr-defined]
        wl.sessions.append(session)
        if self.cfg.workload == "ctp" and self.cfg.transactional:
            txn_id = f"ctp-{slot}"
            if self.cfg.external.get("client.new-txn-id-on-restart"):
                txn_id = f"ctp-{slot}-{self.world.next_id('ctp-txn-id')}"
            producer: Producer = TxnProducer(self.world, name + "p", txn_id)
            self.world.net.add_node(producer, "processor")
            session.producer = producer  # type: ignore[attr-defined]
            self.env.process(self._ctp_main(session, consumer, producer))  # type: ignore[arg-type]
        elif self.cfg.workload == "ctp":
            producer = Producer(self.world, name + "p")
            self.world.net.add_node(producer, "processor")
            session.producer = producer  # type: ignore[attr-defined]
            self.env.process(self._ctp_plain_main(session, consumer, producer))
        else:
            self.env.process(self._sink_main(session, consumer))
        return session

    def transform(
        self, batch: dict[str, list[list[int]]]
    ) -> tuple[list[list[Any]], list[list[Any]]]:
        """One output per input record: the send micro-ops and their lineage
        (input key, input offset, output key, output value) for the pipeline checkers."""
        sends: list[list[Any]] = []
        lineage: list[list[Any]] = []
        for in_key, records in sorted(batch.items()):
            out = output_key(in_key)
            for offset, _value in records:
                v = self.workload.next_value(out)
                sends.append(["send", out, v])
                lineage.append([in_key, offset, out, v])
        return sends, lineage

    # --- consume-transform-produce -------------------------------------------------------
    def _ctp_main(
        self, session: Session, consumer: Consumer, producer: TxnProducer
    ) -> Generator[Event, Any, None]:
        wl = self.workload
        process = session.new_process()
        ok = yield from producer.init_transactions()
        if not ok:
            return
        yield from self._subscribe_to_input(session, process, consumer)
        while session.alive and self.env.now < wl.end_at and not producer.fatal:
            yield from session.paused()
            batch = yield from consumer.poll()
            if not batch or not session.alive:
                continue
            outputs, lineage = self.transform(batch)
            micro: list[list[Any]] = [["poll", dict(sorted(batch.items()))], *outputs]
            offsets = dict(sorted(consumer.positions.items()))
            extra = {
                "txn_id": producer.txn_id(),
                "pid": producer.pid,
                "epoch": producer.epoch,
                "group": consumer.group,
                "lineage": lineage,
                "offsets": offsets,
            }
            session.invoke(process, "txn", micro, **extra)
            producer.begin()
            outs = sorted({m[1] for m in micro[1:]})
            yield from producer.add_partitions(outs)
            results = yield from producer.send_all([(m[1], m[2]) for m in micro[1:]])
            if self.cfg.external.get("client.offsets-via-auto-commit"):
                # A pitfall: offsets committed by the consumer, outside the transaction, at
                # the next poll's auto-commit; output and input position no longer move together.
                self.env.process(consumer.commit(offsets))
            elif self.cfg.external.get("client.send-offsets-without-generation"):
                # Before KIP-447: offsets carry the group id only, so a zombie is not fenced.
                yield from producer.send_offsets(offsets, consumer.group or "", -1, None)
            else:
                yield from producer.send_offsets(
                    offsets, consumer.group or "", consumer.generation, consumer.member
                )
            think = float(self.cfg.external.get("workload.txn-think-ms", 0.0)) / 1000.0
            if think:
                yield self.env.timeout(think)  # processing time inside the transaction
            outcome = yield from producer.end(commit=True)
            value = [micro[0]] + [
                ["send", m[1], [offset, m[2]]]
                for m, (_, offset) in zip(micro[1:], results, strict=True)
            ]
            session.complete(process, outcome, value, **extra)
            if outcome != "ok":
                # Abort: rewind to the committed offsets, as a Kafka Streams task does.
                yield from consumer.fetch_committed(consumer.assignment)

    def _ctp_plain_main(
        self, session: Session, consumer: Consumer, producer: Producer
    ) -> Generator[Event, Any, None]:
        """The same pipeline without transactions: produce the outputs, then commit the input
        offsets. A crash between the two redelivers the inputs to a new producer session."""
        wl = self.workload
        process = session.new_process()
        yield producer.init()
        yield from self._subscribe_to_input(session, process, consumer)
        last_commit = self.env.now
        while session.alive and self.env.now < wl.end_at:
            yield from session.paused()
            batch = yield from consumer.poll()
            if not batch or not session.alive:
                continue
            micro, lineage = self.transform(batch)
            offsets = dict(sorted(consumer.positions.items()))
            extra = {"group": consumer.group, "lineage": lineage, "pid": producer.pid}
            session.invoke(process, "send", micro, **extra)
            events = []
            for _, key, value in micro:
                done = producer.send_event(key, value)
                events.append(done)
            yield self.env.all_of(events)
            results = [cast(tuple[str, int | None], e.value) for e in events]
            types = {t for t, _ in results}
            outcome = "ok" if types == {"ok"} else ("fail" if types == {"fail"} else "info")
            value = [["send", k, [o, v]] for (_, k, v), (_, o) in zip(micro, results, strict=True)]
            session.complete(process, outcome, value, **extra)
            yield from session.paused()
            if not session.alive:
                return
            # Commit every commit interval (Kafka Streams' commit.interval.ms in at-least-once
            # mode): a crash in between redelivers inputs whose outputs were already written.
            if self.env.now - last_commit >= self.cfg.auto_commit_interval_ms / 1000.0:
                last_commit = self.env.now
                session.invoke(process, "commit-offsets", offsets, group=consumer.group)
                committed = yield from consumer.commit(offsets)
                session.complete(process, committed, offsets, group=consumer.group)

    # --- external sink -------------------------------------------------------------------
    def _subscribe_to_input(
        self, session: Session, process: int, consumer: Consumer
    ) -> Generator[Event, Any, None]:
        """A processor subscribes to the input topic, recorded as a ``subscribe`` op."""
        yield from consumer.refresh_metadata()
        keys = self.world.topics["in"]
        session.invoke(process, "subscribe", list(keys), group=consumer.group)
        yield from consumer.subscribe(keys)
        session.complete(process, "ok", list(keys), group=consumer.group)

    def _sink_main(self, session: Session, consumer: Consumer) -> Generator[Event, Any, None]:
        wl = self.workload
        process = session.new_process()
        yield from self._subscribe_to_input(session, process, consumer)
        last_commit = self.env.now
        while session.alive and self.env.now < wl.end_at:
            yield from session.paused()
            batch = yield from wl.poll_op(session, process, consumer)
            for in_key, records in sorted(batch.items()):
                for offset, value in records:
                    op = {"key": "db", "input": [in_key, offset], "value": value}
                    session.invoke(process, "sink-write", op, sink=self.sink.kind)
                    yield self.env.timeout(SINK_WRITE_TIME)
                    yield from session.paused()
                    if not session.alive:
                        return
                    applied = self.sink.write(in_key, offset, value)
                    session.complete(process, "ok", op, sink=self.sink.kind, applied=applied)
            # Commit every auto.commit.interval.ms, as most sink connectors do: a crash
            # between commits redelivers what was already written to the sink.
            due = self.env.now - last_commit >= self.cfg.auto_commit_interval_ms / 1000.0
            if due and consumer.positions and not self.cfg.enable_auto_commit:
                last_commit = self.env.now
                offsets = dict(sorted(consumer.positions.items()))
                session.invoke(process, "commit-offsets", offsets, group=consumer.group)
                outcome = yield from consumer.commit(offsets)
                session.complete(process, outcome, offsets, group=consumer.group)
