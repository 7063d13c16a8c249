"""Campaigns: many seeds of one configuration, run in parallel (local processes or Dask),
checked one by one, summarised as anomaly type x number of failing seeds.

Each seed is an independent pure function call, so results do not depend on the backend or the
number of workers: they are collected by seed and reported in seed order.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkers.gcpause import gc_paused
from sim.config import Config, from_mapping
from sim.errors import UsageError

SCHEDULER_CONNECT_TIMEOUT = "5s"  # an address that answers nobody is an input error, said quickly
MAX_SEEDS = 10_000_000  # one campaign's seeds are held in memory, with one result each


def parse_seeds(spec: str) -> list[int]:
    """``0..999`` (inclusive), ``1,5,9``, or a single number."""
    seeds: list[int] = []
    try:
        for part in spec.split(","):
            part = part.strip()
            if ".." in part:
                lo, hi = (int(x) for x in part.split("..", 1))
                if hi < lo:
                    raise UsageError(f"--seeds range {part!r} is empty")
                if hi - lo + 1 + len(seeds) > MAX_SEEDS:
                    raise UsageError(
                        f"--seeds {spec!r} selects {hi - lo + 1} seeds; a campaign runs at most "
                        f"{MAX_SEEDS:,} (split it into several campaigns)"
                    )
                seeds.extend(range(lo, hi + 1))
            elif part:
                seeds.append(int(part))
    except UsageError:
        raise
    except ValueError:
        raise UsageError(f"--seeds expects N, A..B or a comma list, got {spec!r}") from None
    if not seeds:
        raise UsageError("--seeds selects no seed")
    return sorted(set(seeds))


def run_seed(
    config_data: dict[str, Any], seed: int, store_root: str | None, keep_all: bool
) -> dict[str, Any]:
    """Run and check one seed (a top-level function, so process pools and Dask can ship it).

    The collector stays paused for the whole seed, not only for its simulation and check: the
    history text and the results in between would otherwise trigger collections that walk the
    seed's whole (live) world, twice over as it ages a generation. Once the seed is done its
    world is cyclic garbage, freed by the next young-generation collection."""
    with gc_paused():
        return _run_seed(config_data, seed, store_root, keep_all)


def _run_seed(
    config_data: dict[str, Any], seed: int, store_root: str | None, keep_all: bool
) -> dict[str, Any]:
    from sim.runs.known import excuses
    from sim.runs.runner import run, sites_fired
    from sim.runs.store import write_atomic, write_store

    config = from_mapping(config_data)
    outcome = run(config, seed)
    results = outcome.results
    failed = results.get("valid") is False
    excused = excuses(results)
    store = None
    if store_root is not None:
        directory = Path(store_root) / f"seed-{seed}"
        if failed or keep_all:
            write_store(directory, config, seed, outcome.schedule, outcome.history_text, results)
            store = str(directory)
        else:
            directory.mkdir(parents=True, exist_ok=True)
            write_atomic(directory / "results.json", json.dumps(results, indent=1) + "\n")
    return {
        "seed": seed,
        "valid": results.get("valid"),
        "anomaly_types": results.get("anomaly_types", []),
        "forbidden": sorted(results.get("forbidden", [])),
        "digest": results.get("digest"),
        "nemeses": sorted({str(op.get("nemesis")) for op in outcome.schedule}),
        # BUGGIFY sites that took their rare path in this seed (sim.cluster.buggify)
        "buggify": sorted(sites_fired(results)),
        "store": store,
        "ops": results.get("stats", {}).get("ops"),
        # known real classes (sim.runs.known): Kafka fails this way too
        "known_real": excused["classes"],
        "explained": failed and set(results.get("forbidden", [])) <= set(excused["explained"]),
    }


@dataclass
class CampaignSummary:
    config: Config
    seeds: list[int]
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    interrupted: bool = False
    elapsed: float = 0.0
    backend: str = "local"
    workers: int = 1

    @property
    def failing(self) -> list[int]:
        return sorted(s for s, r in self.results.items() if r["valid"] is False)

    @property
    def failing_unexplained(self) -> list[int]:
        """Failing seeds not wholly explained by known real classes (sim.runs.known): the
        ones that are the model's or a bug switch's, not Kafka's own."""
        return [s for s in self.failing if not self.results[s].get("explained")]

    def anomaly_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.results.values():
            for name in r["anomaly_types"]:
                counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.config.mode,
            "config": self.config.to_dict(),
            "seeds": len(self.seeds),
            "done": len(self.results),
            "interrupted": self.interrupted,
            "failing_seeds": self.failing,
            "anomaly_seed_counts": self.anomaly_counts(),
            "results": [self.results[s] for s in sorted(self.results)],
        }


def _local(
    config_data: dict[str, Any], seeds: list[int], store: str | None, keep_all: bool, workers: int
) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        for seed in seeds:
            yield run_seed(config_data, seed, store, keep_all)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=watch_parent,
        initargs=(os.getpid(),),
    ) as pool:
        futures = [pool.submit(run_seed, config_data, s, store, keep_all) for s in seeds]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def watch_parent(parent: int, interval: float = 0.5) -> None:
    """Runs in each worker: exit as soon as the campaign process is gone, so a campaign killed
    with SIGKILL leaves no worker behind (they would otherwise wait on their queue for ever)."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(interval)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass  # alive, someone else's now: cannot happen for our own parent

    threading.Thread(target=watch, name="eosim-parent-watch", daemon=True).start()


def _dask(
    config_data: dict[str, Any],
    seeds: list[int],
    store: str | None,
    keep_all: bool,
    workers: int,
    scheduler: str | None,
) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UsageError(
            "the dask backend needs the dask extra: pip install 'eosim[dask]'"
        ) from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=SCHEDULER_CONNECT_TIMEOUT)
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"cannot use the Dask scheduler {scheduler!r}: {exc}") from None
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        futures = client.map(
            run_seed,
            [config_data] * len(seeds),
            seeds,
            [store] * len(seeds),
            [keep_all] * len(seeds),
            pure=False,
        )
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_campaign(
    config: Config,
    seeds: list[int],
    *,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    store: str | None = None,
    keep_all: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> CampaignSummary:
    """Run every seed; Ctrl-C stops cleanly and the summary keeps what finished."""
    if backend not in ("local", "dask"):
        raise UsageError(f"unknown backend {backend!r} (expected local or dask)")
    if workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    config.validate()
    summary = CampaignSummary(config, seeds, backend=backend, workers=workers)
    data = config.to_dict()
    stream = (
        _local(data, seeds, store, keep_all, workers)
        if backend == "local"
        else _dask(data, seeds, store, keep_all, workers, scheduler)
    )
    started = time.perf_counter()
    try:
        for result in stream:
            summary.results[result["seed"]] = result
            if on_result is not None:
                on_result(result)
    except KeyboardInterrupt:
        summary.interrupted = True
    summary.elapsed = time.perf_counter() - started
    return summary
