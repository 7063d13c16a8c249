"""Guided campaigns: spend runs on mutating the fault schedules that reached new behaviour.

A plain campaign draws every seed's faults independently. A guided one keeps a corpus of runs
that reached a protocol feature no earlier run reached (``sim.runs.coverage``). Its first runs
are fresh swarm plans, and a share that anneals to a quarter (``fresh_share``) stays fresh; the
others are children of corpus runs: a quarter, once the corpus has reached a hazard with a
failure that completes it (``STRIKES``), a replay of a run that reached it with that failure
added just before it; of the rest, two in three a replay of a parent up to a protocol
decision it reached with new faults after it (Go-Explore's "first return, then explore"; half
of them to a hazard once the corpus has one, ``sim.cluster.trace.HAZARDS``), the
rest a parent picked towards rare features and mutated anywhere (``faults.mutate``), as
coverage-guided fuzzers do. Children inherit their parent's BUGGIFY
sites. Runs go in fixed-size batches whose candidates depend only on the corpus before the
batch, so the result is the same for any number of workers: one campaign seed, one sequence
of runs."""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from sim.cluster.trace import OFFLINE
from sim.config import Config, from_mapping
from sim.errors import UsageError
from sim.runs.coverage import decision_kind, is_hazard
from sim.runs.strikes import STRIKE_SHARE, STRIKES, Aim

BATCH = 8  # candidates per round, fixed so results do not depend on the number of workers
FRESH_SEED_OFFSET = 1_000_000  # children that change the workload's seed too draw from here


def run_candidate(
    config_data: dict[str, Any],
    index: int,
    seed: int,
    schedule: list[dict[str, Any]],
    store_root: str | None,
    sites: list[str] | None = None,
) -> dict[str, Any]:
    """Run one candidate with coverage on (a top-level function, so process pools can ship it).
    ``sites``, when given, are the BUGGIFY sites it enables (``sim.buggify-sites``) instead of
    those its seed would draw."""
    from sim.runs.coverage import Coverage
    from sim.runs.known import excuses
    from sim.runs.runner import run, sites_enabled
    from sim.runs.store import write_store

    config = with_sites(from_mapping(config_data), sites)
    coverage = Coverage()
    outcome = run(config, seed, schedule, trace=coverage)
    results = outcome.results
    store = None
    if store_root is not None and results.get("valid") is False:
        directory = Path(store_root) / f"run-{index}"
        write_store(directory, config, seed, outcome.schedule, outcome.history_text, results)
        store = str(directory)
    return {
        "index": index,
        "seed": seed,
        "schedule": outcome.schedule,
        "features": sorted(coverage.features(results)),
        "feature_times": dict(sorted(coverage.first_at.items())),
        "hazard_brokers": dict(sorted(coverage.named.items())),
        "valid": results.get("valid"),
        "anomaly_types": results.get("anomaly_types", []),
        "forbidden": sorted(results.get("forbidden", [])),
        "excuses": excuses(results),  # what known real classes explain (sim.runs.known)
        "digest": results.get("digest"),
        "store": store,
        "sites": sites_enabled(results),
    }


def sites_inherited(config: Config) -> bool:
    """Children inherit their parent's BUGGIFY sites, unless the configuration turns BUGGIFY
    off or fixes the sites itself (every site, or a named set)."""
    ext = config.external
    return config.buggify_on and not (ext.get("sim.buggify-all") or "sim.buggify-sites" in ext)


def with_sites(config: Config, sites: list[str] | None) -> Config:
    """``config`` with exactly ``sites`` enabled (None: as the seed draws them)."""
    if sites is None:
        return config
    return config.replace(external={**config.external, "sim.buggify-sites": ",".join(sites)})


def run_config(config: Config, result: dict[str, Any]) -> Config:
    """The configuration one run of a guided campaign on ``config`` ran with: BUGGIFY on
    (``with_buggify``), and a child names its BUGGIFY sites (``sim.buggify-sites``); naming a
    fresh run's, which its seed drew, changes nothing."""
    config = with_buggify(config)
    if not sites_inherited(config):
        return config
    return with_sites(config, result.get("sites"))


@dataclass
class GuidedSummary:
    config: Config
    campaign_seed: int
    budget: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    first_reached: dict[str, int] = field(default_factory=dict)  # feature -> run index
    corpus: list[int] = field(default_factory=list)  # run indices kept for new features
    interrupted: bool = False
    elapsed: float = 0.0
    workers: int = 1
    mutate_params: bool = True  # fault parameters are mutated too (faults.mutate)

    @property
    def failing(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["valid"] is False]

    def run_config(self, result: dict[str, Any]) -> Config:
        """The configuration one run ran with (``run_config``)."""
        return run_config(self.config, result)

    def growth(self) -> list[int]:
        """Features reached after each run: the coverage curve."""
        seen: set[str] = set()
        curve = []
        for r in self.runs:
            seen.update(r["features"])
            curve.append(len(seen))
        return curve

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": "guided",
            "mode": self.config.mode,
            "config": self.config.to_dict(),
            "campaign_seed": self.campaign_seed,
            "budget": self.budget,
            "mutate_params": self.mutate_params,
            "done": len(self.runs),
            "interrupted": self.interrupted,
            "features": len(self.first_reached),
            "coverage_growth": self.growth(),
            "corpus": self.corpus,
            "failing_runs": [
                {k: r.get(k) for k in ("index", "seed", "origin", "forbidden", "store")}
                for r in self.failing
            ],
            "first_reached": dict(sorted(self.first_reached.items())),
            "runs": [
                {
                    k: v
                    for k, v in r.items()
                    if k not in ("features", "feature_times", "hazard_brokers")
                }
                for r in self.runs
            ],
        }


def with_buggify(config: Config) -> Config:
    """Guided search runs with BUGGIFY on (a quarter of the sites per run, drawn from its seed,
    as FoundationDB's simulator always runs), unless the configuration sets ``sim.buggify`` or
    ``sim.buggify-all`` either way. Every site is a path a correct Kafka can take, so it adds
    no false alarm (the search benchmark's clean twins), and it helps where plain schedules
    struggle: over four campaigns each, the first failure of a timeout scan of a prepared
    transaction, a delayed EndTxn (v1) and a late TxnOffsetCommit (3.5) came two to three times
    sooner, and a duplicate KRaft registration and a preferred election of an out-of-ISR
    replica were found at all. A child inherits its parent's sites (``_child_sites``)."""
    if "sim.buggify" in config.external or "sim.buggify-all" in config.external:
        return config
    return config.replace(external={**config.external, "sim.buggify": True})


def fault_kinds(config: Config) -> list[str]:
    """The kinds a guided campaign may add: the ones named, else the whole swarm pool (which
    holds the controller faults only when there is a KRaft quorum to run them on)."""
    from faults.schedule import swarm_pool

    if config.nemesis:
        return list(config.nemesis)
    return swarm_pool(config)


# Fresh swarm plans keep swarm's breadth (its kinds left out per seed, its lanes), which easy
# targets need early; children pay off once the corpus holds rare decisions to return to. So
# the share of fresh plans anneals: every run up to FRESH_ALL, then sqrt(FRESH_ALL / run)
# (half at run 64), never below FRESH_FLOOR. A fixed half was measured against it: on 3.5's
# late TxnOffsetCommit, six campaigns of 500 runs found it 19 times (untainted by earlier
# finds) against 10, and first in a median of 126 runs against about 300. A fixed quarter
# had made 7 of 22 targets slower, the easy ones that the all-fresh start now keeps.
FRESH_ALL = 16
FRESH_FLOOR = 0.25
# Of the children, the share that return to a decision and explore after it; the rest are
# mutated anywhere. Per run, returning found 3.5's bug 4 to 6 times as often as mutating,
# KRaft's early AlterPartition answer about as often, a preferred election from outside the
# ISR about half as often (a few finds each: search benchmark operators, 6 campaigns).
RETURN_SHARE = 2 / 3
# Of those, the share that return to a hazard (sim.cluster.trace.HAZARDS) once the corpus has
# reached one, and of those the share that go back up to LEAD_IN seconds before it, so that
# their new faults change how the run comes to it (how far behind the replica is that an
# election from outside the ISR makes leader) rather than what follows. Per run over six
# 500-run campaigns, untainted by earlier finds: the preferred election found 16 times against
# 6 (returning children found it in 1.33% of runs against 0.24%), 3.5's late TxnOffsetCommit
# 26 against 19. Before, about one returning child in ten went to the precursor among the
# forty-odd decisions a corpus reaches (24 of 252 on 3.5), though such a child finds these
# targets 5 to 40 times as often per run as swarm does.
HAZARD_SHARE = 0.5
LEAD_IN_SHARE = 0.5
LEAD_IN = 1.0


def lead_in(feature: str, config: Config) -> float:
    """How far before a hazard a lead-in may go back. A partition going offline is noted when
    the controller fences its last ISR member, a broker session after that broker went
    silent: the crash that decides what the partition keeps (did it lose its page cache?) is
    that much earlier."""
    if decision_kind(feature) == OFFLINE:
        return config.broker_session_timeout_ms / 1000.0 + LEAD_IN
    return LEAD_IN


def _decision(feature: str, anchor: float, parent: dict[str, Any]) -> str:
    """A decision as an origin names it: "before offline:..." for a lead-in to a hazard. (A
    state change reads "Ongoing -> PrepareAbort": the reproduce line's arrow is the only one
    on a failing run's line.)"""
    decision = feature.removeprefix("decision:").replace("->", "to")
    return f"before {decision}" if anchor < parent["feature_times"][feature] else decision


def fresh_share(run_index: int) -> float:
    """The probability that run ``run_index`` of a guided campaign is a fresh swarm plan."""
    return min(1.0, max(FRESH_FLOOR, math.sqrt(FRESH_ALL / max(1, run_index))))


SITE_FLIP = 0.25  # the share of children that flip one of their parent's BUGGIFY sites


class Candidate(NamedTuple):
    """One run a guided campaign will spend."""

    run_index: int
    seed: int
    schedule: list[dict[str, Any]]
    sites: list[str] | None  # BUGGIFY sites it enables; None: those its seed draws
    origin: str  # how it was made, for people: a fresh plan, or which run it comes from


class _Corpus:
    def __init__(self, config: Config, campaign_seed: int, mutate_params: bool = True) -> None:
        self.config = config
        self.seed = campaign_seed
        self.mutate_params = mutate_params
        self.rng = random.Random(f"eosim/guided/{campaign_seed}")
        self.kinds = fault_kinds(config)
        # the hazards this campaign can complete: those whose strike adds only kinds it may use
        self.strikes = {
            hazard: striker
            for hazard, striker in STRIKES.items()
            if all(k in self.kinds for k in striker.kinds)
        }
        self.site_genome = sites_inherited(config)
        self.entries: list[dict[str, Any]] = []
        self.seen: dict[str, int] = {}  # feature -> how many runs reached it
        self.chosen: dict[str, int] = {}  # decision -> children that replayed to it
        self.productive: dict[str, int] = {}  # decision -> of those, children with news
        self.anchored: dict[int, str] = {}  # run index -> the decision it replays to

    def candidates(self, start: int, n: int) -> list[Candidate]:
        from faults.mutate import mutate
        from faults.schedule import fit_params, for_workload, plan

        out: list[Candidate] = []
        for index in range(start, start + n):
            # the first round, and a share of every later one: planned schedules, as a swarm
            # would draw them (mutation narrows towards what the corpus reached; fresh swarm
            # plans keep swarm's own breadth, its kinds left out per seed and its lanes)
            if not self.entries or self.rng.random() < fresh_share(index):
                seed = self.seed + index
                planning = self.config if self.config.nemesis else replace(self.config, swarm=True)
                out.append(Candidate(index, seed, plan(planning, seed), None, "fresh plan"))
                continue
            struck = self._strike(index)
            if struck is not None:
                out.append(struck)
                continue
            parent, anchor = self._return_point(index)
            if parent is not None and anchor is not None:
                seed, schedule, sites = self._explore_after(parent, anchor)
                decision = _decision(self.anchored[index], anchor, parent)
                origin = (
                    f"run {parent['index']} replayed to {anchor:g} s ({decision}), "
                    "new faults after it"
                )
                out.append(Candidate(index, seed, schedule, sites, origin))
                continue
            weights = [self._rarity(e) for e in self.entries]
            parent = self.rng.choices(self.entries, weights=weights)[0]
            anchor = self._rarest_time(parent)
            other = self.entries[self.rng.randrange(len(self.entries))]
            seed = (
                parent["seed"] if self.rng.random() < 0.5 else self.seed + FRESH_SEED_OFFSET + index
            )
            schedule = mutate(
                parent["schedule"],
                self.rng,
                self.kinds,
                self.config.time_limit,
                other["schedule"],
                params=self.mutate_params,
                anchor=anchor,
            )
            # a kind's targets name the default workload's partitions (k0): the pipelines' are in0..
            schedule = [{**f, "target": for_workload(f["target"], self.config)} for f in schedule]
            # and a mutated delay-request holds back a request type this run sends
            schedule = [fit_params(f, self.config, self.rng) for f in schedule]
            origin = f"run {parent['index']} mutated" + (
                "" if seed == parent["seed"] else " under a new seed"
            )
            out.append(Candidate(index, seed, schedule, self._child_sites(parent), origin))
        return out

    def _explore_after(
        self, parent: dict[str, Any], anchor: float
    ) -> tuple[int, list[dict[str, Any]], list[str] | None]:
        """A child that replays ``parent`` up to ``anchor`` (its seed, its BUGGIFY sites, its
        faults until then) and explores after it (``faults.mutate.explore_after``). Replaying
        keeps the rare event: over the parents that reached the hardest targets' precursors
        (a pending offset moving back on 3.5), such children reached the event in 93% of runs
        and found the bug four times as often as children mutated anywhere."""
        from faults.mutate import explore_after
        from faults.schedule import fit_params, for_workload

        schedule = explore_after(
            parent["schedule"],
            self.rng,
            self.kinds,
            self.config.time_limit,
            anchor,
            params=self.mutate_params,
        )
        # new and changed faults fitted to this workload (the parent's own are fitted already,
        # and those before the anchor must stay as they were)
        schedule = [
            f
            if f in parent["schedule"]
            else fit_params(
                {**f, "target": for_workload(f["target"], self.config)}, self.config, self.rng
            )
            for f in schedule
        ]
        return parent["seed"], schedule, self._kept_sites(parent)

    def _kept_sites(self, parent: dict[str, Any]) -> list[str] | None:
        return parent.get("sites") if self.site_genome else None

    def _strikable(self, feature: str) -> bool:
        striker = self.strikes.get(decision_kind(feature))
        return striker is not None and striker.completes(feature)

    def _strike(self, index: int) -> Candidate | None:
        """A child that completes a hazard (``sim.runs.strikes``): a corpus run that reached
        one, its seed, sites and faults, and the failure that completes it, aimed at a broker
        the hazard named, from up to ``lead_in`` seconds before it. The parent reached a
        state one failure from breaking an invariant; this is that failure. None when the
        corpus holds no hazard a strike completes with the kinds this campaign may use, or
        when the moment is too late for a fault (a hazard in the convergence phase); else
        STRIKE_SHARE of the time (the draw only made when there is something to strike, so a
        campaign that never reaches such a hazard runs as it did before strikes)."""
        places = [
            (entry, f)
            for entry in self.entries
            for f in entry.get("hazard_brokers") or {}
            if self._strikable(f) and entry["hazard_brokers"][f]
        ]
        if not places or self.rng.random() >= STRIKE_SHARE:
            return None
        kinds = sorted({decision_kind(f) for _, f in places})
        if len(kinds) > 1:  # each kind its share, however often runs reach it
            kind = kinds[self.rng.randrange(len(kinds))]
            places = [(entry, f) for entry, f in places if decision_kind(f) == kind]
        parent, feature = places[self.rng.randrange(len(places))]
        named = parent["hazard_brokers"][feature]
        hazard_at = parent["feature_times"][feature]
        anchor = max(0.0, hazard_at - self.rng.uniform(0.0, lead_in(feature, self.config)))
        aim = Aim(parent, feature, anchor, named, self._kept_sites(parent))
        struck = self.strikes[decision_kind(feature)].build(aim, self.rng, self.config)
        if struck is None:
            return None
        decision = _decision(feature, anchor, parent)
        origin = f"run {parent['index']} replayed to {anchor:g} s ({decision}), {struck.did}"
        return Candidate(index, parent["seed"], struck.schedule, struck.sites, origin)

    def _child_sites(self, parent: dict[str, Any]) -> list[str] | None:
        """The BUGGIFY sites a child enables: its parent's, one flipped on or off a quarter of
        the time. A site is part of what a run reached, like its faults (the leader-imbalance
        check behind a preferred election, a late TxnOffsetCommit): a child under a new seed
        would otherwise keep it only as often as any seed draws it. None (the seed draws) when
        the configuration fixes BUGGIFY itself."""
        if not self.site_genome or parent.get("sites") is None:
            return None
        from sim.buggify_sites import SITES

        sites = set(parent["sites"])
        if self.rng.random() < SITE_FLIP:
            sites ^= {list(SITES)[self.rng.randrange(len(SITES))]}
        return [site for site in SITES if site in sites]

    def _return_point(self, index: int) -> tuple[dict[str, Any] | None, float | None]:
        """Two in three children start from one protocol decision a corpus run reached (a
        coordinator's state change, a fencing, an election refused, an offset moving back, a
        BUGGIFY site's rare path): that run, and the moment it did. Decisions only: error and
        late answers are three times as many and mostly echo the faults, and anchoring on
        them too halved how often children reached the decisions the hardest targets start
        from. Which decision is Go-Explore's choice: rare ones (few runs reached them),
        seldom chosen ones, and ones whose children went on to reach something new; but
        HAZARD_SHARE of the time among hazards only, and then half the time up to LEAD_IN
        seconds before the hazard (``lead_in``)."""
        if self.rng.random() >= RETURN_SHARE:
            return None, None
        holders: dict[str, list[int]] = {}  # feature -> corpus positions, in corpus order
        for i, entry in enumerate(self.entries):
            for f in entry.get("feature_times") or {}:
                if f.startswith("decision:"):
                    holders.setdefault(f, []).append(i)
        if not holders:
            return None, None
        features = list(holders)
        hazards = [f for f in features if is_hazard(f)]
        if hazards and self.rng.random() < HAZARD_SHARE:
            features = hazards
        weights = [
            (1 + self.productive.get(f, 0))
            / math.sqrt((1 + self.chosen.get(f, 0)) * max(1, self.seen.get(f, 1)))
            for f in features
        ]
        f = self.rng.choices(features, weights=weights)[0]
        self.chosen[f] = self.chosen.get(f, 0) + 1
        self.anchored[index] = f
        places = holders[f]
        entry = self.entries[places[self.rng.randrange(len(places))]]
        at: float = entry["feature_times"][f]
        if is_hazard(f) and self.rng.random() < LEAD_IN_SHARE:
            at = max(0.0, at - self.rng.uniform(0.0, lead_in(f, self.config)))
        return entry, at

    def _rarest_time(self, entry: dict[str, Any]) -> float | None:
        """When ``entry`` first reached its rarest timed feature (ties: the earliest): new
        faults land just after it half the time, to perturb what follows the rare event (a
        crash after a late offset commit landed, a slow broker after a refused election)."""
        times = entry.get("feature_times") or {}
        if not times:
            return None
        return min((self.seen.get(f, 0), t) for f, t in times.items())[1]

    def _rarity(self, entry: dict[str, Any]) -> float:
        return sum(1.0 / self.seen.get(f, 1) for f in entry["features"]) or 1e-6

    def add(self, result: dict[str, Any], summary: GuidedSummary) -> None:
        new = [f for f in result["features"] if f not in self.seen]
        for f in result["features"]:
            self.seen[f] = self.seen.get(f, 0) + 1
        for f in new:
            summary.first_reached[f] = result["index"]
        anchor = self.anchored.pop(result["index"], None)
        if anchor is not None and new:
            self.productive[anchor] = self.productive.get(anchor, 0) + 1
        if new or not self.entries:
            self.entries.append(result)
            summary.corpus.append(result["index"])


def _pool(workers: int) -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from sim.runs.campaign import watch_parent

    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=watch_parent,
        initargs=(os.getpid(),),
    )


def _run_batch(
    pool: Any,
    data: dict[str, Any],
    batch: list[Candidate],
    store: str | None,
) -> Iterator[dict[str, Any]]:
    if pool is None:
        for c in batch:
            yield run_candidate(data, c.run_index, c.seed, c.schedule, store, c.sites)
        return
    futures = [
        pool.submit(run_candidate, data, c.run_index, c.seed, c.schedule, store, c.sites)
        for c in batch
    ]
    try:
        for fut in futures:  # in candidate order: the corpus is updated deterministically
            yield fut.result()
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise


def run_guided(
    config: Config,
    campaign_seed: int,
    budget: int,
    *,
    workers: int = 1,
    store: str | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    stop_when: Callable[[dict[str, Any]], bool] | None = None,
    mutate_params: bool = True,
) -> GuidedSummary:
    """Spend ``budget`` runs (fewer once ``stop_when`` accepts a result: the search benchmark
    stops at the first failure); Ctrl-C stops cleanly and the summary keeps what finished.
    ``mutate_params=False`` mutates schedules only, never a fault's parameters (the search
    benchmark's ``guided-schedules`` strategy, to measure what parameter mutation adds)."""
    if budget < 1:
        raise UsageError(f"a guided campaign needs at least one run, got {budget}")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    config = with_buggify(config.validate())
    summary = GuidedSummary(
        config, campaign_seed, budget, workers=workers, mutate_params=mutate_params
    )
    corpus = _Corpus(config, campaign_seed, mutate_params)
    data = config.to_dict()
    started = time.perf_counter()
    pool = _pool(workers) if workers > 1 else None
    try:
        index, stop = 0, False
        while index < budget and not stop:
            batch = corpus.candidates(index, min(BATCH, budget - index))
            for candidate, result in zip(batch, _run_batch(pool, data, batch, store), strict=True):
                result["origin"] = candidate.origin
                summary.runs.append(result)
                corpus.add(result, summary)
                if on_result is not None:
                    on_result(result)
                if stop_when is not None and stop_when(result):
                    stop = True
                    break
            index += len(batch)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    summary.elapsed = time.perf_counter() - started
    if store is not None:
        from sim.runs.store import write_atomic

        write_atomic(Path(store) / "guided.json", json.dumps(summary.to_json(), indent=1) + "\n")
    return summary
