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
from sim.clients.user import (
    RESTART_DELAY,
    Incident,
    ProcessorCrash,
    Record,
    StoreConflict,
    StoreHandle,
    StoreTimeout,
    UserRuntime,
)

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
        # a user pipeline (sim.run_pipeline): user callables replace the built-in transform/sink
        self.user = UserRuntime(self.world, workload.user) if workload.user is not None else None

    def app_epochs(self, consumer: Consumer, offsets: dict[str, int]) -> dict[str, int] | None:
        """The leader epochs a pipeline commits with its offsets. The offsets are the
        application's own (``new OffsetAndMetadata(offset)``), with no epoch, as Kafka's
        exactly-once example (ExactlyOnceMessageProcessor.getOffsetsToCommit), Kafka Streams
        (StreamTask.committableOffsetsAndMetadata) and Connect's sink tasks build them; with
        ``client.commit-leader-epoch`` the application adds the epoch of each partition's last
        record (``new OffsetAndMetadata(offset, record.leaderEpoch(), "")``), so a processor that
        resumes there validates it with the leader first (KIP-320)."""
        if not self.cfg.external.get("client.commit-leader-epoch"):
            return None
        return consumer.consumed_epochs(offsets)

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
        session.slot = slot
        wl.sessions.append(session)
        if self.user is not None and self.user.pipeline.sink is not None:
            producer_or_none: TxnProducer | None = None
            if self.user.pipeline.commit == "transactional":
                producer_or_none = TxnProducer(self.world, name + "p", f"sink-{slot}")
                self.world.net.add_node(producer_or_none, "processor")
                session.producer = producer_or_none
            self.env.process(self._user_sink_main(session, consumer, producer_or_none))
        elif self.cfg.workload == "ctp" and self.cfg.transactional:
            txn_id = f"ctp-{slot}"
            if self.cfg.external.get("client.new-txn-id-on-restart"):
                txn_id = f"ctp-{slot}-{self.world.next_id('ctp-txn-id')}"
            producer: Producer = TxnProducer(self.world, name + "p", txn_id)
            self.world.net.add_node(producer, "processor")
            session.producer = producer
            self.env.process(self._ctp_main(session, consumer, producer))  # type: ignore[arg-type]
        elif self.cfg.workload == "ctp":
            producer = Producer(self.world, name + "p")
            self.world.net.add_node(producer, "processor")
            session.producer = producer
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
            for offset, value in records:
                n = 1
                if self.user is not None:  # the user's transform decides how many outputs
                    n = len(self.user.transform(Record(in_key, offset, value)))
                    if not n:  # filtered out: processed, with no output to look for
                        lineage.append([in_key, offset, None, None])
                for i in range(n):
                    v = self.workload.next_value(out)
                    sends.append(["send", out, v])
                    lineage.append([in_key, offset, out, v] + ([i] if self.user else []))
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
            if not (yield from producer.reinit_if_pending()):
                continue
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
                self.env.process(consumer.commit(offsets, consumer.consumed_epochs(offsets)))
            elif self.cfg.external.get("client.send-offsets-without-generation"):
                # Before KIP-447: offsets carry the group id only, so a zombie is not fenced.
                yield from producer.send_offsets(
                    offsets, consumer.group or "", -1, None, self.app_epochs(consumer, offsets)
                )
            else:
                yield from producer.send_offsets(
                    offsets,
                    consumer.group or "",
                    consumer.generation,
                    consumer.member,
                    self.app_epochs(consumer, offsets),
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
            if self.user is not None:
                go = yield from self._user_after_txn(session, consumer, producer, outcome)
                if not go:
                    return
            elif outcome != "ok":
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
            if self.user is not None:
                go = yield from self._user_timeouts(
                    session, process, producer, micro, results, extra
                )
                if not go:
                    return
            yield from session.paused()
            if not session.alive:
                return
            if self.user is not None:
                go = yield from self._user_commit(session, process, consumer, offsets)
                if not go:
                    return
                continue
            # Commit every commit interval (Kafka Streams' commit.interval.ms in at-least-once
            # mode): a crash in between redelivers inputs whose outputs were already written.
            if self.env.now - last_commit >= self.cfg.auto_commit_interval_ms / 1000.0:
                last_commit = self.env.now
                session.invoke(process, "commit-offsets", offsets, group=consumer.group)
                committed = yield from consumer.commit(offsets, self.app_epochs(consumer, offsets))
                session.complete(process, committed, offsets, group=consumer.group)

    # --- user pipelines (sim.run_pipeline) ---------------------------------------------------
    def _restart(self, session: Session) -> None:
        """The processor closes and a new one takes its slot, as a task restart does."""
        session.crash()
        slot = session.slot
        wl = self.workload

        def again(_ev: object) -> None:
            if self.env.now < wl.end_at:
                self.start_processor(slot)

        self.env.timeout(RESTART_DELAY).callbacks.append(again)

    def _user_after_txn(
        self, session: Session, consumer: Consumer, producer: TxnProducer, outcome: str
    ) -> Generator[Event, Any, bool]:
        """After a transaction: the user's policy for ProducerFenced and abortable errors.
        False: this processor is done (restarted)."""
        assert self.user is not None
        if producer.fatal:
            decision = self.user.decide(Incident("fenced", str(producer.fatal)))
            if decision == "restart":
                self._restart(session)
                return False
            producer.fatal = None  # ignore: carry on regardless, every attempt rejected
            producer.ignore_fenced = True
            return True
        if outcome != "ok":
            err = str(producer.txn_failed or "transaction outcome " + outcome)
            decision = self.user.decide(Incident("abortable", err))
            if decision == "restart":
                self._restart(session)
                return False
            if decision == "abort":  # rewind to the committed offsets, as Kafka Streams does
                yield from consumer.fetch_committed(consumer.assignment)
        return True

    def _user_timeouts(
        self,
        session: Session,
        process: int,
        producer: Producer,
        micro: list[list[Any]],
        results: list[tuple[str, int | None]],
        extra: dict[str, Any],
    ) -> Generator[Event, Any, bool]:
        """The user's policy for sends whose outcome is unknown (timed out)."""
        assert self.user is not None
        lineage = {(e[2], e[3]): e for e in extra.get("lineage", [])}
        for (_, key, value), (type_, _off) in zip(micro, results, strict=True):
            if type_ != "info" or not session.alive:
                continue
            entry = lineage.get((key, value))
            err = f"send of {key} value {value} timed out"
            rec = Record(entry[0], entry[1], -1) if entry else None
            decision = self.user.decide(Incident("timeout", err, rec))
            if decision == "restart":
                self._restart(session)
                return False
            if decision == "resend":  # the same record again, as a new batch
                more = {**extra, "lineage": [entry] if entry else []}
                session.invoke(process, "send", [["send", key, value]], **more)
                type2, off2 = yield producer.send_event(key, value)
                session.complete(process, type2, [["send", key, [off2, value]]], **more)
        return True

    def _user_commit(
        self, session: Session, process: int, consumer: Consumer, offsets: dict[str, int]
    ) -> Generator[Event, Any, bool]:
        """commit="manual": commitSync after each batch, with the user's policy on failure;
        commit="auto": nothing here (the consumer commits at a later poll)."""
        assert self.user is not None
        if self.user.pipeline.commit != "manual" or not offsets:
            return True
        for attempt in (1, 2):
            session.invoke(process, "commit-offsets", offsets, group=consumer.group)
            outcome = yield from consumer.commit(offsets, self.app_epochs(consumer, offsets))
            session.complete(process, outcome, offsets, group=consumer.group)
            if outcome == "ok" or not session.alive:
                return session.alive
            decision = self.user.decide(
                Incident("commit-failed", f"offset commit {outcome}", None, attempt)
            )
            if decision == "restart":
                self._restart(session)
                return False
            if decision != "retry":
                return True
        return True

    def _seek_from_store(self, session: Session, consumer: Consumer, keys: list[str]) -> None:
        """On (re)assignment: start where the offsets kept in the sink say (Kafka Connect's
        SinkTask.open + context.offset), instead of the group's committed offsets."""
        assert self.user is not None
        handle = StoreHandle(self.user, session, -1, None, readonly=True)
        for key, pos in sorted(self.user.stored_offsets(handle, keys).items()):
            consumer.positions[key] = pos
            consumer.position_epochs.pop(key, None)

    def _user_sink_main(
        self, session: Session, consumer: Consumer, producer: TxnProducer | None
    ) -> Generator[Event, Any, None]:
        """A user pipeline with a sink: poll, run transform and sink per record (each store
        operation in the history), then commit the offsets as the pipeline chose."""
        rt = self.user
        assert rt is not None
        wl = self.workload
        process = session.new_process()
        if producer is not None:
            ok = yield from producer.init_transactions()
            if not ok:
                return
        if rt.pipeline.offsets is not None:
            consumer.on_assigned = lambda keys: self._seek_from_store(session, consumer, keys)
        yield from self._subscribe_to_input(session, process, consumer)
        while session.alive and self.env.now < wl.end_at:
            yield from session.paused()
            if not session.alive:
                return
            if producer is not None and not (yield from producer.reinit_if_pending()):
                continue
            batch = yield from wl.poll_op(session, process, consumer)
            if not batch or not session.alive:
                continue
            if producer is not None:
                producer.begin()
            for in_key, records in sorted(batch.items()):
                for offset, value in records:
                    record = Record(in_key, offset, value)
                    outputs = rt.transform(record)
                    handle = StoreHandle(rt, session, process, record)
                    try:
                        rt.sink(handle, record, outputs)
                    except ProcessorCrash:
                        self._restart(session)
                        return
                    except (StoreTimeout, StoreConflict) as exc:
                        err = f"{type(exc).__name__}: {exc}"
                        if rt.decide(Incident("sink-error", err, record)) == "restart":
                            self._restart(session)
                            return
                    if handle.delay:
                        yield self.env.timeout(handle.delay)
                    yield from session.paused()
                    if not session.alive:
                        return
            offsets = dict(sorted(consumer.positions.items()))
            if producer is None:
                go = yield from self._user_commit(session, process, consumer, offsets)
                if not go:
                    return
                continue
            # commit="transactional": the offsets commit in a Kafka transaction (the writes to
            # the external store are outside it: exactly-once ends at Kafka's edge)
            extra = {
                "group": consumer.group,
                "txn_id": producer.txn_id(),
                "pid": producer.pid,
                "epoch": producer.epoch,
            }
            session.invoke(process, "commit-offsets", offsets, **extra)
            sent = yield from producer.send_offsets(
                offsets,
                consumer.group or "",
                consumer.generation,
                consumer.member,
                self.app_epochs(consumer, offsets),
            )
            if sent:
                producer.txn_partitions.add("__consumer_offsets")
            outcome = yield from producer.end(commit=True)
            session.complete(process, outcome, offsets, **extra)
            go = yield from self._user_after_txn(session, consumer, producer, outcome)
            if not go:
                return

    def finish(self) -> None:
        """After the run: what the user's sink stored, as one ``sink-read`` op (the store's
        rows with the input each came from, the transform's output count per input read from
        the final log, and the offsets the sink keeps), so the checkers judge the user's code."""
        rt = self.user
        if rt is None or rt.pipeline.sink is None:
            return
        history = self.world.history
        seen: dict[tuple[str, int], int] = {}
        for op in history.ops:
            if op["f"] != "poll" or op["type"] != "ok":
                continue
            for mop in op["value"]:
                if mop[0] == "poll" and len(mop) > 1:
                    for key, pairs in mop[1].items():
                        if key.startswith("in"):
                            for off, value in pairs:
                                seen.setdefault((key, off), value)
        for (key, off), value in sorted(seen.items()):
            if (key, off) not in rt.expected:
                rt.transform(Record(key, off, value))
        body: dict[str, Any] = {"sink": rt.sink_name}
        process = self.world.next_id("process")
        history.invoke(process, "sink-read", body, sink=rt.sink_name)
        claims = None
        if rt.pipeline.offsets is not None:
            keys = self.world.topics["in"]
            handle = StoreHandle(rt, None, -1, None, readonly=True)
            claims = dict(sorted(rt.stored_offsets(handle, keys).items()))
        body = {
            "sink": rt.sink_name,
            "rows": rt.store.dump(),
            "expected": [[k, o, n] for (k, o), n in sorted(rt.expected.items())],
        }
        if claims is not None:
            body["offsets"] = claims
        history.complete(process, "ok", body, sink=rt.sink_name, final=True)

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
                outcome = yield from consumer.commit(offsets, self.app_epochs(consumer, offsets))
                session.complete(process, outcome, offsets, group=consumer.group)
