"""How a scenario explains itself: claim, verdict per case, witnesses, and why."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from sim.scenarios.base import SCENARIOS, Scenario, run_scenario


def render_scenario(s: Scenario, result: dict[str, Any], console: Console) -> None:
    title = f"{s.name}" + (f"  [{s.ticket}]" if s.ticket else "")
    console.print(Panel(s.claim, title=title, expand=False))
    if "expected" in result:
        table = Table()
        # Anomaly names wrap whole (fold), never cut with an ellipsis: they are copied into
        # --anomaly and searched for in reports.
        table.add_column("case", overflow="fold")
        table.add_column("expected", overflow="fold")
        table.add_column("observed (anomaly: seeds)", overflow="fold")
        table.add_column("seeds showing it", overflow="fold")
        table.add_column("verdict", overflow="fold")
        for label, expected in result["expected"].items():
            observed = (
                ", ".join(
                    f"{k}: {v}" + (f"/{result['seeds']}" if isinstance(v, int) else "")
                    for k, v in result["observed"][label].items()
                )
                or "nothing"
            )
            note = result.get("notes", {}).get(label)
            if note:
                observed += f"; {note}"
            ok = result["cases_confirmed"][label]
            failing = result["failing_seeds"][label]
            table.add_row(
                label,
                expected,
                observed,
                f"{len(failing)}/{result['seeds']}",
                "[green]as predicted[/green]" if ok else "[red]NOT as predicted[/red]",
            )
        console.print(table)
        for label, lines in result.get("witnesses", {}).items():
            console.print(f"[bold]where ({label}):[/bold]")
            for line in lines[:4]:
                console.print(f"  {line}", markup=False, soft_wrap=True)
        render_first_failing(result, console)
    if result.get("table"):
        table = Table(title="simulated vs article (plain, transactional, ratio)")
        for col in ("measure", "article", "simulated"):
            table.add_column(col)
        for name, row in result["table"].items():
            table.add_row(
                name,
                " / ".join(str(x) for x in row["article"]),
                " / ".join(str(x) for x in row["simulated"]),
            )
        console.print(table)
    if result.get("plot"):
        console.print(f"plot: {result['plot']}")
    verdict = "[green]CONFIRMED[/green]" if result["confirmed"] else "[red]NOT CONFIRMED[/red]"
    console.print(f"verdict: {verdict} over {result['seeds']} seed(s) per case")
    console.print(Panel(s.explanation, title="why", expand=False))


def render_first_failing(result: dict[str, Any], console: Console) -> None:
    """Per case, its first failing seed (showing a predicted anomaly or breaking a promise;
    under at-least-once a duplicate is predicted yet allowed, so the run is valid): the command that reruns it and the store kept of it.
    Lines are never wrapped, so a command copies whole."""
    for label, first in result.get("first_failing", {}).items():
        found = ", ".join(first.get("anomaly_types", [])) or "no anomalies"
        verdict = {True: "valid", False: "invalid"}.get(first.get("valid"), "unknown")
        console.print(
            f"first seed showing it ({label}): seed {first['seed']}  digest {first['digest'][:16]}  "
            f"found: {found}  verdict: {verdict}",
            markup=False,
            soft_wrap=True,
        )
        if first.get("reproduce"):
            console.print(f"  reproduce: {first['reproduce']}", markup=False, soft_wrap=True)
        elif "reproduce" in first:
            console.print(
                "  reproduce: add --keep DIR (this case runs a fixed fault schedule; "
                "the kept store holds it as faults.json for eosim run --faults)",
                markup=False,
                soft_wrap=True,
            )
        if first.get("store"):
            console.print(f"  store: {first['store']}", markup=False, soft_wrap=True)


def main(name: str, seeds: int | None = None) -> int:
    """Run one scenario with the same explanation ``eosim scenario run`` prints (exit code 0
    when the claim is confirmed): what each file in examples/ calls."""
    s = SCENARIOS[name]
    result = run_scenario(s, seeds)
    render_scenario(s, result, Console())
    return 0 if result["confirmed"] else 1
