"""A hypothesis state machine over a live cluster: each rule advances simulated time, most inject a
fault that fires now. Cheap invariants on the brokers' state hold after every step; at teardown
the run finishes (quiet convergence window, final reads) and the checkers judge the history.

Promises checked (idempotent producer, acks=all, RF 3, min.insync 2):
- replicas in a leader's ISR hold the same records below its high watermark;
- no broker's log holds one value twice (idempotence dedups every retry of a session, and a
  restarted producer sends fresh values, so a second copy could only be a failed dedup);
- the high watermark never passes the log end;
- the finished history has no ``lost-write`` and no forbidden ``duplicate``, and breaks no promise.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from faults.schedule import install, validate_schedule
from sim.clients.workload import Workload
from sim.cluster.build import build_world
from sim.cluster.world import World
from sim.config import Config
from sim.runs.runner import close_pending, verdict

STEP = 0.4  # simulated seconds each rule advances the clock
STEPS = 8  # stateful_step_count
TIME_LIMIT = STEP * STEPS + 0.4  # every fault, started at the latest step, heals by then
CONFIG = Config(
    mode="idempotent",
    time_limit=TIME_LIMIT,
    convergence=2.0,
    rate=120.0,
    brokers=3,
    partitions=3,
    producers=2,
    consumers=1,
)
BROKERS = ("b0", "b1", "b2")
DURATIONS = st.sampled_from([0.2, 0.6, 1.2])  # 1.2 s > broker session timeout: leaders move

SETTINGS = settings(
    max_examples=15,
    stateful_step_count=STEPS,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
)


class ClusterMachine(RuleBasedStateMachine):
    config = CONFIG
    world: World
    workload: Workload

    def __init__(self) -> None:
        super().__init__()
        self.faults: list[dict[str, Any]] = []
        self.started = False

    # --- set-up ---------------------------------------------------------------------------
    @initialize(seed=st.integers(min_value=0, max_value=3))
    def build(self, seed: int) -> None:
        self.seed = seed
        self.world = build_world(self.config.validate(), seed)
        self.workload = Workload(self.world)
        self.world.workload = self.workload
        self.workload.start()
        self.started = True

    @property
    def now(self) -> float:
        return float(self.world.env.now)

    def advance(self, dt: float = STEP) -> None:
        self.world.env.run(until=round(self.now + dt, 6))

    def inject(self, nemesis: str, target: str, duration: float) -> None:
        """Start a fault now (``at`` is relative to install time) that heals by the time limit."""
        duration = round(min(duration, TIME_LIMIT - self.now - 0.01), 3)
        op = {"at": 0.0, "nemesis": nemesis, "duration": duration, "target": target, "params": {}}
        # the same contract a stored schedule meets, in absolute time
        validate_schedule([{**op, "at": self.now}], TIME_LIMIT, keys=self.config.keys)
        install(self.world, self.workload, [op])
        self.faults.append({**op, "at": self.now})
        self.advance()

    def can_inject(self) -> bool:
        return self.started and self.now + 0.15 < TIME_LIMIT

    # --- rules ----------------------------------------------------------------------------
    @rule()
    def send_more(self) -> None:
        self.advance()

    @precondition(lambda self: self.can_inject())
    @rule(duration=DURATIONS)
    def drop_acks(self, duration: float) -> None:
        self.inject("drop-acks", "producers", duration)

    @precondition(lambda self: self.can_inject())
    @rule(broker=st.sampled_from(BROKERS), duration=DURATIONS)
    def kill_broker(self, broker: str, duration: float) -> None:
        self.inject("kill-broker", broker, duration)

    @precondition(lambda self: self.can_inject())
    @rule(duration=DURATIONS)
    def partition_halves(self, duration: float) -> None:
        self.inject("partition-halves", "brokers", duration)

    @precondition(lambda self: self.can_inject())
    @rule(broker=st.sampled_from(BROKERS), duration=DURATIONS)
    def delay(self, broker: str, duration: float) -> None:
        self.inject("delay", broker, duration)

    @precondition(lambda self: self.can_inject())
    @rule(duration=DURATIONS)
    def crash_producer(self, duration: float) -> None:
        self.inject("crash-producer", "producers", duration)

    @rule()
    def heal(self) -> None:
        """Advance until every fault injected so far has healed (at least one step)."""
        last = max((f["at"] + f["duration"] for f in self.faults), default=0.0)
        self.advance(max(STEP, last - self.now + 0.01))

    # --- invariants on broker state (cheap, after every step) -------------------------------
    @invariant()
    def isr_replicas_agree_below_the_high_watermark(self) -> None:
        if not self.started:
            return
        brokers = self.world.brokers
        for name, broker in brokers.items():
            if not broker.alive:
                continue
            for key, st_ in broker.leading.items():
                log = broker.logs[key]
                assert 0 <= log.hw <= log.leo, (name, key, log.hw, log.leo)
                mine = [(r.value, r.control, r.pid, r.seq) for r in log.records[: log.hw]]
                for replica in st_.isr:
                    if replica == name or not brokers[replica].alive:
                        continue
                    theirs = brokers[replica].logs[key].records
                    n = min(log.hw, len(theirs))
                    other = [(r.value, r.control, r.pid, r.seq) for r in theirs[:n]]
                    assert mine[:n] == other, (
                        f"t={self.now}: {key} on ISR member {replica} differs from leader {name} "
                        f"below hw {log.hw}"
                    )

    @invariant()
    def no_value_twice_in_any_log(self) -> None:
        if not self.started:
            return
        for name, broker in self.world.brokers.items():
            for key in self.world.data_keys:
                seen: set[Any] = set()
                for r in broker.logs[key].records:
                    if r.control is not None:
                        continue
                    assert r.value not in seen, (
                        f"t={self.now}: value {r.value} twice in {name}'s log of {key}"
                    )
                    seen.add(r.value)

    # --- the full check ---------------------------------------------------------------------
    def teardown(self) -> None:
        if not self.started:
            return
        world, workload = self.world, self.workload
        env = world.env
        # the clock may already be past the time limit; the final reads start at end_at
        env.run(
            until=env.any_of([workload.final_done, env.timeout(workload.end_at + 30.0 - env.now)])
        )
        assert workload.final_done.triggered, "the final reads did not finish"
        close_pending(world)
        results = verdict(world, self.config, self.seed, world.history.digest())
        found = results["anomaly_types"]
        where = f"seed {self.seed}, faults {self.faults}"
        for name in ("lost-write", "duplicate"):
            if name in results["forbidden"] or name == "lost-write" and name in found:
                witness = results["anomalies"][name][0]
                raise AssertionError(f"{name}: {witness.get('explanation', witness)} ({where})")
        assert results["forbidden"] == [], f"forbidden {results['forbidden']} ({where})"
        assert results["valid"] is True, where
        assert results["stats"]["sends_ok"] > 0, where


def test_cluster_state_machine() -> None:
    run_state_machine_as_test(ClusterMachine, settings=SETTINGS)


def test_the_machine_really_injects_faults() -> None:
    """Guard against a vacuous machine: the invariants compare real replicated data, and a
    hand-driven sequence records every fault it injects in the history."""
    m = ClusterMachine()
    m.build(seed=1)
    m.send_more()
    leaders = [(b, k, st_) for b in m.world.brokers.values() for k, st_ in b.leading.items()]
    assert any(b.logs[k].hw > 0 and len(st_.isr) == 3 for b, k, st_ in leaders)
    m.drop_acks(0.6)
    m.kill_broker("b1", 1.2)
    m.partition_halves(0.2)
    m.crash_producer(0.2)
    m.delay("b0", 0.2)
    m.heal()
    assert m.now >= max(f["at"] + f["duration"] for f in m.faults)
    m.isr_replicas_agree_below_the_high_watermark()
    m.no_value_twice_in_any_log()
    m.teardown()
    starts = [
        o["f"]
        for o in m.world.history.ops
        if o["process"] == "nemesis" and o["value"].get("phase") == "start"
    ]
    assert starts == ["drop-acks", "kill-broker", "partition-halves", "crash-producer", "delay"]
    assert all(f["at"] + f["duration"] <= TIME_LIMIT for f in m.faults)


def drive(machine: ClusterMachine, seed: int, script: list[tuple[Any, ...]]) -> None:
    """Play rules by hand as hypothesis would: invariants after every step, then teardown."""
    machine.build(seed=seed)
    for name, *args in script:
        getattr(machine, name)(*args)
        machine.isr_replicas_agree_below_the_high_watermark()
        machine.no_value_twice_in_any_log()
    machine.teardown()


@pytest.mark.parametrize(
    ("bug", "script", "caught_by"),
    [
        (
            "no-dedup",
            [("send_more",), ("drop_acks", 1.2), ("kill_broker", "b1", 1.2), ("heal",)],
            r"twice in|^duplicate: ",
        ),
        (
            "dedup-not-replicated",
            [("send_more",), ("drop_acks", 1.2), ("kill_broker", "b2", 1.2), ("heal",)],
            r"twice in|^duplicate: ",
        ),
        (
            "unclean-truncation",
            [("heal",), ("partition_halves", 1.2), ("heal",), ("heal",)],
            r"differs from leader",
        ),
        (
            "ack-before-replication",
            [("send_more",), ("drop_acks", 1.2), ("partition_halves", 1.2), ("heal",)],
            r"^lost-write: ",
        ),
    ],
)
def test_the_machine_catches_known_bugs(
    bug: str, script: list[tuple[Any, ...]], caught_by: str
) -> None:
    """The same rules over a broken broker fail: the checks have teeth (fixed scripts, seed 0)."""

    class Broken(ClusterMachine):
        config = CONFIG.replace(bugs=(bug,))

    with pytest.raises(AssertionError, match=caught_by):
        drive(Broken(), 0, script)


def test_hypothesis_drives_the_machine_into_a_known_bug() -> None:
    """And the search finds one on its own: no dedup + lost acks shows up within a few examples."""

    class NoDedup(ClusterMachine):
        config = CONFIG.replace(bugs=("no-dedup",))

    fast = settings(SETTINGS, max_examples=30, phases=[Phase.generate])  # no shrinking: just fail
    with pytest.raises(AssertionError, match=r"twice in|^duplicate: "):
        run_state_machine_as_test(NoDedup, settings=fast)
