"""Search power: how many runs (and wall seconds) until a campaign first fails, per strategy.

    python benchmarks/search.py [--campaigns 10] [--max-runs 500] [--only BUG ...]
                                [--strategies fixed,swarm,guided] [--clean-runs 0] [--json F]

For every bug switch of the bug matrix (its configuration with the bug on, but none of the
matrix's hand-aimed schedules) and every real-bug class (each ticketed scenario's vulnerable
release or client policy with its workload, but not its hand-aimed schedule), three strategies
search from scratch:

- fixed: a plain campaign with a fixed generic nemesis mix (``FIXED_MIX``), one seed after another;
- swarm: ``--swarm`` with no nemesis named (kinds, intervals, targets and parameters drawn per
  seed, and BUGGIFY's sites: a quarter of them on per run, as FoundationDB's simulator runs);
- swarm-plain: the same without BUGGIFY (``--set sim.buggify=false``);
- guided: ``campaign --guided`` (coverage-guided mutation of fault schedules and parameters;
  BUGGIFY on, and a child keeps its parent's seed, so its parent's sites, half the time);
- guided-plain: the same without BUGGIFY.

``--strategies`` also takes ``guided-schedules``: guided search that mutates schedules but
never a fault's parameters, to measure what parameter mutation adds.

Each strategy runs ``--campaigns`` independent campaigns (different seeds) and stops each at its
first invalid run that shows one of the target's anomalies (the bug matrix's "caught by", the
scenario's "found": a failure with others is something else, such as the default idempotent
client's own duplicate) or after ``--max-runs``; the table gives the median runs and wall seconds to
the first failure ("-" when fewer than half the campaigns found one). ``--clean-runs N`` also
runs each strategy N times on the configuration without the bug (the false-positive side:
every run there must be valid, or fail only with a class real Kafka has too, ``sim.runs.known``:
the default idempotent client's renumbered duplicate is one; those are counted apart). Run on
demand; it takes minutes to hours depending on options. Ten campaigns rank the targets
roughly but cannot tell a third from a half: ``benchmarks/hardest.py`` measures the hardest
ones with large samples.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.config import KAFKA_VERSIONS, Config  # noqa: E402

FIXED_MIX = ("drop-acks", "kill-broker", "partition-halves", "pause-client", "delay-request")


@dataclass(frozen=True)
class Target:
    name: str
    config: Config  # with the bug (or the vulnerable release) switched on
    clean: Config  # the same without it
    # the anomalies that reveal it (the bug matrix's "caught by", the scenario's "found"): a
    # run that fails with others has found something else (the default idempotent client's
    # own duplicate, say), not this target
    shows: tuple[str, ...] = ()

    def found_in(self, anomaly_types: list[str]) -> bool:
        return bool(set(anomaly_types) & set(self.shows)) if self.shows else bool(anomaly_types)

    def shown_by(self, forbidden: list[str], excuses: dict[str, list[str]]) -> bool:
        """A failing run shows one of this target's anomalies, not counting those a known real
        class fully explains (``sim.runs.known.excuses``): the default idempotent client's
        duplicate is not unclean-truncation's. Unless the class seen is this very target's (the
        first-batch and epoch-bump duplicates' own searches): then nothing is excused."""
        from sim.runs.known import SCENARIOS_OF

        own = {
            c for c, names in SCENARIOS_OF.items() if any(self.name.startswith(n) for n in names)
        }
        excused = set() if own & set(excuses["classes"]) else set(excuses["explained"])
        return self.found_in([n for n in forbidden if n not in excused])


def targets() -> list[Target]:
    from sim.scenarios.bug_matrix import MATRIX

    out = [
        Target(e.bug, e.config.replace(bugs=(e.bug,)), e.config.replace(bugs=()), e.catches)
        for e in MATRIX
    ]
    return out + real_bug_targets()


def real_bug_targets() -> list[Target]:
    """Every real-bug class (the scenarios with a ticket): its vulnerable case's configuration
    (release, client policy and workload) without its hand-aimed schedule, against the fixed
    case's. Classes that share one configuration (a hanging transaction and an abort marker
    written before an in-flight batch are both pre-KIP-890 v1 with the same workload) are one
    target: the search cannot tell which of them it is looking for."""
    from sim.scenarios import SCENARIOS

    by_config: dict[str, Target] = {}
    for name, s in SCENARIOS.items():
        if not s.ticket:
            continue
        bad = next((c for c in s.cases if c.found or c.found_any), None)
        if bad is None:
            continue  # the fixed half of a pair (delayed-endtxn-v2 ...): its clean side below
        fixed = [c for c in s.cases if c.absent and not (c.found or c.found_any)]
        twin = SCENARIOS.get(name.removesuffix("-v1") + "-v2") if name.endswith("-v1") else None
        if not fixed and twin is not None:
            fixed = [c for c in twin.cases if c.absent]
        if not fixed:
            continue
        key = repr(sorted(bad.config.to_dict().items()))
        label = f"{name} ({bad.label})"
        shows = tuple(dict.fromkeys((*bad.found, *bad.found_any)))
        if key in by_config:
            old = by_config[key]
            both = tuple(dict.fromkeys((*old.shows, *shows)))
            by_config[key] = Target(f"{old.name} / {label}", old.config, old.clean, both)
        else:
            # The clean side is the newest release: a case pinned to the release that fixed this
            # class (delayed-txn-offset-commit's 4.0) may have another class fixed later
            # (KAFKA-19446 in 4.2), which a generic search there would rightly find.
            clean = fixed[-1].config.replace(kafka_version=KAFKA_VERSIONS[-1])
            by_config[key] = Target(label, bad.config, clean, shows)
    return list(by_config.values())


@dataclass
class Found:
    """What one campaign returns: runs to its first find that the clean twin does not reject
    (None: none within the budget), wall seconds of the search (twin replays not counted),
    and how the twin fared on every find it replayed (``twin_fails``' kinds, in order) and
    how many of those finds it rejected. A rejected find does not end the campaign: it goes
    on, as swarm's side of ``hardest.py`` does (its rate counts only the finds that stand)
    and as a user would, having learnt that the failure is not this bug's."""

    runs: int | None
    wall: float
    twins: list[str | None]
    rejected: int
    witness: tuple[Config, int, list[dict[str, Any]]] | None = None  # the find that stands


def first_failure_plain(
    config: Config, first_seed: int, max_runs: int, target: Target | None = None
) -> Found:
    """Runs to the first failure showing ``target``'s anomalies (any failure without one)."""
    from sim.runs.known import excuses
    from sim.runs.runner import run

    judge = TwinJudge(target)
    for i in range(max_runs):
        outcome = run(config, first_seed + i)
        results = outcome.results
        shown = results.get("valid") is False and (
            target is None or target.shown_by(results["forbidden"], excuses(results))
        )
        if shown and judge.stands((config, first_seed + i, outcome.schedule)):
            return judge.found(i + 1)
    return judge.found(None)


def first_failure_guided(
    config: Config,
    first_seed: int,
    max_runs: int,
    target: Target | None = None,
    mutate_params: bool = True,
) -> Found:
    from sim.runs.guided import run_config, run_guided

    judge = TwinJudge(target)
    searched = config.validate()

    def stands(r: dict[str, Any]) -> bool:
        shown = r["valid"] is False and (
            target is None or target.shown_by(r["forbidden"], r["excuses"])
        )
        return shown and judge.stands((run_config(searched, r), r["seed"], r["schedule"]))

    summary = run_guided(
        config, first_seed, max_runs, stop_when=stands, mutate_params=mutate_params
    )
    standing = summary.runs[-1] if judge.witness is not None else None
    return judge.found(None if standing is None else standing["index"] + 1)


class TwinJudge:
    """Replays each find of one campaign on the target's clean twin (``twin_fails``) and
    keeps the tally; the campaign's clock leaves the replays out."""

    def __init__(self, target: Target | None) -> None:
        self.target = target
        self.started = time.perf_counter()
        self.twin_seconds = 0.0
        self.twins: list[str | None] = []
        self.rejected = 0
        self.witness: tuple[Config, int, list[dict[str, Any]]] | None = None

    def stands(self, witness: tuple[Config, int, list[dict[str, Any]]]) -> bool:
        if self.target is None:
            self.witness = witness
            return True
        started = time.perf_counter()
        kind, rejects = twin_fails(self.target, witness)
        self.twin_seconds += time.perf_counter() - started
        self.twins.append(kind)
        self.rejected += rejects
        self.witness = None if rejects else witness  # the find that stands, if this one does
        return not rejects

    def found(self, runs: int | None) -> Found:
        wall = time.perf_counter() - self.started - self.twin_seconds
        return Found(runs, wall, self.twins, self.rejected, self.witness if runs else None)


def twin_fails(
    target: Target, witness: tuple[Config, int, list[dict[str, Any]]]
) -> tuple[str | None, bool]:
    """Replay a failing run on the target's clean twin: the same seed, schedule and search
    settings (swarm, BUGGIFY), without the bug or on the fixed release. Returns how the twin
    fared (``failure_kind``: None, "known" or "alarm") and whether that rejects the find: it
    does when the twin shows one of the target's own anomalies (then the failure is not the
    target's: a false alarm of the model, or another bug the fix does not cover). A twin that
    fails with something else (the default idempotent client's own duplicate beside the bug's
    lost writes) leaves the find standing and is counted on the false-positive side. (A guided
    campaign's failing run of kraft-duplicate-registration failed on its twin and exposed a
    KRaft fidelity bug.)"""
    from sim.runs.runner import run

    config, seed, schedule = witness
    clean = target.clean.replace(swarm=config.swarm, nemesis=config.nemesis)
    clean = clean.replace(external={**clean.external, **{
        k: v for k, v in config.external.items() if k.startswith("sim.")}})  # fmt: skip
    from sim.runs.known import excuses

    results = run(clean, seed, schedule).results
    kind = failure_kind(results)
    return kind, kind is not None and target.shown_by(results["forbidden"], excuses(results))


def failure_kind(results: dict[str, Any]) -> str | None:
    """None for a run that did not fail; "known" for one whose every forbidden witness real
    Kafka has too (sim.runs.known); "alarm" otherwise (on a clean configuration: the model's)."""
    from sim.runs.known import excuses

    return _kind(results.get("valid"), results.get("forbidden", []), excuses(results))


def _kind(valid: Any, forbidden: list[str], excused: dict[str, list[str]]) -> str | None:
    """``failure_kind`` from a run's verdict, forbidden anomalies and ``excuses`` (what a
    guided campaign keeps of each run)."""
    if valid is not False:
        return None
    return "known" if set(forbidden) <= set(excused["explained"]) else "alarm"


def clean_side(name: str, config: Config, runs: int, first_seed: int = 7) -> tuple[int, int, float]:
    """The false-positive side: ``runs`` runs of a strategy on a clean configuration (seeds from
    ``first_seed``), all of them; returns (false alarms, failures of a known real class, wall
    seconds)."""
    started = time.perf_counter()
    config, search = strategy(name, config)
    if search is first_failure_plain:
        from sim.runs.runner import run

        kinds = [failure_kind(run(config, first_seed + i).results) for i in range(runs)]
    else:
        from sim.runs.guided import run_guided

        summary = run_guided(config, first_seed, runs, mutate_params=search is first_failure_guided)
        kinds = [_kind(r["valid"], r["forbidden"], r["excuses"]) for r in summary.runs]
    wall = time.perf_counter() - started
    return kinds.count("alarm"), kinds.count("known"), wall


def strategy(name: str, config: Config) -> tuple[Config, Callable[..., Found]]:
    if name == "fixed":
        return config.replace(nemesis=FIXED_MIX, swarm=False), first_failure_plain
    if name == "swarm":  # BUGGIFY's sites on too (Config.buggify_on), as --swarm runs
        return config.replace(nemesis=(), swarm=True), first_failure_plain
    if name == "swarm-plain":  # swarm without BUGGIFY (--set sim.buggify=false)
        external = {**config.external, "sim.buggify": False}
        return config.replace(nemesis=(), swarm=True, external=external), first_failure_plain
    if name == "guided":  # BUGGIFY on too (sim.runs.guided.with_buggify), as --guided runs
        return config.replace(nemesis=(), swarm=False), first_failure_guided
    if name == "guided-plain":  # guided without BUGGIFY (--set sim.buggify=false)
        external = {**config.external, "sim.buggify": False}
        return config.replace(nemesis=(), swarm=False, external=external), first_failure_guided
    if name == "guided-schedules":
        search = functools.partial(first_failure_guided, mutate_params=False)
        return config.replace(nemesis=(), swarm=False), search
    raise SystemExit(
        f"unknown strategy {name!r} (fixed, swarm, swarm-plain, guided, guided-plain, "
        "guided-schedules)"
    )


def median_or_dash(
    values: list[int | None], seconds: list[float], max_runs: int
) -> tuple[str, str]:
    """Medians over the campaigns; a campaign that found nothing counts as more than
    ``max_runs`` (so the median is "> max" when half of them found nothing)."""
    found = [(v, s) for v, s in zip(values, seconds, strict=True) if v is not None]
    if not found:
        return "-", "-"
    runs = statistics.median([v if v is not None else max_runs + 1 for v in values])
    wall = statistics.median(seconds)
    return (f">{max_runs}" if runs > max_runs else f"{runs:g}"), f"{wall:.1f}"


def add_common_options(parser: argparse.ArgumentParser, results: str, about: str) -> None:
    """--json (``results`` beside this file by default) and --workers, for the search
    benchmarks."""
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name(results), help=about)
    parser.add_argument(
        "--workers", type=int, default=1, help="jobs run in parallel (each on one process)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--max-runs", type=int, default=500)
    parser.add_argument("--strategies", default="fixed,swarm,guided")
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--clean-runs", type=int, default=0)
    add_common_options(
        parser,
        "search.json",
        "where to write the rows (python -m sim.docs puts them in the README)",
    )
    args = parser.parse_args()
    names = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for name in names:
        strategy(name, Config())  # an unknown strategy stops here, before any work
    chosen = [t for t in targets() if not args.only or any(o in t.name for o in args.only)]
    jobs = [(t.name, name, c) for t in chosen for name in names for c in range(args.campaigns)] + [
        (t.name, name, -1) for t in chosen for name in names if args.clean_runs
    ]
    done: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        futures = {pool.submit(run_job, job, args.max_runs, args.clean_runs): job for job in jobs}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            rows = table_rows(chosen, names, args, done)
            write_json(args.json, args, rows)  # partial results survive an interrupted run
    for row in rows:
        for name in names:
            r = row[name]
            print(f"{row['target']:40s} {name:16s} runs {r['median_runs']:>5s}  "
                  f"wall {r['median_wall_s']:>6s} s  {r['runs']}")  # fmt: skip
    print("\n| target | " + " | ".join(f"{n}: runs / s" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for row in rows:
        cells = [f"{row[n]['median_runs']} / {row[n]['median_wall_s']}" for n in names]
        print(f"| {row['target']} | " + " | ".join(cells) + " |")


def run_job(job: tuple[str, str, int], max_runs: int, clean_runs: int) -> tuple[Any, ...]:
    """One campaign (``c`` >= 0, seeds from 10,000 x (c + 1)) on a target's buggy configuration:
    runs to the first find that stands, wall s, the clean twin's failure kinds on its finds
    and how many it rejected (``Found``); or (``c`` == -1) the clean side's ``clean_runs``
    runs (``clean_side``)."""
    target_name, name, c = job
    every = targets()
    names = [t.name for t in every]
    target = every[names.index(target_name)]
    if c < 0:
        # seeds apart per target: several targets share one clean configuration (idempotent,
        # the default workload), and the same seeds there would count the same runs again
        return clean_side(name, target.clean, clean_runs, 7 + 10_000 * names.index(target_name))
    config, search = strategy(name, target.config)
    found = search(config, 10_000 * (c + 1), max_runs, target)
    return found.runs, found.wall, found.twins, found.rejected


def table_rows(
    chosen: list[Target],
    names: list[str],
    args: argparse.Namespace,
    done: dict[tuple[str, str, int], tuple[Any, ...]],
) -> list[dict[str, Any]]:
    """The rows whose campaigns have all finished, in target order. A find whose clean twin
    shows the target's own anomalies does not count: the campaign went on past it
    (``twin_rejected`` counts them). Every twin that failed at all is counted on the
    false-positive side: ``twin_failures`` the false alarms, ``twin_known`` those of a known
    real class; the clean side likewise (``clean_failures``, ``clean_known``)."""
    rows = []
    for t in chosen:
        keys = [(t.name, n, c) for n in names for c in range(args.campaigns)]
        if not all(k in done for k in keys):
            continue
        row: dict[str, Any] = {"target": t.name}
        for name in names:
            results = [done[(t.name, name, c)] for c in range(args.campaigns)]
            found = [r[0] for r in results]
            walls = [r[1] for r in results]
            runs, wall = median_or_dash(found, walls, args.max_runs)
            twins = [kind for r in results for kind in r[2]]
            row[name] = {"median_runs": runs, "median_wall_s": wall, "runs": found,
                         "twin_failures": twins.count("alarm"),
                         "twin_known": twins.count("known"),
                         "twin_rejected": sum(r[3] for r in results)}  # fmt: skip
            clean = done.get((t.name, name, -1))
            if clean is not None:
                row[name]["clean_failures"], row[name]["clean_known"], _ = clean
                row[name]["clean_runs"] = args.clean_runs
        rows.append(row)
    return rows


def write_json(path: Path, args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    save_json(path, {"campaigns": args.campaigns, "max_runs": args.max_runs, "rows": rows})


def save_json(path: Path, data: dict[str, Any]) -> None:
    """A benchmark's results, renamed into place: an interrupted run leaves the last ones."""
    from sim.runs.store import write_atomic

    write_atomic(path, json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
