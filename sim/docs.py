"""Regenerate the README's tables from the code that the tests run.

    python -m sim.docs [--clean-seeds 200] [--skip-bugs] [--skip-scenarios] [--only-fidelity]

Scenario verdicts, the bug matrix and the benchmark figures are measured, then written between
the ``<!-- name:start -->`` / ``<!-- name:end -->`` markers of README.md; the fidelity table is
read from the docstrings of ``tests/fidelity`` (fact, Kafka source, test).
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {name} markers")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)


def scenario_tables() -> tuple[str, str]:
    from sim.scenarios import SCENARIOS, run_scenario

    story = [
        "| scenario | claim | verdict | seeds showing the predicted anomaly / seeds run |",
        "|---|---|---|---|",
    ]
    from sim.scenarios.releases import releases_showing, releases_text

    bugs = [
        "| ticket | scenario | what goes wrong | verdict | seeds showing it / seeds run | releases it reproduces on (seeds) |",
        "|---|---|---|---|---|---|",
    ]
    for s in SCENARIOS.values():
        r = run_scenario(s)
        verdict = "confirmed" if r["confirmed"] else "**NOT confirmed**"
        if "failing_seeds" in r and isinstance(r["failing_seeds"], dict) and r.get("expected"):
            parts = []
            for label, expected in r["expected"].items():
                seeds = r["failing_seeds"].get(label, [])
                note = r.get("notes", {}).get(label)
                what = note or f"{len(seeds)}/{r['seeds']}"
                parts.append(f"{label}: {expected} ({what})")
            how = "; ".join(parts)
        else:
            how = json.dumps(r.get("observed"))
        row = f"| `{s.name}` | {s.claim} | {verdict} | {how} |"
        if s.ticket:
            releases = releases_text(releases_showing(s), s.seeds)
            bugs.append(f"| {s.ticket} | `{s.name}` | {s.claim} | {verdict} | {how} | {releases} |")
        else:
            story.append(row)
    return "\n".join(story) + "\n", "\n".join(bugs) + "\n"


def bug_table(clean_seeds: int) -> str:
    from sim.bugs import BUGS
    from sim.scenarios.bug_matrix import MATRIX, catching, run_campaign

    rows = [
        "| bug | what it breaks | caught by | caught in (of 20 seeds) | first seed | false positives without it |",
        "|---|---|---|---|---|---|",
    ]
    for entry in MATRIX:
        buggy = run_campaign(entry, range(20), True)
        clean = run_campaign(entry, range(clean_seeds), False)
        caught = catching(buggy, entry.catches)
        by = sorted({n for s in caught for n in buggy[s] if n in entry.catches})
        false_pos = sum(1 for names in clean.values() if "INVALID" in names)
        rows.append(
            f"| `{entry.bug}` | {BUGS[entry.bug]} | {', '.join(by) or '-'} | {len(caught)} | {caught[0] if caught else '-'} | {false_pos}/{clean_seeds} |"
        )
    return "\n".join(rows) + "\n"


def fidelity_rows(folder: Path | None = None) -> list[tuple[str, str, str]]:
    """(fact, Kafka source, test) for every test in tests/fidelity: the fact is the docstring's
    first sentence, the source its ``Kafka:`` paragraph."""
    folder = folder or ROOT / "tests" / "fidelity"
    rows = []
    for path in sorted(folder.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            doc = ast.get_docstring(node) or ""
            head, _, source = doc.partition("Kafka:")
            fact = " ".join(head.split()).split(". ")[0].rstrip(".")
            if not fact or not source.strip():
                raise SystemExit(f"{path.name}::{node.name} names no fact or no Kafka source")
            rows.append((fact, " ".join(source.split()), f"{path.name}::{node.name}"))
    return rows


def fidelity_table() -> str:
    lines = ["| fact | Kafka source | test |", "|---|---|---|"]
    for fact, source, test in fidelity_rows():
        lines.append(f"| {fact} | {source} | `{test}` |")
    return "\n".join(lines) + "\n"


def bench_table() -> str:
    path = ROOT / "benchmarks" / "results.json"
    if not path.is_file():
        return "Run `python benchmarks/run.py` to measure.\n"
    rows = ["| measurement | value | target | pass |", "|---|---|---|---|"]
    for r in json.loads(path.read_text()):
        mark = {True: "pass", False: "**fail**", None: "report"}[r["pass"]]
        rows.append(f"| {r['name']} | {r['value']:g} {r['unit']} | {r['target']} | {mark} |")
    return "\n".join(rows) + "\n"


def search_table() -> str:
    """benchmarks/search.py's medians: runs (and wall seconds) to the first failure."""
    path = ROOT / "benchmarks" / "search.json"
    if not path.is_file():
        return "Run `python benchmarks/search.py` to measure.\n"
    data = json.loads(path.read_text())
    strategies = ("fixed", "swarm", "swarm-plain", "guided", "guided-plain")
    names = [n for n in strategies if n in (data["rows"] or [{}])[0]]
    head = " | ".join(f"{n}: runs / s" for n in names)
    # guided against swarm as a ratio of runs per find, which pools every campaign's runs
    ratio = "guided" in names and "swarm" in names
    lines = [
        f"Median over {data['campaigns']} campaigns of at most {data['max_runs']} runs each "
        "(`>N`: fewer than half found it; `-`: none did)."
        + (
            " Last column: guided's runs per find over swarm's, each the runs all campaigns "
            "spent (a campaign that found nothing spent them all) over the campaigns that "
            "found it; it pools the campaigns, so it moves less between samples than a median "
            "of ten. In brackets, its approximate 95% interval."
            if ratio
            else ""
        ),
        "",
        f"| target | {head} |" + (" guided ÷ swarm |" if ratio else ""),
        "|---|" + "---|" * (len(names) + ratio),
    ]
    clean = [
        (row["target"], n, row[n]["clean_failures"], row[n].get("clean_known", 0),
         row[n]["clean_runs"])
        for row in data["rows"]
        for n in names
        if "clean_failures" in row[n]
    ]  # fmt: skip
    for row in data["rows"]:
        cells = [f"{row[n]['median_runs']} / {row[n]['median_wall_s']}" for n in names]
        if ratio:
            cells.append(_runs_per_find_ratio(row, data["max_runs"]))
        lines.append(f"| {row['target']} | " + " | ".join(cells) + " |")
    twins = [
        (row["target"], n, row[n]["twin_failures"], row[n].get("twin_known", 0))
        for row in data["rows"]
        for n in names
        if row[n].get("twin_failures") or row[n].get("twin_known")
    ]
    rejected = [
        f"{row['target']} ({n}, {row[n]['twin_rejected']})"
        for row in data["rows"]
        for n in names
        if row[n].get("twin_rejected")
    ]
    if any("twin_failures" in row[n] for row in data["rows"] for n in names):
        lines += [
            "",
            "Every find was replayed on the target's clean twin (same seed, schedule and "
            "search settings); a find counts only if the twin does not show the target's own "
            "anomalies. "
            + (f"Rejected: {', '.join(rejected)}. " if rejected else "None was rejected. ")
            + (
                "Twins that failed at all (counted on the false-positive side): "
                + ", ".join(f"{t} ({n}, {_failures(a, k)})" for t, n, a, k in twins)
                + "."
                if twins
                else "Every twin passed."
            ),
        ]
    if clean:
        alarms = [f"{t} ({n}, {a})" for t, n, a, _, _ in clean if a]
        runs: dict[str, int] = {}
        known: dict[str, int] = {}
        for _, n, _, k, r in clean:
            runs[n] = runs.get(n, 0) + r
            known[n] = known.get(n, 0) + k
        per = ", ".join(f"{n} {total:,}" for n, total in runs.items())
        lines += [
            "",
            "False-positive side: runs on every target's configuration without the bug (the "
            f"fixed release or policy; {per} in all): "
            + (f"false alarms on {', '.join(alarms)}." if alarms else "no false alarm.")
            + (
                " Failures of a known real class (real Kafka has them too, `sim.runs.known`): "
                + ", ".join(f"{n} {k}" for n, k in known.items())
                + "."
                if any(known.values())
                else ""
            ),
        ]
    return "\n".join(lines) + "\n"


def hardest_table() -> str:
    """benchmarks/hardest.py: guided against swarm on the hardest targets, large samples."""
    path = ROOT / "benchmarks" / "hardest.json"
    if not path.is_file():
        return "Run `python benchmarks/hardest.py` to measure.\n"
    data = json.loads(path.read_text())
    lines = [
        "| target | swarm: finds / runs | swarm: median runs (95%) | guided: found / campaigns "
        "| guided: median runs (95%) | guided ÷ swarm (95%) |",
        "|---|---|---|---|---|---|",
    ]
    for row in data["rows"]:
        s, g = row["swarm"], row["guided"]
        ratio = "-" if row["ratio"] is None else f"**{row['ratio']:.2f}**"
        lines.append(
            f"| {row['target']} | {s['finds']} / {s['runs']:,} | {_runs(s['median_runs'])} "
            f"({_span(s['median_interval'])}) | {g['found']} / {g['campaigns']} "
            f"| {_runs(g['median_runs'], 'g')} ({_span(g['median_interval'])}) "
            f"| {ratio} ({_span(row['ratio_interval'], '.2f')}) |"
        )
    return "\n".join(lines) + "\n"


def intensity_table() -> str:
    """benchmarks/intensity.py: swarm's find rate per target with 1 to 5 fault lanes."""
    path = ROOT / "benchmarks" / "intensity.json"
    if not path.is_file():
        return "Run `python benchmarks/intensity.py` to measure.\n"
    rows = json.loads(path.read_text())["rows"]
    if not rows:
        return "Run `python benchmarks/intensity.py` to measure.\n"
    lanes = len(rows[0]["runs"])
    mix = ", ".join(str(k + 1) for k in rows[0]["swarm_mix"])
    candidate = ", ".join(str(k + 1) for k in rows[0]["candidate_mix"])
    lines = [
        f"Runs per cell: {rows[0]['runs'][0]:,} (the same seeds' plans, with only the number of "
        "lanes fixed). Per cell the share of runs that found the target (finds in brackets), "
        "the best in bold; then the median runs to a first find for swarm's draw of lanes when "
        f"measured ({mix}) and for a candidate ({candidate}), computed from the strata.",
        "",
        "| target | "
        + " | ".join(f"{k + 1} lane{'s' * (k > 0)}" for k in range(lanes))
        + " | swarm's mix: median runs | candidate: median runs |",
        "|---|" + "---|" * (lanes + 2),
    ]
    for row in rows:
        best = max(row["rate"])
        cells = [
            (f"**{100 * r:.1f}%**" if r == best and best > 0 else f"{100 * r:.1f}%") + f" ({f})"
            for r, f in zip(row["rate"], row["finds"], strict=True)
        ]
        lines.append(
            f"| {row['target']} | "
            + " | ".join(cells)
            + f" | {_runs(row['swarm_median_runs'], '.1f')}"
            + f" | {_runs(row['candidate_median_runs'], '.1f')} |"
        )
    return "\n".join(lines) + "\n"


def _runs(value: float, spec: str = ".0f") -> str:
    return "∞" if math.isinf(value) else format(value, spec)


def _span(pair: list[float], spec: str = ".0f") -> str:
    return f"{_runs(pair[0], spec)}–{_runs(pair[1], spec)}"


def runs_per_find(runs: list[int | None], max_runs: int) -> float | None:
    """Runs per find over campaigns that each stop at their first find: every run spent (a
    campaign that found nothing spent ``max_runs``) over the finds, the maximum-likelihood
    estimate of 1/p for a per-run find probability p. None without a find."""
    finds = sum(r is not None for r in runs)
    if not finds:
        return None
    return sum(max_runs if r is None else r for r in runs) / finds


def ratio_interval(
    runs: list[int | None], baseline: list[int | None], max_runs: int
) -> tuple[float, float, float] | None:
    """Runs per find of ``runs`` over ``baseline``'s, with an approximate 95% interval: each
    is exposure (runs spent) over a count of finds, so the log of the ratio has a standard
    error of sqrt(1/finds + 1/baseline finds), as for a ratio of two Poisson rates. With ten
    campaigns of a target found half the time, the interval spans about four-fold: a third
    and two thirds cannot be told apart by one benchmark run."""
    ours, theirs = runs_per_find(runs, max_runs), runs_per_find(baseline, max_runs)
    if ours is None or theirs is None:
        return None
    ratio = ours / theirs
    spread = 1.96 * math.sqrt(
        1 / sum(r is not None for r in runs) + 1 / sum(r is not None for r in baseline)
    )
    return ratio, ratio * math.exp(-spread), ratio * math.exp(spread)


def _runs_per_find_ratio(row: dict[str, Any], max_runs: int) -> str:
    found = ratio_interval(row["guided"]["runs"], row["swarm"]["runs"], max_runs)
    if found is None:
        return "-"
    ratio, low, high = found
    return f"{ratio:.2f} ({low:.2f}–{high:.2f})"


def _failures(alarms: int, known: int) -> str:
    """ "2 false alarms, 1 of a known real class": a failure of a class real Kafka has too (sim.runs.known)
    is not the model's; older results (before known classes were told apart) count all as
    false alarms."""
    parts = []
    if alarms:
        parts.append(f"{alarms} false alarm{'s' if alarms != 1 else ''}")
    if known:
        parts.append(f"{known} of a known real class")
    return ", ".join(parts)


def verdicts_table() -> str:
    """benchmarks/verdicts.py: the verdict rates of every scenario case before and after a
    change that moved trajectories, and whether any moved beyond noise."""
    path = ROOT / "benchmarks" / "verdicts.json"
    if not path.is_file():
        return "Run `python benchmarks/verdicts.py --base REF` to measure.\n"
    data = json.loads(path.read_text())
    rows = data["rows"]
    drift = [r for r in rows if r["drift"]]
    lines = [
        f"Seeds (of {data['seeds']}) showing each anomaly, before (`{data['base']}`) and after; "
        f"drift = Fisher's exact test p < {data['alpha']:g}. "
        f"{len(rows)} rates compared, {len(drift)} beyond noise. The ten smallest p:",
        "",
        *_verdict_rows(sorted(rows, key=lambda r: r["p"])[:10]),
        "",
        f"<details><summary>all {len(rows)} rates</summary>",
        "",
        *_verdict_rows(rows),
        "",
        "</details>",
    ]
    return "\n".join(lines) + "\n"


def _verdict_rows(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "| scenario / case | anomaly | before | after | p | drift |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = "**yes**" if r["drift"] else ""
        out.append(
            f"| {r['case']} | {r['anomaly']} | {r['base']} | {r['new']} | {r['p']:.2g} | {mark} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clean-seeds", type=int, default=200)
    parser.add_argument("--skip-bugs", action="store_true")
    parser.add_argument("--skip-scenarios", action="store_true")
    parser.add_argument("--only-fidelity", action="store_true")
    parser.add_argument(
        "--only-measured",
        action="store_true",
        help="refresh only the blocks read from benchmarks/*.json (bench, search, hardest, "
        "intensity, verdicts)",
    )
    args = parser.parse_args()
    measured = {
        "bench": (bench_table, "results"),
        "search": (search_table, "search"),
        "hardest": (hardest_table, "hardest"),
        "intensity": (intensity_table, "intensity"),
        "verdicts": (verdicts_table, "verdicts"),
    }
    # only the blocks measured on this checkout (the results are not committed): a fresh clone
    # refreshing one table keeps the others' last measurements
    measured_here = {
        name: table
        for name, (table, results) in measured.items()
        if (ROOT / "benchmarks" / f"{results}.json").is_file()
    }
    blocks: dict[str, str] = {"fidelity": fidelity_table()}
    if args.only_measured:
        blocks = {name: table() for name, table in measured_here.items()}
    elif not args.only_fidelity:
        if not args.skip_scenarios:
            blocks["scenarios"], blocks["realbugs"] = scenario_tables()
        if not args.skip_bugs:
            blocks["bugs"] = bug_table(args.clean_seeds)
        blocks.update({name: table() for name, table in measured_here.items()})
    readme = ROOT / "README.md"  # read only now: the measurements above take minutes
    text = readme.read_text()
    for name, body in blocks.items():
        text = replace_block(text, name, body)
    from sim.runs.store import write_atomic

    write_atomic(readme, text)  # renamed into place: never half a README
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
