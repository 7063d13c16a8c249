"""Storage: what is on disk, and what a power loss leaves (sim.cluster.storage).

Kafka acknowledges acks=all once the ISR has the batch in memory; the on-disk prefix moves with
log.flush.interval.messages (inside UnifiedLog.append), log.flush.interval.ms run by the
"kafka-log-flusher" task every log.flush.scheduler.interval.ms (LogManager.flushDirtyLogs) and
the OS page-cache writeback; recovery truncates a torn write (LogSegment.recover).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from faults.registry import REGISTRY
from faults.schedule import plan, validate_schedule
from sim.cluster.log import PartitionLog, Record
from sim.cluster.storage import Disk, power_loss
from sim.config import Config, from_mapping
from sim.errors import UsageError
from sim.runs.runner import run, simulate
from tests.cli.test_bad_input import eosim, one_line_error


def fault(at: float, nemesis: str, duration: float, target: str, **params: object) -> dict:
    return {"at": at, "nemesis": nemesis, "duration": duration, "target": target, "params": params}


def write(log: PartitionLog, disk: Disk, n: int, now: float) -> None:
    log.append_batch([Record(0, i) for i in range(n)])
    disk.appended(log, now)


def test_flush_interval_messages_flushes_inside_the_append() -> None:
    """UnifiedLog.append (core/src/main/scala/kafka/log/UnifiedLog.scala): ``if
    (localLog.unflushedMessages >= config.flushInterval) flush(false)``, counted since the last
    flush (LocalLog.unflushedMessages = logEndOffset - recoveryPoint)."""
    disk = Disk(
        Config(log_flush_interval_messages=3, external={"os.dirty.expire.ms": 0}), frozenset()
    )
    log = PartitionLog("k0")
    write(log, disk, 1, 0.0)
    write(log, disk, 1, 0.1)
    assert log.on_disk == 0
    write(log, disk, 1, 0.2)  # the third unflushed message: fsynced before the append returns
    assert log.on_disk == 3
    write(log, disk, 5, 0.3)  # one append of five: the whole log end is flushed
    assert log.on_disk == 8


def test_defaults_never_flush_and_the_page_cache_writes_back() -> None:
    """Kafka's defaults: flush.messages and flush.ms Long.MAX_VALUE, so only the OS makes data
    durable, after os.dirty.expire.ms (vm.dirty_expire_centisecs; 1000 ms scaled)."""
    config = Config()
    assert config.log_flush_interval_messages is None and config.log_flush_interval_ms is None
    assert config.dirty_expire_ms == 1000.0
    disk = Disk(config, frozenset())
    log = PartitionLog("k0")
    write(log, disk, 4, 0.0)
    write(log, disk, 2, 0.5)
    disk.tick([log], 0.95)
    assert log.on_disk == 0
    disk.tick([log], 1.0)
    assert log.on_disk == 4  # the first write expired, the second is still dirty
    disk.tick([log], 1.5)
    assert log.on_disk == 6
    off = Disk(Config(external={"os.dirty.expire.ms": 0}), frozenset())
    log2 = PartitionLog("k1")
    write(log2, off, 4, 0.0)
    off.tick([log2], 100.0)
    assert log2.on_disk == 0


def test_flush_interval_ms_needs_the_flush_scheduler() -> None:
    """LogManager.flushDirtyLogs runs every log.flush.scheduler.interval.ms (default
    Long.MAX_VALUE: never) and flushes logs not flushed for log.flush.interval.ms; unset,
    log.flush.interval.ms falls back to the scheduler interval (KafkaConfig.logFlushIntervalMs)."""
    quiet = {"os.dirty.expire.ms": 0}
    alone = Disk(Config(log_flush_interval_ms=100.0, external=quiet), frozenset())
    log = PartitionLog("k0")
    write(log, alone, 2, 0.0)
    for i in range(1, 40):
        alone.tick([log], i * 0.05)
    assert log.on_disk == 0, "no scheduler, no time-based flush"
    timed = Disk(
        Config(log_flush_interval_ms=300.0, log_flush_scheduler_interval_ms=100.0, external=quiet),
        frozenset(),
    )
    log = PartitionLog("k0")
    write(log, timed, 2, 0.0)
    timed.tick([log], 0.2)
    assert log.on_disk == 0  # last flush 0.0, not yet 300 ms ago
    timed.tick([log], 0.3)
    assert log.on_disk == 2
    fallback = Disk(
        Config(log_flush_scheduler_interval_ms=100.0, external=quiet), frozenset()
    )  # flush.ms unset: the scheduler interval
    log = PartitionLog("k0")
    write(log, fallback, 2, 0.0)
    fallback.tick([log], 0.1)
    assert log.on_disk == 2


def test_power_loss_truncates_to_the_on_disk_prefix_and_truncation_moves_it_back() -> None:
    disk = Disk(Config(external={"os.dirty.expire.ms": 0}), frozenset())
    log = PartitionLog("k0")
    write(log, disk, 3, 0.0)
    disk.flush(log, 0.0)
    write(log, disk, 4, 0.1)
    assert power_loss(log, random.Random(0), 0.0) == {"lost": 4, "torn": 0}
    assert log.leo == 3 and log.on_disk == 3 and not log.dirty
    log.truncate_to(1)  # a follower truncating to its leader: the recovery point follows
    assert log.on_disk == 1


def test_torn_tail_keeps_whole_writes_and_recovery_truncates_the_torn_one() -> None:
    """LogSegment.recover (storage/.../log/LogSegment.java) checks every batch from the recovery
    point (batch.ensureValid: size, CRC) and truncates at the first invalid one, so the writes
    that reached the disk whole survive and the torn one goes (LogLoader.recoverLog)."""
    kept = set()
    for seed in range(40):
        disk = Disk(Config(external={"os.dirty.expire.ms": 0}), frozenset())
        log = PartitionLog("k0")
        write(log, disk, 2, 0.0)
        disk.flush(log, 0.0)
        for t in (0.1, 0.2, 0.3):
            write(log, disk, 3, t)  # dirty writes ending at 5, 8, 11
        out = power_loss(log, random.Random(seed), 1.0)
        assert out["torn"] == 1
        assert log.leo in (2, 5, 8), "a write is kept whole or not at all; the last is torn"
        assert out["lost"] == 11 - log.leo
        kept.add(log.leo)
    assert kept == {2, 5, 8}


def test_a_clean_kill_broker_keeps_the_page_cache() -> None:
    """kill-broker without lose-unflushed is a process crash: nothing is lost."""
    config = Config(mode="idempotent", time_limit=4.0, convergence=2.0)
    world, _, _ = simulate(config, 1, [fault(1.5, "kill-broker", 0.4, "b0")])
    ops = [op for op in world.history.ops if op["process"] == "nemesis"]
    assert ops and "lost" not in ops[0]["value"]


def test_power_loss_on_every_broker_records_what_each_lost_in_the_history() -> None:
    config = Config(mode="idempotent", time_limit=5.0, convergence=2.0)
    outcome = run(config, 1, [fault(2.0, "power-loss", 1.0, "brokers", **{"torn-tail": 1.0})])
    start = next(op for op in outcome.ops if op["process"] == "nemesis")["value"]
    assert start["target"] == ["b0", "b1", "b2"]
    assert set(start["lost"]) == {"b0", "b1", "b2"}
    assert start["torn"], "torn-tail=1: every broker with dirty writes had a torn one"
    stop = [op for op in outcome.ops if op["process"] == "nemesis"][-1]["value"]
    assert stop["phase"] == "stop"


def test_a_broker_that_lost_data_waits_for_its_old_session_to_expire() -> None:
    """ClusterControlManager.registerBroker (metadata/.../controller/ClusterControlManager.java)
    refuses a new incarnation while the old one's session is valid, so a leader that lost its
    tail cannot take its leadership back before fencing has moved it."""
    config = Config(mode="idempotent", time_limit=5.0, convergence=2.0)
    world, _, _ = simulate(config, 3, [fault(2.0, "power-loss", 0.2, "leader-of:k0")])
    ops = [op for op in world.history.ops if op["process"] == "nemesis"]
    victim = ops[0]["value"]["target"]
    # 0.2 s is shorter than broker.session.timeout.ms: without the rule the broker would have
    # resumed leading k0 at epoch 0; instead its session expired and k0 was re-elected
    assert world.controller.partitions["k0"].leader_epoch >= 1, "k0's leadership moved"
    assert not world.brokers[victim].registering


@pytest.mark.parametrize("seed", range(4))
def test_short_single_broker_power_loss_loses_no_acknowledged_write(seed: int) -> None:
    config = Config(mode="idempotent", time_limit=6.0, convergence=3.0)
    outcome = run(config, seed, [fault(2.0, "power-loss", 0.3, "leader-of:k0")])
    assert "lost-write" not in outcome.results["anomaly_types"]


def test_power_loss_is_listed_and_opt_in_for_the_swarm() -> None:
    spec = REGISTRY["power-loss"]
    assert spec.default_target == "brokers" and spec.every_node
    swarm = Config(mode="transactional", swarm=True)
    for seed in range(20):
        assert all(op["nemesis"] != "power-loss" for op in plan(swarm, seed))
    named = Config(mode="idempotent", swarm=True, nemesis=("power-loss", "kill-broker"))
    targets = {
        op["target"]
        for seed in range(30)
        for op in plan(named, seed)
        if op["nemesis"] == "power-loss"
    }
    assert targets == {"random-broker", "majority-brokers", "brokers"}


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"torn-tail": 2}, "torn-tail must be a probability"),
        ({"torn-tail": "yes"}, "torn-tail must be a probability"),
        ({"torn_tail": 0.5}, "did you mean 'torn-tail'"),
    ],
)
def test_power_loss_params_are_validated(params: dict, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        validate_schedule([fault(1.0, "power-loss", 1.0, "brokers", **params)])


@pytest.mark.parametrize(
    ("knob", "needle"),
    [
        ("log.flush.interval.messages=0", "log.flush.interval.messages must be at least 1"),
        ("log.flush.interval.messages=1.5", "log.flush.interval.messages expects a int"),
        ("log.flush.interval.ms=-1", "log.flush.interval.ms must be at least 0"),
        ("log.flush.scheduler.interval.ms=0", "log.flush.scheduler.interval.ms must be at least 1"),
        ("os.dirty.expire.ms=-5", "os.dirty.expire.ms must be between 0"),
        ("os.dirty.expire.ms=soon", "os.dirty.expire.ms expects a number"),
    ],
)
def test_flush_knobs_are_validated(knob: str, needle: str) -> None:
    name, value = knob.split("=")
    with pytest.raises(UsageError, match=needle):
        from_mapping({name: value}).validate()


def test_bad_flush_knob_and_power_loss_param_exit_2_on_one_line(tmp_path: Path) -> None:
    one_line_error(
        eosim("run", "--set", "log.flush.interval.messages=0"), "log.flush.interval.messages"
    )
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps([fault(1.0, "power-loss", 1.0, "brokers", **{"torn-tail": 7})]))
    one_line_error(eosim("run", "--faults", str(faults)), "torn-tail")


def test_default_config_file_is_unchanged() -> None:
    """Unset flush knobs stay out of config.toml, so existing stores read the same."""
    text = Config().to_toml()
    assert "flush" not in text and "os.dirty" not in text
