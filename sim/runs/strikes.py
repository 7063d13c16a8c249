"""Strikes: the failure that turns a hazard a run reached into a broken invariant.

A hazard (``sim.cluster.trace.HAZARDS``) is a state one step from losing data. For some of
them the missing step is known, and a guided campaign (``sim.runs.guided``) spends a share of
its children replaying a run that reached one and adding that step there, instead of hoping a
random fault lands on it:

- a partition gone offline (its last ISR member fenced) loses what it committed if that
  member crashes, maybe losing its page cache, while it is the only copy: a crash of it;
- a replica elected from outside the ISR loses the acknowledged records it lacks, but a run
  usually elects it right after it came back, before anything was written that it could
  lack: its replication (its Fetch requests) is held back and the election moved later, so
  that writes land on the ISR without it first.

Each strike draws its faults from the campaign's random stream only, so a campaign seed still
names one sequence of runs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any, NamedTuple

from faults.mutate import fit_in_time, just_after
from faults.registry import REGISTRY
from faults.schedule import fit_params
from sim.cluster.trace import ELECTION, OFFLINE
from sim.config import Config


class Strike(NamedTuple):
    """A child's faults and BUGGIFY sites, and what the strike did (for its origin)."""

    schedule: list[dict[str, Any]]
    sites: list[str] | None
    did: str


class Aim(NamedTuple):
    """Where a strike lands: a corpus run (its result), the hazard it reached, the moment
    the strike starts from, the brokers the hazard named and the run's BUGGIFY sites."""

    parent: dict[str, Any]
    feature: str
    anchor: float
    named: list[str]
    sites: list[str] | None


Builder = Callable[[Aim, random.Random, Config], "Strike | None"]


def _in_order(schedule: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(schedule, key=lambda f: (f["at"], f["nemesis"], str(f.get("target"))))


def strike_offline(aim: Aim, rng: random.Random, config: Config) -> Strike | None:
    """The last ISR member crashes (kill-broker, its parameters drawn as swarm draws them,
    so half the time losing its page cache). Over ten swarm parents that went offline on 4.0
    (seeds 0 to 119), such a crash always losing the page cache lost acknowledged writes in
    12 of 100 children; the same parents' children that explored after a lead-in, in none."""
    at = just_after(aim.anchor)
    draw = REGISTRY["kill-broker"].params_draw
    crash = fit_in_time(
        {
            "at": at,
            "nemesis": "kill-broker",
            "duration": rng.uniform(0.05, 2.0),
            "target": aim.named[rng.randrange(len(aim.named))],
            "params": draw(rng) if draw is not None else {},
        },
        config.time_limit,
    )
    if crash["at"] < at:
        return None  # too late for a fault (a hazard in the convergence phase)
    schedule = _in_order([*aim.parent["schedule"], fit_params(crash, config, rng)])
    return Strike(schedule, aim.sites, f"kill-broker on {crash['target']} there")


# The election strike's Fetch hold: held requests are many (a slow link holds every fetch of a
# while, and a follower retries a held one after its 2 s timeout) and long.
HOLD_COUNT = (1.0, 2.0)  # log10 of how many follower Fetch requests are held back
HOLD_DELAY = (0.5, 2.5)  # seconds each is held
ELECTION_LATER = (0.1, 2.0)  # seconds after the parent's election that the new one runs
HOLD_PAST = 0.5  # at most this many seconds the hold lasts past the new election
REBALANCE_SITE = "auto-leader-rebalance"


def strike_election(aim: Aim, rng: random.Random, config: Config) -> Strike | None:
    """The replica that a preferred election met outside the ISR stops catching up (its
    follower Fetch requests held back from up to a second before the election until up to
    HOLD_PAST s after the new one: it keeps heartbeating, so it is neither fenced nor back in
    the ISR), and the election runs later, after the ISR without it has acknowledged writes:
    the parent's own election goes (an elect-preferred at that moment, and the
    leader-imbalance BUGGIFY site that would rerun it at the next controller tick) and an
    elect-preferred runs 0.1 to 2 s after it. Over 61 swarm parents that reached such an
    election on the preferred-election-ignores-isr bug without losing anything (seeds
    5,000,000 to 5,001,499), 22% of such children lost acknowledged writes (the hold's length
    drawn apart from the election's moment); a Fetch hold alone, a latency spike or a one-way
    partition of that replica instead, 0 to 5%; moving the election alone, 8%. Holding on
    until the election took forty guided campaigns' median runs to a first find from 77 to
    69."""
    at = just_after(aim.anchor)
    broker = aim.named[rng.randrange(len(aim.named))]
    elected_at = aim.parent["feature_times"][aim.feature]
    election = fit_in_time(
        {
            "at": math.floor((elected_at + rng.uniform(*ELECTION_LATER)) * 1000) / 1000,
            "nemesis": "elect-preferred",
            "duration": 0.1,
            "target": "brokers",
            "params": {},
        },
        config.time_limit,
    )
    hold = fit_in_time(
        {
            "at": at,
            "nemesis": "delay-request",
            # held until past the election, so the replica is still behind when it runs
            "duration": max(0.05, election["at"] - at) + rng.uniform(0.0, HOLD_PAST),
            "target": broker,
            "params": {
                "api": "Fetch",
                "delay": round(rng.uniform(*HOLD_DELAY), 3),
                "count": max(1, round(10 ** rng.uniform(*HOLD_COUNT))),
            },
        },
        config.time_limit,
    )
    if hold["at"] < at:
        return None
    kept = [
        f
        for f in aim.parent["schedule"]
        if not (f["nemesis"] == "elect-preferred" and abs(f["at"] - elected_at) < 0.0005)
    ]
    sites = None if aim.sites is None else [s for s in aim.sites if s != REBALANCE_SITE]
    did = f"Fetch held on {broker}, the election moved to {election['at']:g} s"
    return Strike(_in_order([*kept, hold, election]), sites, did)


class Striker(NamedTuple):
    """How a hazard kind is completed: the fault kinds the strike adds (a campaign strikes
    only with kinds it may use), the strike, and the hazards of that kind it can complete."""

    kinds: tuple[str, ...]
    build: Builder
    completes: Callable[[str], bool]


def _any_hazard(feature: str) -> bool:
    return True


def _elected(feature: str) -> bool:
    """An election that put a replica from outside the ISR in charge. One the controller
    refused (``preferred-election refused``: correct Kafka) stays refused however late it
    runs, so striking it spends a child on nothing: over twenty guided campaigns on the
    unclean shutdown of 4.0, striking refused elections too took the median from 78.5 runs
    to a first find to 120."""
    return "elects replica outside" in feature


STRIKES: dict[str, Striker] = {
    OFFLINE: Striker(("kill-broker",), strike_offline, _any_hazard),
    ELECTION: Striker(("delay-request", "elect-preferred"), strike_election, _elected),
}
# The share of children that strike once the corpus holds a hazard a strike completes.
STRIKE_SHARE = 0.25
