"""--swarm covers the whole fault space: every nemesis Kafka promises to survive is in the pool,
its parameters are drawn too, and whatever it draws is a valid schedule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from faults.registry import REGISTRY
from faults.schedule import plan, validate_schedule
from sim.config import Config, from_mapping

OUT_OF_POOL = {"power-loss", "decommission-broker"}  # named only: see the README


def pool_kinds(config: Config, seeds: range) -> set[str]:
    return {f["nemesis"] for s in seeds for f in plan(config, s)}


def test_the_pool_holds_every_kind_but_the_ones_kafka_does_not_promise_to_survive() -> None:
    assert {n for n, spec in REGISTRY.items() if not spec.in_swarm_pool} == OUT_OF_POOL


def test_quorum_kinds_are_drawn_only_with_a_quorum() -> None:
    single = pool_kinds(Config(mode="transactional", swarm=True), range(60))
    quorum = pool_kinds(
        from_mapping({"mode": "transactional", "swarm": True, "controller.quorum.voters": 3}),
        range(60),
    )
    assert not single & {"kill-controller", "partition-controller-leader"}
    assert quorum & {"kill-controller", "partition-controller-leader"}
    assert {"clock-bump", "clock-skew", "reassign", "delay-request"} <= single


def test_swarm_draws_parameters_for_delayed_requests_and_clock_jumps() -> None:
    config = Config(mode="transactional", swarm=True)
    faults = [f for s in range(80) for f in plan(config, s)]
    apis = {f["params"]["api"] for f in faults if f["nemesis"] == "delay-request"}
    deltas = [f["params"]["delta"] for f in faults if f["nemesis"] == "clock-bump"]
    assert {"EndTxn", "Produce"} <= apis and len(apis) >= 4
    assert any(d < 0 for d in deltas) and any(d > 0 for d in deltas)
    named = Config(mode="transactional", nemesis=("delay-request",))  # not swarm: defaults
    assert all(f["params"] == {} for s in range(5) for f in plan(named, s))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), mode=st.sampled_from(["idempotent", "transactional"]))
def test_whatever_swarm_draws_is_a_valid_schedule(seed: int, mode: str) -> None:
    config = Config(mode=mode, swarm=True)
    validate_schedule(plan(config, seed), config.time_limit)
