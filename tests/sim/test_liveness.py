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


# --- producers that stop, transactions stuck in Prepare -------------------------------------
def producer_run(freeze_at: float | None) -> World:
    """A produce-only idempotent run; optionally one producer is made to fail every send from
    ``freeze_at`` on (as a client that went fatal would), with no fault in the schedule."""
    from faults.schedule import install
    from sim.clients.workload import Workload
    from sim.runs.runner import close_pending

    config = Config(mode="idempotent", workload="produce", time_limit=6.0, convergence=1.0)
    world = build_world(config.validate(), 3)
    workload = Workload(world)
    world.workload = workload
    workload.start()
    install(world, workload, [])
    if freeze_at is not None:
        world.env.run(until=freeze_at)
        workload.sessions[0].node.fatal = "invalid_producer_epoch"
    world.env.run(until=workload.final_done)
    close_pending(world)
    return world


def test_a_producer_that_stops_while_the_network_is_whole_is_stalled() -> None:
    """The livelock and the needlessly fatal client of the fidelity audit looked 'valid': a
    producer that keeps trying and gets nothing acknowledged is now a liveness failure."""
    world = producer_run(freeze_at=3.5)
    [witness] = [w for w in flagged(world) if "producer" in w]
    assert witness["producer"] == world.workload.sessions[0].name
    assert "got nothing acknowledged" in witness["explanation"]
    assert "fatal (invalid_producer_epoch)" in witness["explanation"]
    assert witness["ops"], "the witness points at the last acknowledged op"


def test_producers_that_keep_going_are_not_stalled() -> None:
    assert flagged(producer_run(freeze_at=None)) == []


def test_a_transaction_stuck_in_prepare_is_stalled_once_markers_had_time() -> None:
    from sim.cluster.txn import PREPARE_COMMIT

    world, coordinator = world_with_open_transaction()
    world.env.run(until=3.0)  # the network has been whole for longer than the markers need
    now = world.env.now
    meta = TxnMeta("t", PID, 0, PREPARE_COMMIT, ["k1"], [], now - 4.0, 5.0)
    coordinator.txns["t"] = meta
    meta.prepared_at = now - 0.5  # markers still on their way: fine
    assert not [w for w in flagged(world) if "txn_id" in w]
    meta.prepared_at = now - 3.0
    [witness] = [w for w in flagged(world) if "txn_id" in w]
    assert "PrepareCommit" in witness["explanation"] and witness["pid"] == PID
