"""``stalled``: a partition held by a hanging transaction is flagged; one whose transaction is
simply still running when the run stops is not (read_committed waits for it, as in Kafka)."""

from __future__ import annotations

from typing import Any

from sim.cluster.build import build_world
from sim.cluster.log import Record
from sim.cluster.txn import COMPLETE_COMMIT, ONGOING, TxnCoordinator, TxnMeta
from sim.cluster.world import World
from sim.config import Config
from sim.runs.liveness import stalled

PID = 999


def world_with_open_transaction() -> tuple[World, TxnCoordinator]:
    """A settled cluster whose k0 holds one open transactional record of producer PID."""
    world = build_world(Config(mode="transactional", workload="produce").validate(), 1)
    world.env.run(until=1.0)  # leaders elected, coordinators loaded
    leader = world.controller.leader_of("k0")
    assert leader is not None
    log = world.brokers[leader].logs["k0"]
    log.append(Record(0, 7, pid=PID, epoch=0, txn=True))
    log.hw = log.leo
    coordinator = next(c for c in world.txn_coordinators.values() if c.active)
    return world, coordinator


def flagged(world: World) -> list[dict[str, Any]]:
    return stalled(world).get("stalled", [])


def test_open_transaction_unknown_to_the_coordinator_is_hanging() -> None:
    world, _ = world_with_open_transaction()
    [witness] = flagged(world)
    assert witness["key"] == "k0" and witness["pid"] == PID
    assert "never ended" in witness["explanation"]


def test_transaction_still_running_at_the_end_is_not_stalled() -> None:
    world, coordinator = world_with_open_transaction()
    now = world.env.now
    coordinator.txns["t"] = TxnMeta("t", PID, 0, ONGOING, ["k0"], [], now - 0.5, 5.0)
    assert flagged(world) == []


def test_transaction_the_coordinator_ended_or_forgot_to_abort_is_hanging() -> None:
    world, coordinator = world_with_open_transaction()
    now = world.env.now
    # Ended without a marker on k0 (a lost marker, or KAFKA-17754's late write).
    coordinator.txns["t"] = TxnMeta("t", PID, 0, COMPLETE_COMMIT, ["k0"], [], now - 0.5, 5.0)
    assert [w["key"] for w in flagged(world)] == ["k0"]
    # Running, but without k0: the record came from an earlier transaction.
    coordinator.txns["t"] = TxnMeta("t", PID, 0, ONGOING, ["k1"], [], now - 0.5, 5.0)
    assert [w["key"] for w in flagged(world)] == ["k0"]
    # Running on k0 far past transaction.timeout.ms: the coordinator should have aborted it.
    coordinator.txns["t"] = TxnMeta("t", PID, 0, ONGOING, ["k0"], [], now - 60.0, 5.0)
    assert [w["key"] for w in flagged(world)] == ["k0"]
