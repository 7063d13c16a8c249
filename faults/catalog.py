"""Every nemesis: what it breaks, on whom, and how it heals.

Each is a ``@nemesis``-marked function taking (context, target node, params) and returning its
heal function. Effects go through the network's rules or the nodes' crash/restart, never by
editing broker state directly, so a fault does only what a real fault could do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from faults import partitions
from faults.registry import REGISTRY, Heal, nemesis
from faults.targets import resolve, validate_target
from sim.cluster.network import REQUEST_APIS, Message, Rule
from sim.config import did_you_mean
from sim.errors import UsageError


@dataclass
class FaultContext:
    world: Any
    workload: Any
    rng: Any
    notes: dict[str, Any] = field(default_factory=dict)  # what a fault decided, for the history

    @property
    def net(self) -> Any:
        return self.world.net

    def cluster_nodes(self) -> list[str]:
        return [*self.world.broker_names(), *self.world.controller_names()]

    def session(self, name: str) -> Any:
        return next((s for s in self.workload.sessions if s.name == name), None)


def _rule(ctx: FaultContext, rule: Rule) -> Heal:
    ctx.net.rules.append(rule)
    return lambda: ctx.net.rules.remove(rule) if rule in ctx.net.rules else None


def _brokers(ctx: FaultContext) -> set[str]:
    return set(ctx.world.broker_names())


# --- message faults ----------------------------------------------------------------------------
# What guided search may draw when it mutates a message fault's parameters (faults.mutate): a
# loss or duplication probability, a latency, and for lost acks which request's answers go.
ACK_APIS = (
    "Produce",
    "EndTxn",
    "TxnOffsetCommit",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "InitTxnProducerId",
    "OffsetCommit",
)


def _probability(rng: Any) -> float:
    return round(rng.uniform(0.1, 1.0), 3)


def _intensity(rng: Any) -> float:
    """--swarm's loss probability: a full outage half the time (the Two Generals cases need
    every answer gone), otherwise partial loss, under which one request of a pipeline is lost
    and the next lands (first-batch-oos-duplicate)."""
    return 1.0 if rng.random() < 0.5 else _probability(rng)


def _fit_acks(params: dict[str, Any], config: Any, rng: Any) -> dict[str, Any]:
    """Lost answers to a request type no producer of this run sends are redrawn from those one
    does (consumers' OffsetCommit answers never reach a producer target)."""
    sent = [a for a in ACK_APIS if a in requests_sent(config) and a != "OffsetCommit"]
    apis = [a for a in params.get("apis", ["Produce"]) if a in sent]
    return params if apis == params.get("apis") else {**params, "apis": apis or [rng.choice(sent)]}


@nemesis(
    "drop-acks",
    "responses from brokers to a client are lost: its writes land but it never hears (Two Generals)",
    "producers",
    search_params=lambda rng: {"p": _probability(rng), "apis": [rng.choice(ACK_APIS)]},
    swarm_params=lambda rng: {"p": _intensity(rng), "apis": [rng.choice(ACK_APIS)]},
    swarm_fit=_fit_acks,
)
def drop_acks(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    brokers = _brokers(ctx)
    apis = set(params.get("apis", ["Produce"]))
    nodes = _client_nodes(ctx, target)

    def match(m: Message) -> bool:
        return m.is_response and m.dst in nodes and m.src in brokers and m.api in apis

    return _rule(ctx, Rule("drop-acks", match, drop=float(params.get("p", 1.0))))


@nemesis(
    "drop-requests",
    "requests from a client to the brokers are lost",
    "producers",
    search_params=lambda rng: {"p": _probability(rng)},
    swarm_params=lambda rng: {"p": _intensity(rng)},
)
def drop_requests(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    brokers = _brokers(ctx)
    nodes = _client_nodes(ctx, target)
    return _rule(
        ctx,
        Rule(
            "drop-requests",
            lambda m: not m.is_response and m.src in nodes and m.dst in brokers,
            drop=float(params.get("p", 1.0)),
        ),
    )


@nemesis(
    "delay",
    "latency spike on every message to and from a node",
    "random-broker",
    swarm_params=lambda rng: {"delay": round(rng.uniform(0.02, 1.5), 3)},
)
def delay(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    d = float(params.get("delay", 0.3))
    return _rule(ctx, Rule("delay", lambda m: m.src == target or m.dst == target, delay=d))


# duplicate and reorder: TCP delivers every Kafka connection's messages once and in order, so no
# deployment sees these faults and a violation under them is not a Kafka bug; --swarm and guided
# search do not draw them. Named, they show what the protocol's own defences do without TCP's.
@nemesis(
    "duplicate",
    "messages to and from a node are delivered twice (never a producer request: TCP)",
    "random-broker",
    in_swarm_pool=False,
    search_params=lambda rng: {"p": _probability(rng)},
)
def duplicate(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    p = float(params.get("p", 0.5))
    return _rule(ctx, Rule("duplicate", lambda m: m.src == target or m.dst == target, duplicate=p))


@nemesis(
    "reorder",
    "messages to and from a node lose their FIFO order (never producer requests: TCP)",
    "random-broker",
    in_swarm_pool=False,
    search_params=lambda rng: {"p": _probability(rng)},
)
def reorder(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    p = float(params.get("p", 0.5))
    return _rule(ctx, Rule("reorder", lambda m: m.src == target or m.dst == target, reorder=p))


def _client_nodes(ctx: FaultContext, target: str) -> frozenset[str]:
    """The network nodes a target stands for: a client session is its consumer *and* its
    producer (a consume-transform-produce processor sends TxnOffsetCommit from the latter)."""
    nodes = {target}
    for session in ctx.workload.sessions if ctx.workload is not None else ():
        if session.name == target:
            producer = session.producer
            if producer is not None:
                nodes.add(producer.name)
    return frozenset(nodes)


# What --swarm may hold back with delay-request: the client requests whose late arrival the
# protocol must tolerate (a delayed EndTxn, produce or offset commit is the KAFKA-17754 family),
# and the coordinator's transaction markers (a commit held in PrepareCommit).
SWARM_REQUESTS = (
    "AddOffsetsToTxn",
    "AddPartitionsToTxn",
    "EndTxn",
    "InitProducerId",
    "InitTxnProducerId",
    "OffsetCommit",
    "Produce",
    "TxnOffsetCommit",
    "WriteTxnMarkers",
)


def requests_sent(config: Any) -> tuple[str, ...]:
    """The SWARM_REQUESTS a run of ``config`` sends (a test checks this against a traced run of
    every mode and workload): transactions and their markers in transactional mode (the sink
    workload writes its output idempotently), offsets in a transaction for ``ctp``, consumer
    offset commits wherever there are consumers outside a transaction."""
    txn = config.transactional and config.workload != "sink"
    sent = {"Produce"}
    if txn:
        sent |= {"AddPartitionsToTxn", "EndTxn", "InitTxnProducerId", "WriteTxnMarkers"}
    if txn and config.workload == "ctp":
        sent |= {"AddOffsetsToTxn", "TxnOffsetCommit", "InitProducerId"}  # its feeder: idempotent
    elif config.workload != "produce":
        sent.add("OffsetCommit")
    if config.mode == "idempotent" or (config.transactional and not txn):
        sent.add("InitProducerId")
    return tuple(a for a in SWARM_REQUESTS if a in sent)


def _fit_request(params: dict[str, Any], config: Any, rng: Any) -> dict[str, Any]:
    """A drawn request type this run never sends is redrawn from those it does (uniform over
    them either way), so a swarm's delay-request always has something to hold back."""
    sent = requests_sent(config)
    if params.get("api") in sent:
        return params
    return {**params, "api": sent[rng.randrange(len(sent))]}


# Requests only brokers send: aimed at a client target (swarm draws the target and the request
# type apart), delay-request holds them back from whichever broker sends them.
INTER_BROKER_REQUESTS = frozenset({"AlterPartition", "BrokerHeartbeat", "WriteTxnMarkers"})


def _check_delay_request(params: dict[str, Any]) -> None:
    api = params.get("api", "EndTxn")
    if api not in REQUEST_APIS:
        raise UsageError(
            f"delay-request: unknown request type {api!r}{did_you_mean(str(api), REQUEST_APIS)}"
            f" (one of: {', '.join(REQUEST_APIS)})"
        )
    delay = params.get("delay", 1.0)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay < 1e6:
        raise UsageError(
            f"delay-request: delay must be a non-negative number of seconds, got {delay!r}"
        )
    count = params.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError(f"delay-request: count must be a positive integer, got {count!r}")


@nemesis(
    "delay-request",
    "hold back one request type (any: EndTxn, Produce, TxnOffsetCommit, ...) from a node",
    "clients",
    check_params=_check_delay_request,
    swarm_params=lambda rng: {
        "api": rng.choice(SWARM_REQUESTS),
        "delay": round(rng.uniform(0.2, 2.5), 3),
        # log-uniform 1..100: a slow broker queue holds back every request of a type for a
        # while, not one or two, and the races need one of many to land at the wrong moment
        "count": max(1, round(10 ** rng.uniform(0.0, 2.0))),
    },
    swarm_fit=_fit_request,
)
def delay_request(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    api = str(params.get("api", "EndTxn"))
    d = float(params.get("delay", 1.0))
    count = int(params.get("count", 1))
    state = {"left": count}
    nodes = _client_nodes(ctx, target)
    anyone = target == "*" or (api in INTER_BROKER_REQUESTS and not nodes & _brokers(ctx))

    def match(m: Message) -> bool:
        if (
            m.is_response
            or m.api != api
            or (not anyone and m.src not in nodes)
            or state["left"] <= 0
        ):
            return False
        state["left"] -= 1
        return True

    # The held request is stuck on a connection the client abandons when it times out; its
    # retry goes out on a fresh connection and is not queued behind it.
    def landed(msg: Message, at: float) -> None:
        """Record in the history when the held request reaches its destination, so the
        timeline shows which later transaction it landed in."""
        value = {
            "phase": "landed",
            "api": msg.api,
            "from": msg.src,
            "to": msg.dst,
            "sent": round(ctx.world.env.now, 6),
        }
        ctx.world.env.timeout(max(0.0, at - ctx.world.env.now)).callbacks.append(
            lambda _ev: ctx.world.history.nemesis("delay-request", value)
        )

    return _rule(ctx, Rule("delay-request", match, delay=d, detach=True, notify=landed))


# --- partitions ----------------------------------------------------------------------------------
def _partition(ctx: FaultContext, edges: list[tuple[str, str]]) -> Heal:
    done = ctx.net.cut(edges)
    ctx.notes["components"] = ctx.net.components()
    return lambda: ctx.net.restore(done)


@nemesis(
    "partition-node",
    "isolate one broker from every other node (brokers, controller, clients)",
    "random-broker",
)
def partition_node(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    return _partition(ctx, partitions.isolate(sorted(ctx.net.nodes), target))


@nemesis(
    "partition-halves", "split brokers and controller into two halves that cannot talk", "brokers"
)
def partition_halves(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    edges, _ = partitions.halves(ctx.cluster_nodes(), ctx.rng)
    return _partition(ctx, edges)


@nemesis(
    "partition-ring",
    "majorities ring: every broker sees a majority, no two the same one",
    "brokers",
)
def partition_ring(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    return _partition(ctx, partitions.majorities_ring(ctx.cluster_nodes(), ctx.rng))


@nemesis("partition-bridge", "two halves joined only through one bridge node", "brokers")
def partition_bridge(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    edges, _ = partitions.bridge(ctx.cluster_nodes(), ctx.rng)
    return _partition(ctx, edges)


@nemesis(
    "partition-leader",
    "cut every client off from the leader of a partition (it stays in the cluster)",
    "leader-of:k0",
)
def partition_leader(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    clients = [s.name for s in ctx.workload.live_sessions()]
    return _partition(ctx, partitions.between(clients, [target]))


@nemesis(
    "partition-one-way",
    "a node can send but hears nothing back (inbound links cut)",
    "random-broker",
)
def partition_one_way(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    others = [n for n in sorted(ctx.net.nodes) if n != target]
    return _partition(ctx, partitions.between(others, [target], one_way=True))


@nemesis(
    "partition-controller",
    "cut a broker off from the controller only (it keeps serving clients); with a KRaft "
    "quorum, from every controller",
    "random-broker",
)
def partition_controller(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    return _partition(ctx, partitions.between(ctx.world.controller_names(), [target]))


QUORUM_HINT = "set controller.quorum.voters=3 (or 5)"


def _check_partition_controller_leader(params: dict[str, Any]) -> None:
    unknown = sorted(set(params) - {"with", "duration"})
    if unknown:
        raise UsageError(
            f"partition-controller-leader: unknown parameter {unknown[0]!r} (known: with)"
        )
    with_ = params.get("with")
    if with_ is not None:
        if not isinstance(with_, str):
            raise UsageError(
                f"partition-controller-leader: with must be a target such as leader-of:k0, got {with_!r}"
            )
        try:
            validate_target(with_)
        except UsageError as exc:
            raise UsageError(f"partition-controller-leader: with: {exc}") from None


@nemesis(
    "partition-controller-leader",
    "isolate the active KRaft controller from the other voters and every broker (params: "
    "with=ROLE keeps that broker on its side, e.g. with=leader-of:k0); needs "
    "controller.quorum.voters >= 3",
    "controller-leader",
    check_params=_check_partition_controller_leader,
    # half the time a broker stays on the deposed controller's side: it leads some partition,
    # and a deposed partition leader that still reaches its old controller is the one cut
    # that lets an answer given before the quorum committed it reach clients
    swarm_params=lambda rng: {"with": "random-broker"} if rng.random() < 0.5 else {},
    needs_quorum=True,
)
def partition_controller_leader(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    """The quorum leader and (``with``) one broker on one side, every other voter and broker
    on the other; clients reach both sides, so a deposed partition leader keeps serving."""
    side = [target]
    if params.get("with"):
        side += [
            n
            for n in resolve(ctx.world, ctx.workload, str(params["with"]), ctx.rng)
            if n in ctx.world.brokers
        ][:1]
        ctx.notes["with"] = side[1:]
    others = [n for n in ctx.cluster_nodes() if n not in side]
    return _partition(ctx, partitions.between(side, others))


# --- crashes and pauses --------------------------------------------------------------------------
def _crash_client(ctx: FaultContext, target: str, role: str) -> Heal:
    session = ctx.session(target)
    if session is None or not session.alive:
        return lambda: None
    session.crash()
    wl = ctx.workload
    if session.role == "processor":
        slot = session.slot
        return lambda: wl.pipelines.start_processor(slot)
    if session.role == "consumer":
        return lambda: wl.start_consumer()
    txn_id = session.node.txn_id()
    return lambda: wl.start_producer(txn_id=txn_id) if ctx.world.env.now < wl.stop_at else None


@nemesis(
    "crash-producer",
    "kill a producer; it restarts as a new session with a new producer id",
    "producers",
)
def crash_producer(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    return _crash_client(ctx, target, "producer")


@nemesis(
    "crash-consumer",
    "kill a consumer; the group rebalances and it rejoins as a new member",
    "consumers",
)
def crash_consumer(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    return _crash_client(ctx, target, "consumer")


def _crash_broker(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    broker = ctx.world.brokers[target]
    if not broker.alive:
        return lambda: None
    broker.crash(lose_unflushed=bool(params.get("lose-unflushed", False)))
    return broker.restart


def _fit_lose_unflushed(params: dict[str, Any], config: Any, rng: Any) -> dict[str, Any]:
    """One broker losing its unflushed suffix is a crash Kafka promises to survive with acks=all
    and min.insync.replicas >= 2 (every acknowledged record is in another replica's memory) once
    a restarted broker cannot rejoin as its old self: the KRaft controller fences it first
    (BrokerRegistration: DuplicateBrokerRegistrationException while the old session lives).
    Overlapped with faults that leave that broker the last ISR member, Kafka before KIP-966
    re-elects it without what it lost: such runs name the known class unclean-shutdown-last-isr
    (sim.runs.known). The single-controller model has no registration check, so --swarm draws
    it only with a quorum."""
    if config.quorum_voters > 1 and config.acks == "all" and config.min_insync_replicas >= 2:
        return params if params.get("lose-unflushed") else {}
    return {k: v for k, v in params.items() if k != "lose-unflushed"}


@nemesis(
    "kill-broker",
    "crash a broker (leaders fail over); restart it later, optionally losing its unflushed suffix",
    "random-broker",
    swarm_params=lambda rng: {"lose-unflushed": rng.random() < 0.5},
    swarm_fit=_fit_lose_unflushed,
)
def kill_broker(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    return _crash_broker(ctx, target, params)


POWER_LOSS_PARAMS = ("torn-tail",)


def _check_power_loss(params: dict[str, Any]) -> None:
    unknown = sorted(set(params) - {*POWER_LOSS_PARAMS, "duration"})
    if unknown:
        raise UsageError(
            f"power-loss: unknown parameter {unknown[0]!r}"
            f"{did_you_mean(str(unknown[0]), POWER_LOSS_PARAMS)} (known: torn-tail)"
        )
    torn = params.get("torn-tail", 0.5)
    if isinstance(torn, bool) or not isinstance(torn, (int, float)) or not 0 <= torn <= 1:
        raise UsageError(f"power-loss: torn-tail must be a probability from 0 to 1, got {torn!r}")


@nemesis(
    "power-loss",
    "power fails on brokers at one instant: each loses what its disk lacked (unflushed page "
    "cache; a torn last write is truncated by recovery); they restart when it returns",
    "brokers",
    check_params=_check_power_loss,
    every_node=True,
    # Kafka acknowledges from memory, so losing power on every replica at once may lose acked
    # writes by design; only log.flush.interval.messages=1 (fsync every write before it counts)
    # promises to survive it, so only there does --swarm draw it.
    swarm_if=lambda config: config.log_flush_interval_messages == 1,
    swarm_targets=("random-broker", "majority-brokers", "brokers"),
)
def power_loss(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    """Every target broker goes down in the same simulated instant (the scheduler calls this
    for each before time moves). Kafka acknowledges from memory, so what survives is each
    broker's on-disk prefix (sim.cluster.storage); the history's start op records, per broker
    and partition, how many records went and whether recovery truncated a torn write."""
    broker = ctx.world.brokers[target]
    if not broker.alive:
        return lambda: None
    _check_power_loss(params)
    torn_tail = float(params.get("torn-tail", 0.5))
    lost = broker.lose_power(ctx.world.rng("nemesis/power-loss"), torn_tail)
    gone = {k: v["lost"] for k, v in lost.items() if v["lost"]}
    notes = ctx.notes.setdefault("lost", {})  # {} when every broker kept everything
    if gone:
        notes[target] = gone
    torn = sorted(k for k, v in lost.items() if v["torn"])
    if torn:
        ctx.notes.setdefault("torn", {})[target] = torn
    return broker.restart


def _check_kill_controller(params: dict[str, Any]) -> None:
    unknown = sorted(set(params) - {"duration"})
    if unknown:
        raise UsageError(f"kill-controller: unknown parameter {unknown[0]!r} (it takes none)")


@nemesis(
    "kill-controller",
    "crash the active KRaft controller (the quorum elects another); it restarts with its log "
    "later; needs controller.quorum.voters >= 3",
    "controller-leader",
    check_params=_check_kill_controller,
    needs_quorum=True,
)
def kill_controller(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    quorum = ctx.world.quorum
    voter = next((v for v in quorum.voters if v.name == target), None) if quorum else None
    if voter is None or not voter.alive:
        return lambda: None
    voter.crash()
    return voter.restart


@nemesis("kill-coordinator", "crash the broker hosting the transaction coordinator", "coordinator")
def kill_coordinator(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    return _crash_broker(ctx, target, params)


@nemesis(
    "kill-group-coordinator",
    "crash the broker hosting the consumer group coordinator",
    "group-coordinator",
)
def kill_group_coordinator(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    return _crash_broker(ctx, target, params)


@nemesis(
    "pause-client", "a GC pause: the client freezes, then wakes up as a possible zombie", "clients"
)
def pause_client(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    session = ctx.session(target)
    if session is None:
        return lambda: None
    until = ctx.world.env.now + float(params["duration"])
    session.paused_until = until
    session.node.paused_until = until
    return lambda: None


@nemesis(
    "start-zombie",
    "start a second producer with the same transactional.id while the first runs",
    "producers",
    needs_transactions=True,
)
def start_zombie(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    session = ctx.session(target)
    if session is None or not session.alive or session.role != "producer":
        return lambda: None
    ctx.workload.start_producer(txn_id=session.node.txn_id())
    return lambda: None


# --- clocks --------------------------------------------------------------------------------------
# Jepsen's clock nemesis (jepsen.nemesis.time): bump a node's clock by a delta, strobe it back and
# forth, and heal by resetting it to true time (NTP). The skew (a rate, as libfaketime gives
# Jepsen) is the third. Only timers Kafka runs on the wall clock notice (sim/cluster/clock.py).
def _number(name: str, params: dict[str, Any], key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{name}: {key} must be a number, got {value!r}")
    return float(value)


def _check_bump(params: dict[str, Any]) -> None:
    delta = _number("clock-bump", params, "delta", 10.0)
    if delta == 0 or abs(delta) > 1e6:
        raise UsageError(
            f"clock-bump: delta must be a non-zero number of seconds (+ forward, - back), got {delta!r}"
        )


def _check_strobe(params: dict[str, Any]) -> None:
    delta = _number("clock-strobe", params, "delta", 5.0)
    period = _number("clock-strobe", params, "period", 0.2)
    if delta == 0 or abs(delta) > 1e6:
        raise UsageError(f"clock-strobe: delta must be a non-zero number of seconds, got {delta!r}")
    if not 0.001 <= period <= 1e6:
        raise UsageError(f"clock-strobe: period must be at least 0.001 seconds, got {period!r}")


def _check_skew(params: dict[str, Any]) -> None:
    rate = _number("clock-skew", params, "rate", 2.0)
    if not 0.01 <= rate <= 100 or rate == 1.0:
        raise UsageError(
            f"clock-skew: rate must be between 0.01 and 100 and not 1 (e.g. 1.5 fast, 0.5 slow), got {rate!r}"
        )


def _clocks(ctx: FaultContext, target: str) -> list[Any]:
    """The clocks of the machine ``target`` names: a broker, the controller, or a client
    session (a processor's consumer and producer share its machine)."""
    node = ctx.world.brokers.get(target)
    if node is None and target == "controller":
        node = ctx.world.controller
    if node is not None:
        return [node.clock]
    session = ctx.session(target)
    if session is None:
        return []
    nodes = [session.node, session.producer]
    return [n.clock for n in nodes if n is not None and hasattr(n, "clock")]


def _reset_clocks(clocks: list[Any]) -> Heal:
    def heal() -> None:
        for clock in clocks:
            clock.reset()

    return heal


def _note_clock(ctx: FaultContext, clocks: list[Any]) -> None:
    if clocks:
        ctx.notes["clock_offset"] = round(clocks[0].offset, 6)
        ctx.notes["clock_rate"] = clocks[0].rate


@nemesis(
    "clock-bump",
    "jump a node's wall clock by delta seconds (params: delta, + forward / - back); healed by resetting it",
    "coordinator",
    check_params=_check_bump,
    swarm_params=lambda rng: {"delta": rng.choice((-1, 1)) * round(rng.uniform(0.5, 15.0), 3)},
)
def clock_bump(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    clocks = _clocks(ctx, target)
    for clock in clocks:
        clock.bump(_number("clock-bump", params, "delta", 10.0))
    _note_clock(ctx, clocks)
    return _reset_clocks(clocks)


@nemesis(
    "clock-strobe",
    "a node's wall clock jumps delta seconds ahead and back every period seconds (params: delta, period)",
    "random-broker",
    check_params=_check_strobe,
    swarm_params=lambda rng: {
        "delta": round(rng.uniform(0.5, 10.0), 3),
        "period": round(rng.uniform(0.05, 0.5), 3),
    },
)
def clock_strobe(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    clocks = _clocks(ctx, target)
    delta = _number("clock-strobe", params, "delta", 5.0)
    period = _number("clock-strobe", params, "period", 0.2)
    env = ctx.world.env
    state = {"on": True, "ahead": False}

    def flip(_ev: object = None) -> None:
        if not state["on"]:
            return
        step = -delta if state["ahead"] else delta
        state["ahead"] = not state["ahead"]
        for clock in clocks:
            clock.bump(step)
        env.timeout(period).callbacks.append(flip)

    flip()
    _note_clock(ctx, clocks)

    def heal() -> None:
        state["on"] = False
        for clock in clocks:
            clock.reset()

    return heal


@nemesis(
    "clock-skew",
    "a node's wall clock runs fast or slow (params: rate, e.g. 1.5 or 0.5); healed by resetting it",
    "random-broker",
    check_params=_check_skew,
    swarm_params=lambda rng: {"rate": rng.choice((0.25, 0.5, 0.8, 1.25, 2.0, 4.0))},
)
def clock_skew(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    clocks = _clocks(ctx, target)
    for clock in clocks:
        clock.set_rate(_number("clock-skew", params, "rate", 2.0))
    _note_clock(ctx, clocks)
    return _reset_clocks(clocks)


# --- membership and reassignment ----------------------------------------------------------------
# An operator's admin requests to the controller (AlterPartitionReassignments, ElectLeaders,
# broker registration and controlled shutdown): sim.cluster.reassign and sim.cluster.membership.
def _check_known(name: str, params: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - {*known, "duration"})
    if unknown:
        raise UsageError(
            f"{name}: unknown parameter {unknown[0]!r}{did_you_mean(str(unknown[0]), known)}"
            f" (known: {', '.join(known)})"
        )


def _check_partition(name: str, params: dict[str, Any], any_word: str) -> None:
    key = params.get("partition", any_word)
    if not isinstance(key, str) or not key:
        raise UsageError(f"{name}: partition must be a partition name or {any_word!r}, got {key!r}")


def _check_reassign(params: dict[str, Any]) -> None:
    _check_known("reassign", params, ("partition", "replicas"))
    _check_partition("reassign", params, "random")
    replicas = params.get("replicas")
    if replicas is not None and (
        not isinstance(replicas, list)
        or not replicas
        or not all(isinstance(r, str) and r[:1] == "b" and r[1:].isdigit() for r in replicas)
        or len(set(replicas)) != len(replicas)
    ):
        raise UsageError(
            f"reassign: replicas must be a list of distinct broker names (b0, b1, ...), got {replicas!r}"
        )


def _check_add_broker(params: dict[str, Any]) -> None:
    _check_known("add-broker", params, ("move",))
    move = params.get("move", 1)
    if isinstance(move, bool) or not isinstance(move, int) or not 0 <= move <= 1024:
        raise UsageError(
            f"add-broker: move must be a whole number of partitions >= 0, got {move!r}"
        )


def _check_decommission(params: dict[str, Any]) -> None:
    _check_known("decommission-broker", params, ("drain",))
    if not isinstance(params.get("drain", True), bool):
        raise UsageError(
            f"decommission-broker: drain must be true or false, got {params.get('drain')!r}"
        )


def _check_elect(params: dict[str, Any]) -> None:
    _check_known("elect-preferred", params, ("partition",))
    _check_partition("elect-preferred", params, "all")


def _record_completions(ctx: FaultContext) -> Any:
    """The controller's reassignment state, recording each completed move in the history."""
    from sim.cluster.reassign import reassignments

    state = reassignments(ctx.world.controller)
    if state.notify is None:
        history = ctx.world.history
        state.notify = lambda phase, value: history.nemesis("reassign", {"phase": phase, **value})
    return state


def _skip(ctx: FaultContext, reason: str) -> Heal:
    ctx.notes["skipped"] = reason
    return lambda: None


@nemesis(
    "reassign",
    "move one partition's replicas off a broker to a set drawn from the live brokers, replication "
    "factor kept (params: partition = name or random, replicas = explicit target list); "
    "new replicas catch up from offset 0, join the ISR, then the old ones are removed",
    "random-broker",
    check_params=_check_reassign,
    swarm_targets=("random-broker", "leader-of:k0"),
    admin=True,
)
def reassign(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    """``target`` is the broker the move takes a replica off (``leader-of:kN`` with
    ``partition=kN`` moves a partition away from its leader); the new set is drawn from the
    nemesis's own stream ``nemesis/reassign``."""
    from sim.cluster import membership

    _check_reassign(params)
    world = ctx.world
    c = world.controller
    state = _record_completions(ctx)
    rng = world.rng("nemesis/reassign")
    key = params.get("partition", "random")
    if key == "random":
        hosted = [k for k in world.data_keys if target in c.partitions[k].replicas]
        hosted = [k for k in hosted if k not in state.ongoing]
        if not hosted:
            return _skip(ctx, "no partition to move off this broker")
        key = hosted[rng.randrange(len(hosted))]
    if key not in c.partitions:
        return _skip(ctx, f"unknown partition {key}")
    ctx.notes["partition"] = key
    current = list(c.partitions[key].replicas)
    if "replicas" in params:
        new = list(params["replicas"])
    else:
        spare = [b for b in membership.active_brokers(world) if b != target]
        rf = (
            len(current) - len(state.ongoing[key].removing)
            if key in state.ongoing
            else len(current)
        )
        if len(spare) < rf:
            return _skip(
                ctx, "no spare broker: replication.factor brokers besides the target needed"
            )
        new = rng.sample(spare, rf)
    error = state.start(key, new)
    if error is not None:
        return _skip(ctx, error)
    ctx.notes["from"] = current
    ctx.notes["to"] = new
    return lambda: None


@nemesis(
    "add-broker",
    "a new broker joins and registers; move partitions (param move, default 1) from the target "
    "broker onto it by reassignment (Kafka moves nothing by itself)",
    "random-broker",
    check_params=_check_add_broker,
    admin=True,
)
def add_broker(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    from sim.cluster import membership

    _check_add_broker(params)
    world = ctx.world
    if len(world.brokers) >= 64:
        return _skip(ctx, "64 brokers already")
    state = _record_completions(ctx)
    rng = world.rng("nemesis/add-broker")
    name = membership.next_broker_name(world)
    membership.join(world, name)
    ctx.notes["added"] = name
    c = world.controller
    hosted = [
        k for k in world.data_keys if target in c.partitions[k].replicas and k not in state.ongoing
    ]
    moved: dict[str, list[str]] = {}
    for _ in range(min(int(params.get("move", 1)), len(hosted))):
        key = hosted.pop(rng.randrange(len(hosted)))
        new = membership.replace_in(world, key, target, name, rng)
        if new is not None and state.start(key, new) is None:
            moved[key] = new
    ctx.notes["moved"] = moved
    return lambda: None


@nemesis(
    "decommission-broker",
    "take a broker out for good: reassign its partitions away (param drain, default true), then a "
    "controlled shutdown (leaderships move) and unregistration, at the latest when the window ends",
    "random-broker",
    check_params=_check_decommission,
    in_swarm_pool=False,
    admin=True,
)
def decommission_broker(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    from sim.cluster import membership

    _check_decommission(params)
    world = ctx.world
    broker = world.brokers.get(target)
    if broker is None or not broker.alive:
        return _skip(ctx, "broker is down")
    if len(membership.active_brokers(world)) - 1 < max(1, world.config.min_insync_replicas):
        return _skip(ctx, "would leave fewer brokers than min.insync.replicas")
    _record_completions(ctx)
    history = world.history

    def gone(offline: list[str]) -> None:
        history.nemesis(
            "broker-shut-down",
            {"phase": "shut-down", "broker": target, "under_replicated": offline},
        )

    if params.get("drain", True):
        moves, finish = membership.decommission(
            world, target, world.rng("nemesis/decommission-broker"), gone
        )
        ctx.notes["moved"] = moves
        return finish
    membership.shut_down(world, target)
    return lambda: None


@nemesis(
    "elect-preferred",
    "preferred-leader election (ElectLeaders PREFERRED, as auto.leader.rebalance.enable runs it): "
    "each partition whose first replica is the target and in the ISR gets it back as leader "
    "(param partition = name or all)",
    "brokers",
    check_params=_check_elect,
    every_node=True,
    admin=True,
)
def elect_preferred(ctx: FaultContext, target: str, params: dict[str, Any]) -> Heal:
    _check_elect(params)
    c = ctx.world.controller
    key = params.get("partition", "all")
    keys = [*c.partitions] if key == "all" else [key] if key in c.partitions else []
    keys = [k for k in keys if c.partitions[k].replicas[0] == target]
    elected = ctx.notes.setdefault("elected", {})
    elected.update(c.elect_preferred(keys))
    return lambda: None


# --- listing and validation ----------------------------------------------------------------------
def names() -> list[str]:
    return sorted(REGISTRY)


def check_quorum(config: Any, kinds: list[str]) -> None:
    """A nemesis of the KRaft quorum model needs it switched on (one line, exit 2)."""
    if config.quorum_voters > 1:
        return
    for kind in kinds:
        spec = REGISTRY.get(kind)
        if spec is not None and spec.needs_quorum:
            raise UsageError(
                f"{kind} needs the KRaft controller quorum: {QUORUM_HINT} "
                "(controller.quorum.voters is 1, one always-healthy controller)"
            )


def validate_names(selected: tuple[str, ...] | list[str]) -> None:
    for name in selected:
        if name not in REGISTRY:
            raise UsageError(
                f"unknown nemesis {name!r}{did_you_mean(str(name), sorted(REGISTRY))}"
                " (see: eosim run --nemesis list)"
            )


def print_catalog(console: Console) -> None:
    table = Table(title="nemeses (--nemesis a,b,...)")
    table.add_column("nemesis")
    table.add_column("default target")
    table.add_column("what it does")
    for name in names():
        spec = REGISTRY[name]
        table.add_row(name, spec.default_target, spec.description)
    console.print(table)
