"""Terminal view of a campaign: a rich progress bar while it runs, a table when it ends."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from sim.runs.campaign import CampaignSummary


class RateColumn(ProgressColumn):
    """Runs per wall second since the campaign started."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:5.1f} runs/s", style="cyan")


def progress(console: Console, disable: bool = False) -> Progress:
    """The live bar of seeds done and failures; ``disable`` (``--quiet``) prints nothing."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failures: [red]{task.fields[failures]}"),
        RateColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=disable,
    )


def render_summary(summary: CampaignSummary, console: Console, reproduce: Any) -> None:
    done = len(summary.results)
    state = "interrupted" if summary.interrupted else "finished"
    console.print(
        f"campaign {state}: {done}/{len(summary.seeds)} seeds, {len(summary.failing)} failing, "
        f"{summary.elapsed:.1f}s wall on {summary.workers} {summary.backend} worker(s)"
    )
    counts = summary.anomaly_counts()
    if counts:
        table = Table(title="anomaly type x seeds")
        table.add_column("anomaly")
        table.add_column("seeds", justify="right")
        table.add_column("forbidden by the mode?")
        forbidden: set[str] = set()
        for r in summary.results.values():
            forbidden |= set(r["forbidden"])
        for name, n in counts.items():
            table.add_row(
                name, str(n), "[red]yes[/red]" if name in forbidden else "no (allowed or warning)"
            )
        console.print(table)
    for seed in summary.failing[:20]:
        r = summary.results[seed]
        console.print(
            f"  seed {seed}: {', '.join(r['forbidden'])}{_known(r)}  ->  eosim run {reproduce(summary.config, seed)}",
            markup=False,
            soft_wrap=True,
        )
    if len(summary.failing) > 20:
        console.print(
            f"  ... and {len(summary.failing) - 20} more failing seeds (see campaign.json)"
        )


def _known(record: dict[str, Any]) -> str:
    """ " (known real: class)" when a known real class (sim.runs.known) explains some of it."""
    classes = record.get("known_real") or []
    if not classes:
        return ""
    whole = "" if record.get("explained") else ", in part"
    return f" (known real{whole}: {', '.join(classes)})"
