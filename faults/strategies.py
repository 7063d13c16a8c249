"""Hypothesis strategies for configs, fault schedules and workloads.

Schedules drawn here respect the contract of ``faults.schedule``: every fault heals before the
time limit, so the convergence window stays quiet. Shrinking works on the list of faults: fewer
faults, earlier and shorter ones, simpler targets.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from faults import catalog  # noqa: F401  (registers the nemeses: REGISTRY is empty without it)
from faults.registry import REGISTRY
from sim.config import Config

SIMPLE_NEMESES = (
    "drop-acks",
    "drop-requests",
    "delay",
    "partition-node",
    "kill-broker",
    "crash-producer",
    "crash-consumer",
    "partition-halves",
)


MIN_TIME_LIMIT = 0.2  # room for one fault: starts by time_limit - 0.2, lasts >= 0.1 s


def _check_args(nemeses: tuple[str, ...], time_limit: float) -> None:
    """Fail at definition time with one clear line, not with a KeyError inside a draw."""
    unknown = sorted(set(nemeses) - set(REGISTRY))
    if unknown:
        raise ValueError(f"unknown nemesis {', '.join(unknown)} (see: eosim run --nemesis list)")
    if not nemeses:
        raise ValueError("nemeses must name at least one nemesis")
    if not time_limit >= MIN_TIME_LIMIT:
        raise ValueError(f"time_limit must be at least {MIN_TIME_LIMIT}s, got {time_limit}")


@st.composite
def fault_ops(
    draw: Any, nemeses: tuple[str, ...] = SIMPLE_NEMESES, time_limit: float = 6.0
) -> dict[str, Any]:
    _check_args(nemeses, time_limit)
    name = draw(st.sampled_from(sorted(nemeses)))
    at = draw(
        st.floats(min_value=0.0, max_value=time_limit - 0.2, allow_nan=False).map(
            lambda x: round(x, 2)
        )
    )
    duration = draw(
        st.floats(min_value=0.1, max_value=max(0.1, time_limit - at - 0.05), allow_nan=False).map(
            lambda x: round(x, 2)
        )
    )
    duration = min(duration, round(time_limit - at - 0.01, 2))
    return {
        "at": at,
        "nemesis": name,
        "duration": max(duration, 0.0),
        "target": REGISTRY[name].default_target,
        "params": {},
    }


def schedules(
    nemeses: tuple[str, ...] = SIMPLE_NEMESES, time_limit: float = 6.0, max_faults: int = 6
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Timed nemesis ops, sorted by start time, all healed before ``time_limit``."""
    _check_args(nemeses, time_limit)
    return st.lists(fault_ops(nemeses, time_limit), max_size=max_faults).map(
        lambda ops: sorted(ops, key=lambda o: (o["at"], o["nemesis"]))
    )


def configs(
    modes: tuple[str, ...] = ("at-least-once", "idempotent", "transactional"),
    time_limit: float = 6.0,
) -> st.SearchStrategy[Config]:
    """Valid configurations: mode, acks, RF, min.insync, in-flight, workload shape."""

    @st.composite
    def build(draw: Any) -> Config:
        mode = draw(st.sampled_from(modes))
        idempotent = mode != "at-least-once"
        brokers = draw(st.integers(min_value=1, max_value=5))
        rf = draw(st.integers(min_value=1, max_value=min(3, brokers)))
        acks = "all" if idempotent else draw(st.sampled_from(["0", "1", "all"]))
        return Config(
            mode=mode,
            brokers=brokers,
            replication_factor=rf,
            min_insync_replicas=draw(st.integers(min_value=1, max_value=rf)),
            acks=acks,
            max_in_flight=draw(st.integers(min_value=1, max_value=5)),
            partitions=draw(st.integers(min_value=1, max_value=6)),
            producers=draw(st.integers(min_value=1, max_value=3)),
            consumers=draw(st.integers(min_value=0, max_value=2)),
            rate=draw(st.sampled_from([50.0, 100.0, 200.0])),
            time_limit=time_limit,
            convergence=3.0,
        ).validate()

    return build()


def workloads() -> st.SearchStrategy[dict[str, Any]]:
    """Workload shapes as config overrides."""
    return st.fixed_dictionaries(
        {
            "workload": st.sampled_from(["produce-consume", "produce"]),
            "rate": st.sampled_from([50.0, 150.0, 300.0]),
            "producers": st.integers(min_value=1, max_value=3),
        }
    )
