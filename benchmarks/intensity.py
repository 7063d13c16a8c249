"""Fault intensity: how often swarm finds each target with 1 to 5 overlapping fault lanes.

    python benchmarks/intensity.py [--only NAME ...] [--seeds 2000] [--workers 2] [--json F]

``--swarm`` draws how many extra fault lanes run beside the first from the seed
(``faults.schedule.SWARM_EXTRA_LANES``: one to five lanes, uniformly; before ``4b5ea51``
half the seeds one lane, a quarter two, a quarter three). This measures what that choice costs and buys, per target (``benchmarks/search.py``'s
bug switches and real-bug classes): each seed runs as swarm would run it, but with its number
of extra lanes fixed to ``seed % 5`` (0 to 4; lane j is the same whatever the number, so the
strata differ only in how many lanes run). Per stratum, the share of runs that find the target
(a failure showing its anomalies, not explained by a known real class, as ``search.py``
counts it); from those, the per-run find rate of swarm's own mix and of a candidate mix
(``CANDIDATE_MIX``: one to four lanes, uniformly), each as a median of runs to a first find
(geometric: ln 2 / -ln(1 - p)).

Why it exists: guided search grows schedules (its mutations add faults more often than they
remove them) and was measured slower than swarm on the late marker and faster on replication
bugs; this says which targets want overlapping faults and which want them sparse. Jobs of 500
seeds are kept in ``--json``, so a run resumes. Run on demand; ``python -m sim.docs
--only-measured`` puts the table in the README.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search  # noqa: E402
from hardest import geometric_median, wilson  # noqa: E402

LANES = 5  # strata: 0 to 4 extra lanes
CHUNK = 500  # seeds per job (a multiple of LANES, so every job fills the strata evenly)
FIRST_SEED = 7_000_000  # apart from search.py's (10,000 x (c + 1)) and hardest.py's seeds
# the mix of extra lanes weighed against swarm's: one to four lanes, uniformly (of the mixes
# computed from the strata on 2,000 seeds per target, the one with the fewest runs across targets
# for the least cost on the targets that want sparse faults; swarm's own went to one to five
# lanes once the hardest targets' strata were measured with 3,000 seeds a cell)
CANDIDATE_MIX = (0, 1, 2, 3)


def chunk(target_name: str, first_seed: int, n: int) -> dict[str, Any]:
    """``n`` swarm runs from ``first_seed``, seed s with ``s % LANES`` extra lanes: runs and
    finds per stratum."""
    from faults.schedule import plan
    from sim.runs.known import excuses
    from sim.runs.runner import run

    target = next(t for t in search.targets() if t.name == target_name)
    config, _ = search.strategy("swarm", target.config)
    runs, finds = [0] * LANES, [0] * LANES
    for seed in range(first_seed, first_seed + n):
        k = seed % LANES
        results = run(config, seed, plan(config, seed, extra_lanes=k)).results
        runs[k] += 1
        finds[k] += results.get("valid") is False and target.shown_by(
            results["forbidden"], excuses(results)
        )
    return {"runs": runs, "finds": finds}


def mix_rate(rates: list[float], lanes: tuple[int, ...]) -> float:
    """The per-run find rate of a swarm drawing its extra lanes uniformly from ``lanes``."""
    return sum(rates[k] for k in lanes) / len(lanes)


def summarise(name: str, jobs: dict[str, Any]) -> dict[str, Any] | None:
    """One target's row from its finished jobs (None before the first)."""
    from faults.schedule import SWARM_EXTRA_LANES

    mine = [v for k, v in jobs.items() if k.startswith(f"{name}|")]
    if not mine:
        return None
    runs = [sum(j["runs"][k] for j in mine) for k in range(LANES)]
    finds = [sum(j["finds"][k] for j in mine) for k in range(LANES)]
    rates = [f / r if r else 0.0 for f, r in zip(finds, runs, strict=True)]
    swarm = mix_rate(rates, tuple(SWARM_EXTRA_LANES))
    candidate = mix_rate(rates, CANDIDATE_MIX)
    return {
        "target": name,
        "runs": runs,
        "finds": finds,
        "rate": rates,
        "rate_interval": [list(wilson(f, r)) for f, r in zip(finds, runs, strict=True)],
        "swarm_mix": list(SWARM_EXTRA_LANES),
        "swarm_median_runs": geometric_median(swarm),
        "candidate_mix": list(CANDIDATE_MIX),
        "candidate_median_runs": geometric_median(candidate),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--seeds", type=int, default=2000, help="seeds per target")
    search.add_common_options(
        parser, "intensity.json", "results, kept between runs: finished jobs are not run again"
    )
    args = parser.parse_args()
    if args.seeds < LANES:
        raise SystemExit(f"--seeds must be at least {LANES}, got {args.seeds}")
    names = [t.name for t in search.targets()]
    chosen = [n for n in names if any(o in n for o in args.only)] if args.only else names
    if not chosen:
        raise SystemExit(f"no target matches {args.only} (targets: {', '.join(names)})")
    done: dict[str, Any] = {}
    if args.json.exists():
        done = json.loads(args.json.read_text()).get("jobs", {})
    jobs = [
        (f"{name}|{FIRST_SEED + start}", name, FIRST_SEED + start, min(CHUNK, args.seeds - start))
        for name in chosen
        for start in range(0, args.seeds, CHUNK)
    ]
    todo = [j for j in jobs if j[0] not in done]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} jobs already done", flush=True)
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        futures = {pool.submit(chunk, *job[1:]): job[0] for job in todo}
        for future, key in futures.items():
            done[key] = future.result()
            _save(args.json, done)
    for row in _save(args.json, done):
        if row["target"] in chosen:
            rates = " ".join(f"{100 * r:5.1f}%" for r in row["rate"])
            print(
                f"{row['target'][:40]:40s} {rates}  swarm {row['swarm_median_runs']:.0f}"
                f"  candidate {row['candidate_median_runs']:.0f}"
            )


def _save(path: Path, done: dict[str, Any]) -> list[dict[str, Any]]:
    names = [t.name for t in search.targets()]
    rows = [r for r in (summarise(n, done) for n in names) if r is not None]
    search.save_json(path, {"rows": rows, "jobs": dict(sorted(done.items()))})
    return rows


if __name__ == "__main__":
    main()
