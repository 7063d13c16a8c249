"""Verdict drift: does a change that moves trajectories move any scenario's verdict rates?

    python benchmarks/verdicts.py --base REF [--seeds 200] [--workers 2] [--only NAME ...]
                                  [--json benchmarks/verdicts.json]

A speed-up or a fidelity fix can change every seed's history (the golden digests move) while
the model means the same thing. What must not move beyond noise is how often each scenario case
shows each anomaly. This runs every case of every scenario (``eosim scenario list``; the
measurement-only ones have no verdict and are skipped) on seeds 0..N-1 twice: on the git ref
``--base`` (exported with ``git archive`` to a temporary directory and run there in a child
process) and on the working tree, then compares, per case and per anomaly (and "invalid"), the
number of seeds it appeared in. A difference counts as drift when Fisher's exact two-sided test
gives p < ``--alpha`` (default 0.001: about 45 cases x a few anomalies are compared at once, so a
looser threshold would flag noise). ``python -m sim.docs`` puts the table in the README.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "verdicts.json"

Counts = dict[str, dict[str, int]]  # "scenario/case" -> anomaly (or "invalid") -> seeds


def case_keys(only: list[str]) -> list[str]:
    """Every scenario case with a verdict, as "scenario/case label", in registry order."""
    from sim.scenarios import base

    _load_registry()
    out = []
    for name, s in base.SCENARIOS.items():
        if (only and name not in only) or s.custom is not None:
            continue
        out += [f"{name}/{c.label}" for c in s.cases]
    return out


def _load_registry() -> None:
    import importlib

    for module in ("sim.scenarios.gallery", "sim.scenarios.kafka_bugs"):
        importlib.import_module(module)


def one_seed(job: tuple[str, int]) -> tuple[str, int, list[str], bool]:
    """Run one case at one seed: its anomaly types and whether the run was valid."""
    from sim.runs.runner import run
    from sim.scenarios import base

    _load_registry()
    key, seed = job
    name, label = key.split("/", 1)
    case = next(c for c in base.SCENARIOS[name].cases if c.label == label)
    outcome = run(case.config, seed, case.schedule(seed) if case.schedule else None)
    return (
        key,
        seed,
        sorted(outcome.results.get("anomaly_types", [])),
        bool(outcome.results.get("valid")),
    )


def collect(keys: list[str], seeds: int, workers: int) -> Counts:
    """Seeds per anomaly for every case in ``keys`` that this process's code has (a case
    added since the base has nothing to be compared with there)."""
    known = set(case_keys([]))
    keys = [k for k in keys if k in known]
    counts: Counts = {k: {"invalid": 0} for k in keys}
    jobs = [(k, s) for k in keys for s in range(seeds)]
    with ProcessPoolExecutor(workers) as pool:
        for key, _seed, types, valid in pool.map(one_seed, jobs, chunksize=8):
            for t in types:
                counts[key][t] = counts[key].get(t, 0) + 1
            counts[key]["invalid"] += not valid
    return counts


def collect_at(ref: str, keys: list[str], seeds: int, workers: int) -> Counts:
    """``collect`` on the code of git ref ``ref``, exported to a temporary directory; kept in
    a cache by commit, seeds and cases (a commit's code does not change), so comparing several
    new trees with one base pays for the base once."""
    sha = subprocess.run(
        ["git", "rev-parse", ref], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"eosim-verdicts-{sha[:12]}-{seeds}-{digest}.json"
    if cache.is_file():
        cached: Counts = json.loads(cache.read_text())
        return cached
    counts = _collect_at(ref, keys, seeds, workers)
    write_atomic(cache, json.dumps(counts))
    return counts


def _collect_at(ref: str, keys: list[str], seeds: int, workers: int) -> Counts:
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", ref], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        return collect_in(Path(tmp), keys, seeds, workers)


def collect_in(tree: Path, keys: list[str], seeds: int, workers: int) -> Counts:
    """``collect`` in a child process whose ``sim`` package is the one in ``tree`` (an
    installed editable eosim would otherwise win over the tree being measured)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.json"
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--collect", str(out),
             "--seeds", str(seeds), "--workers", str(workers), *sum((["--key", k] for k in keys), [])],
            cwd=tree, check=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        result: Counts = json.loads(out.read_text())
        return result


def fisher_p(a: int, n1: int, b: int, n2: int) -> float:
    """Two-sided Fisher exact test of a/n1 against b/n2 (sum of tables no likelier than seen)."""
    k = a + b
    total = math.comb(n1 + n2, k)

    def prob(x: int) -> float:
        return math.comb(n1, x) * math.comb(n2, k - x) / total

    seen = prob(a)
    lo, hi = max(0, k - n2), min(k, n1)
    return min(1.0, sum(p for x in range(lo, hi + 1) if (p := prob(x)) <= seen * (1 + 1e-9)))


def compare(base: Counts, new: Counts, seeds: int, alpha: float) -> list[dict[str, Any]]:
    """One row per case and anomaly seen on either side, with the p-value and a drift flag."""
    rows = []
    for key in new:
        if key not in base:
            continue  # a case the base does not have: nothing to compare
        names = sorted(set(base.get(key, {})) | set(new[key]), key=lambda n: (n != "invalid", n))
        for name in names:
            a, b = base.get(key, {}).get(name, 0), new[key].get(name, 0)
            if a == b == 0:
                continue
            p = fisher_p(a, seeds, b, seeds)
            rows.append(
                {"case": key, "anomaly": name, "base": a, "new": b, "p": p, "drift": p < alpha}
            )
    return rows


def write_atomic(path: Path, text: str) -> None:
    """Its own, not sim.runs.store's: in child mode this runs against an old tree's code."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", help="git ref of the old behaviour (e.g. a commit before it)")
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--only", action="append", default=[], help="one scenario (repeatable)")
    parser.add_argument("--json", type=Path, default=OUT)
    parser.add_argument(
        "--base-only", action="store_true", help="collect (and cache) the base's counts, stop"
    )
    parser.add_argument("--collect", type=Path, help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--key", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seeds < 1 or args.workers < 1 or not 0 < args.alpha < 1:
        parser.error("--seeds and --workers must be >= 1 and --alpha in (0, 1)")
    if args.collect is not None:
        write_atomic(args.collect, json.dumps(collect(args.key, args.seeds, args.workers)))
        return
    if not args.base:
        parser.error("--base REF is required (the code to compare the working tree with)")
    sys.path.insert(0, str(ROOT))  # the scenario list of the tree being measured
    keys = case_keys(args.only)
    base = collect_at(args.base, keys, args.seeds, args.workers)
    if args.base_only:
        return
    new = collect_in(ROOT, keys, args.seeds, args.workers)
    rows = compare(base, new, args.seeds, args.alpha)
    head = subprocess.run(
        ["git", "rev-parse", "--short", args.base], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    out = {"base": head, "seeds": args.seeds, "alpha": args.alpha, "rows": rows}
    write_atomic(args.json, json.dumps(out, indent=1, sort_keys=True) + "\n")
    drift = [r for r in rows if r["drift"]]
    for r in rows:
        flag = "DRIFT" if r["drift"] else ""
        print(
            f"{r['case']:<60} {r['anomaly']:<22} {r['base']:>4} {r['new']:>4}  p={r['p']:.3g} {flag}"
        )
    added = sorted(k for k in new if k not in base)
    if added:
        print(f"new since {head} (not compared): {', '.join(added)}")
    print(f"{len(rows)} rates compared over {args.seeds} seeds; {len(drift)} beyond noise")


if __name__ == "__main__":
    main()
