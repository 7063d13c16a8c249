"""Client sessions that drive the cluster and record every op in the history.

A *session* is one client instance (one producer id, one consumer member). It runs a few
single-threaded *processes* (Jepsen's word), each doing one op at a time. Crashing a session
completes its pending ops as ``info`` and retires its process numbers for good; a restarted
client is a new session with new numbers, as in Jepsen.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, cast

from simpy import Event

from sim.clients.consumer import Consumer
from sim.clients.pipelines import Pipelines
from sim.clients.producer import Producer
from sim.clients.session import Session
from sim.clients.txn_producer import TxnProducer

if TYPE_CHECKING:
    from sim.cluster.world import World

THREADS_PER_PRODUCER = 3
FINAL_READ_BUDGET = 10.0


class Workload:
    def __init__(self, world: World) -> None:
        self.world = world
        self.cfg = world.config
        self.env = world.env
        self.rng = world.rng("workload")
        self.values: dict[str, int] = {}
        self.sessions: list[Session] = []
        self.stop_at = self.cfg.time_limit
        self.end_at = self.cfg.time_limit + self.cfg.convergence
        self.group = "g"
        self.final_done = self.env.event()
        self.threads = int(self.cfg.external.get("workload.threads", THREADS_PER_PRODUCER))
        self.open_loop = self.cfg.external.get("workload.arrivals", "closed") == "open"
        self.sticky = self.cfg.external.get("workload.partitioner", "random") == "sticky"
        self.user: Any = None  # a user pipeline (sim.run_pipeline), set before start()

    # --- values --------------------------------------------------------------------------
    def next_value(self, key: str) -> int:
        """Values are unique per key for the whole run, so every copy is attributable."""
        v = self.values.get(key, 0)
        self.values[key] = v + 1
        return v

    # --- sessions ------------------------------------------------------------------------
    def start(self) -> None:
        for _ in range(self.cfg.producers):
            self.start_producer()
        if self.cfg.workload == "produce-consume":
            for _ in range(self.cfg.consumers):
                self.start_consumer()
        if self.cfg.workload in ("ctp", "sink"):
            self.pipelines = Pipelines(self)
            for _ in range(self.cfg.consumers):
                self.pipelines.start_processor()
        self.env.process(self._final_reads())

    def client_name(self) -> str:
        return f"c{self.world.next_id('client')}"

    def start_producer(self, txn_id: str | None = None) -> Session:
        """A producer session; in transactional mode it keeps the transactional.id of the
        session it replaces (unless ``client.new-txn-id-on-restart`` models the mistake)."""
        name = self.client_name()
        node: Producer
        if self.cfg.transactional and self.cfg.workload not in ("ctp", "sink"):
            if self.cfg.external.get("workload.shared-txn-id"):
                txn_id = self.cfg.transactional_id  # a pitfall: unrelated producers share one id
            elif txn_id is None or self.cfg.external.get("client.new-txn-id-on-restart"):
                txn_id = f"{self.cfg.transactional_id}-{self.world.next_id('txn-id')}"
            node = TxnProducer(self.world, name, txn_id)
        else:
            node = Producer(self.world, name)
        self.world.net.add_node(node, "producer")
        session = Session(self, "producer", node)
        self.sessions.append(session)
        if isinstance(node, TxnProducer):
            main = self._txn_producer_main
        elif self.open_loop:
            main = self._producer_open_loop
        else:
            main = self._producer_main
        self.env.process(main(session))
        return session

    def start_consumer(self) -> Session:
        node = Consumer(self.world, self.client_name(), self.group, self.cfg.isolation)
        self.world.net.add_node(node, "consumer")
        session = Session(self, "consumer", node)
        self.sessions.append(session)
        self.env.process(self._consumer_main(session))
        return session

    def live_sessions(self, role: str | None = None) -> list[Session]:
        return [s for s in self.sessions if s.alive and (role is None or s.role == role)]

    # --- producers -----------------------------------------------------------------------
    def _producer_main(self, session: Session) -> Generator[Event, Any, None]:
        producer: Producer = session.node
        yield producer.init()
        pick = self.partitioner()  # one per producer, shared by its threads, as in Kafka
        for _ in range(self.threads):
            self.env.process(self._producer_thread(session, session.new_process(), pick))

    def _producer_thread(
        self, session: Session, process: int, pick: Callable[[], str]
    ) -> Generator[Event, Any, None]:
        producer: Producer = session.node
        per_thread = self.cfg.rate / max(1, self.cfg.producers * self.threads)
        while session.alive and self.env.now < self.stop_at:
            yield self.env.timeout(self.rng.expovariate(per_thread))
            yield from session.paused()
            if not session.alive or self.env.now >= self.stop_at or producer.fatal:
                return
            key = pick()
            value = self.next_value(key)
            attempts = 1 + int(self.cfg.external.get("workload.resend-on-timeout", 0))
            for _ in range(attempts):
                extra = (
                    {"pid": producer.pid, "epoch": producer.epoch} if producer.idempotent else {}
                )
                session.invoke(process, "send", [["send", key, value]], **extra)
                done = producer.send_event(key, value)
                type_, offset = yield done
                session.complete(process, type_, [["send", key, [offset, value]]], **extra)
                # An application that catches TimeoutException and sends the record again
                # makes a new batch with new sequence numbers (KAFKA-18579): dedup cannot help.
                if type_ != "info" or not session.alive:
                    break

    def partitioner(self) -> Callable[[], str]:
        """Where each record goes. ``random``: a uniformly random partition per record.
        ``sticky``: Kafka's default for keyless records (KIP-480, KIP-794): stay on one partition
        until ``batch.size`` records went to it, then move to a random one, so batches fill up
        even when each producer sends only a few records per ``linger.ms``."""
        keys = self.world.topics.get("data") or self.world.topics["in"]
        rng = self.rng
        if not self.sticky:
            return lambda: keys[rng.randrange(len(keys))]
        batch = self.cfg.batch_size
        state: list[Any] = [None, 0]  # current partition, records sent to it

        def sticky() -> str:
            if state[0] is None or state[1] >= batch:
                state[0], state[1] = keys[rng.randrange(len(keys))], 0
            state[1] += 1
            return cast(str, state[0])

        return sticky

    def _producer_open_loop(self, session: Session) -> Generator[Event, Any, None]:
        """Open-loop arrivals, as kafka-producer-perf-test drives a producer: records arrive at
        the producer's share of ``rate`` whether or not earlier ones were acknowledged, so many
        are in flight and batches fill. Each in-flight send holds one process from a pool (a
        Jepsen process still has at most one op pending); a free process is reused, newest
        first. A callback, not a simpy process, carries each record: one event per arrival.
        ``workload.threads`` and ``workload.resend-on-timeout`` are closed-loop knobs and do not
        apply here."""
        producer: Producer = session.node
        yield producer.init()
        rate = self.cfg.rate / max(1, self.cfg.producers)
        pick = self.partitioner()
        free: list[int] = []
        env, rng, history, values = self.env, self.rng, self.world.history, self.values
        stop_at = self.stop_at
        send = producer.send
        ids_seen: list[Any] = [None, {}]  # (pid, epoch) and the extra fields naming it

        def arrive(_ev: object) -> None:
            now = env.now
            if not session.alive or now >= stop_at or producer.fatal:
                return
            if now < session.paused_until:  # a paused client produces nothing until it wakes
                env.timeout(session.paused_until - now).callbacks.append(arrive)
                return
            env.timeout(rng.expovariate(rate)).callbacks.append(arrive)
            key = pick()
            value = values.get(key, 0)  # as next_value: unique per key for the whole run
            values[key] = value + 1
            process = free.pop() if free else session.new_process()
            if producer.idempotent:
                ids = (producer.pid, producer.epoch)
                if ids != ids_seen[0]:  # one shared dict per (pid, epoch): the ops only read it
                    ids_seen[0], ids_seen[1] = ids, {"pid": ids[0], "epoch": ids[1]}
                extra = ids_seen[1]
            else:
                extra = {}
            history.invoke_with(process, "send", [["send", key, value]], extra)

            def done(type_: str, offset: int | None) -> None:
                if session.alive:  # a crash already completed the op as info
                    history.complete_with(process, type_, [["send", key, [offset, value]]], extra)
                    free.append(process)

            send(key, value, done)

        env.timeout(rng.expovariate(rate)).callbacks.append(arrive)

    @staticmethod
    def _init_op(
        session: Session, process: int, producer: TxnProducer
    ) -> Generator[Event, Any, bool]:
        """initTransactions, recorded as an ``init`` op with the producer id and epoch it got."""
        session.invoke(process, "init", {"txn_id": producer.txn_id()})
        ok = yield from producer.init_transactions()
        session.complete(
            process,
            "ok" if ok else "fail",
            {"txn_id": producer.txn_id(), "pid": producer.pid, "epoch": producer.epoch},
        )
        return bool(ok)

    def _txn_producer_main(self, session: Session) -> Generator[Event, Any, None]:
        """One single-threaded process per transactional producer, as in Kafka's client."""
        producer: TxnProducer = session.node
        process = session.new_process()
        ok = yield from self._init_op(session, process, producer)
        if not ok:
            return
        pick = self.partitioner()
        per_process = self.cfg.rate / max(1, self.cfg.producers * self.cfg.txn_ops)
        abort_p = float(self.cfg.external.get("workload.abort-probability", 0.1))
        while session.alive and self.env.now < self.stop_at:
            yield self.env.timeout(self.rng.expovariate(per_process))
            yield from session.paused()
            if not session.alive or self.env.now >= self.stop_at:
                return
            if producer.fatal:
                return  # fenced: the client must close (the fenced txn op says why)
            if producer.needs_reinit:  # fenced, or the last end unresolved: a new instance
                yield from self._init_op(session, process, producer)
                continue
            yield from self.txn_op(session, process, producer, pick, abort_p)

    def txn_op(
        self,
        session: Session,
        process: int,
        producer: TxnProducer,
        pick: Callable[[], str],
        abort_p: float,
    ) -> Generator[Event, Any, str]:
        picks = [pick() for _ in range(self.cfg.txn_ops)]
        values = [self.next_value(k) for k in picks]
        micro: list[list[Any]] = [["send", k, v] for k, v in zip(picks, values, strict=True)]
        abort = self.rng.random() < abort_p
        extra = {"txn_id": producer.txn_id(), "pid": producer.pid, "epoch": producer.epoch}
        session.invoke(process, "txn", micro, **extra)
        producer.begin()
        yield from producer.add_partitions(sorted(set(picks)))
        results = yield from producer.send_all(list(zip(picks, values, strict=True)))
        think = float(self.cfg.external.get("workload.txn-think-ms", 0.0)) / 1000.0
        if think:
            yield self.env.timeout(think)  # processing time inside the transaction
        outcome = yield from producer.end(commit=not abort)
        value = [["send", k, [off, v]] for (_, k, v), (_, off) in zip(micro, results, strict=True)]
        if abort and outcome == "fail":
            extra["aborted"] = True
        if outcome != "ok" and producer.txn_failed:
            extra["error"] = producer.txn_failed
        session.complete(process, outcome, value, **extra)
        return outcome

    # --- consumers -----------------------------------------------------------------------
    def _consumer_main(self, session: Session) -> Generator[Event, Any, None]:
        consumer: Consumer = session.node
        process = session.new_process()
        keys = self.world.topics.get("data") or self.world.topics["in"]
        yield from consumer.refresh_metadata()
        session.invoke(process, "subscribe", list(keys), group=self.group)
        yield from consumer.subscribe(keys)
        session.complete(process, "ok", list(keys), group=self.group)
        while session.alive and self.env.now < self.end_at:
            yield from session.paused()
            if not session.alive:
                return
            yield from self.poll_op(session, process, consumer)
            if not self.cfg.enable_auto_commit and consumer.positions:
                offsets = {k: v for k, v in sorted(consumer.positions.items())}
                session.invoke(process, "commit-offsets", offsets, group=self.group)
                # commitSync(): the positions with their leader epochs (Jepsen's client)
                outcome = yield from consumer.commit(offsets, consumer.consumed_epochs(offsets))
                session.complete(process, outcome, offsets, group=self.group)

    def poll_op(
        self, session: Session, process: int, consumer: Consumer
    ) -> Generator[Event, Any, dict[str, Any]]:
        extra: dict[str, Any] = {"isolation": consumer.isolation}
        if consumer.group is not None:
            extra["group"] = consumer.group
        session.invoke(process, "poll", [["poll"]], **extra)
        out = yield from consumer.poll()
        if consumer.rebalanced:
            extra["rebalance_log"] = sorted(consumer.rebalanced)
        session.complete(process, "ok", [["poll", dict(sorted(out.items()))]], **extra)
        return out

    # --- final reads ---------------------------------------------------------------------
    def _final_reads(self) -> Generator[Event, Any, None]:
        """After the convergence window, one fresh reader per key reads the whole log, so the
        checkers can tell lost writes from writes nobody had read yet."""
        yield self.env.timeout(self.end_at)
        keys = self.world.topics.get("data") or [k for ks in self.world.topics.values() for k in ks]
        readers = [self.env.process(self._final_reader(key)) for key in keys]
        deadline = self.env.timeout(FINAL_READ_BUDGET)
        yield self.env.any_of([self.env.all_of(readers), deadline])
        self.final_done.succeed()

    def _final_reader(self, key: str) -> Generator[Event, Any, None]:
        consumer = Consumer(self.world, self.client_name(), None, self.cfg.isolation)
        self.world.net.add_node(consumer, "reader")
        session = Session(self, "reader", consumer)
        self.sessions.append(session)
        process = session.new_process()
        yield from consumer.refresh_metadata()
        session.invoke(process, "assign", [key])
        yield from consumer.assign([key], {key: 0})
        session.complete(process, "ok", [key])
        while True:
            yield from self.poll_op(session, process, consumer)
            if self._caught_up(consumer, key):
                break

    def _caught_up(self, consumer: Consumer, key: str) -> bool:
        leader = self.world.controller.leader_of(key)
        if leader is None:
            return False
        log = self.world.brokers[leader].logs[key]
        end = log.lso if consumer.isolation == "read_committed" else log.hw
        return consumer.positions.get(key, 0) >= end
