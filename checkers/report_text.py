"""Terminal rendering of a results dict: one table of anomalies and a verdict line."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

EXPLANATIONS_SHOWN = 2

_STATUS_STYLE = {"forbidden": "bold red", "allowed": "yellow", "warning": "cyan"}


def _status(results: dict[str, Any], name: str) -> str:
    if name in results.get("warnings", []):
        return "warning"
    if name in results.get("allowed", []):
        return "allowed"
    forbidden = results.get("forbidden")
    if forbidden is not None:
        return "forbidden" if name in forbidden else "allowed"
    return "forbidden" if name in results.get("promised", []) else "allowed"


def render_results(results: dict[str, Any], console: Console) -> None:
    """Print the anomalies found (name, count, status, first explanations) and the verdict."""
    anomalies: dict[str, list[dict[str, Any]]] = results.get("anomalies", {})
    counts: dict[str, int] = results.get("counts", {})
    names = results.get("anomaly_types") or sorted(anomalies)
    if names:
        table = Table(title=f"anomalies ({results.get('mode', '?')})", show_lines=False)
        table.add_column("anomaly", style="bold", no_wrap=True)
        table.add_column("count", justify="right")
        table.add_column("status", no_wrap=True)
        table.add_column("first witnesses", overflow="fold")
        order = {"forbidden": 0, "allowed": 1, "warning": 2}
        rows = sorted(names, key=lambda n: (order[_status(results, n)], n))
        for name in rows:
            ws = anomalies.get(name, [])
            status = _status(results, name)
            text = "\n".join(
                str(w.get("explanation", w)) for w in ws[:EXPLANATIONS_SHOWN] if isinstance(w, dict)
            )
            table.add_row(
                name,
                str(counts.get(name, len(ws))),
                Text(status, style=_STATUS_STYLE[status]),
                Text(text),
            )
        console.print(table)
    else:
        console.print("no anomalies found")
    stats = results.get("stats", {})
    summary = ", ".join(
        f"{k} {stats[k]}" for k in ("ops", "sends_ok", "sends_info", "polls", "txns") if k in stats
    )
    for note in results.get("history_warnings") or []:
        console.print(Text(f"warning: {note}", style="yellow"))
    valid = results.get("valid")
    if valid is True:
        verdict = Text("VALID", style="bold green")
        why = f"mode {results.get('mode')} kept its promise"
    elif valid is False:
        verdict = Text("INVALID", style="bold red")
        broken = results.get("forbidden") or [
            n for n in names if _status(results, n) == "forbidden"
        ]
        why = f"mode {results.get('mode')} forbids {', '.join(broken)}"
    else:
        verdict = Text("UNKNOWN", style="bold yellow")
        why = str(results.get("unknown_reason") or "nothing checkable")
    line = Text("verdict: ")
    line.append(verdict)
    line.append(f"  ({why})")
    if summary:
        line.append(f"  [{summary}]", style="dim")
    console.print(line)
    for text in known_real_lines(results):
        console.print(Text(text), style="yellow")


def known_real_lines(results: dict[str, Any]) -> list[str]:
    """One line per anomaly whose witnesses a known real class explains (``known_real``, set
    by sim.runs.known): the terminal and the HTML report say the same."""
    lines = []
    for name, items in sorted((results.get("known_real") or {}).items()):
        kinds = sorted({(str(i.get("class")), str(i.get("scenario"))) for i in items})
        shown = "; ".join(
            c if s == "None" else f"{c} (see: eosim scenario run {s})" for c, s in kinds
        )
        lines.append(
            f"known real Kafka behaviour (real Kafka does this too): {name} × {len(items)} "
            f"is {shown}"
        )
    return lines
