"""The per-node clock (sim/cluster/clock.py): exact with the perfect clock, and the arithmetic
of a bump, a skew and a reset."""

from __future__ import annotations

import simpy

from sim.cluster.clock import Clock


def at(env: simpy.Environment, t: float) -> None:
    env.run(until=t)


def test_the_perfect_clock_is_true_time_exactly() -> None:
    """No arithmetic on the default path: the same float objects come back, so a run without
    clock faults computes the very numbers it computed before clocks existed."""
    env = simpy.Environment()
    clock = Clock(env)
    for t in (0.1, 1 / 3, 2.000000001, 7.25):
        at(env, t)
        assert clock.now() is env.now
        for x in (0.005, 1 / 3, 4.0, 1e-9):
            assert clock.sim_delay(x) is x
            assert clock.sim_time(t + x) == t + x
        assert clock.offset == 0.0 and clock.perfect


def test_a_bump_moves_the_reading_and_the_conversions() -> None:
    env = simpy.Environment()
    clock = Clock(env)
    at(env, 1.0)
    clock.bump(10.0)
    assert clock.now() == 11.0 and clock.offset == 10.0
    at(env, 2.5)
    assert clock.now() == 12.5
    assert clock.sim_time(15.0) == 5.0  # the clock reads 15 at true time 5
    assert clock.sim_delay(0.2) == 0.2  # a jump does not change the rate
    clock.bump(-12.0)
    assert clock.now() == 0.5 and clock.offset == -2.0


def test_a_skew_changes_the_rate_without_a_jump() -> None:
    env = simpy.Environment()
    clock = Clock(env)
    at(env, 1.0)
    clock.set_rate(2.0)
    assert clock.now() == 1.0  # no jump when the rate changes
    at(env, 3.0)
    assert clock.now() == 5.0
    assert clock.sim_delay(2.0) == 1.0
    assert clock.sim_time(7.0) == 4.0
    clock.set_rate(0.5)
    at(env, 5.0)
    assert clock.now() == 6.0


def test_a_strobe_is_a_bump_and_its_inverse() -> None:
    env = simpy.Environment()
    clock = Clock(env)
    at(env, 1.0)
    readings = []
    for step in (5.0, -5.0, 5.0, -5.0):
        clock.bump(step)
        readings.append(clock.offset)
    assert readings == [5.0, 0.0, 5.0, 0.0]


def test_reset_is_true_time_again_and_listeners_hear_every_change() -> None:
    env = simpy.Environment()
    clock = Clock(env)
    heard: list[float] = []
    clock.listeners.append(lambda: heard.append(clock.offset))
    at(env, 1.0)
    clock.bump(3.0)
    clock.set_rate(1.5)
    at(env, 2.0)
    clock.reset()
    assert clock.perfect and clock.now() is env.now and clock.rate == 1.0
    assert heard == [3.0, 3.0, 0.0]


def test_a_bad_rate_is_refused() -> None:
    import pytest

    clock = Clock(simpy.Environment())
    with pytest.raises(ValueError):
        clock.set_rate(0.0)
