"""Pieces shared by the store's browsing pages (index.html, campaign.html): one stylesheet, the
verdict badges, safe reading of a store's small files. Pages are self-contained and script-free."""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:14px 18px;color:#222;max-width:1800px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 4px}
table{border-collapse:collapse;margin:6px 0 14px}
td,th{border:1px solid #d4d4d4;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3;white-space:nowrap}
tr:nth-child(even) td{background:#fafafa}
td.num,th.num{text-align:right}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-weight:bold;font-size:12px;
 white-space:nowrap;color:#fff}
.v-valid{background:#1f7a35}.v-invalid{background:#b00020}.v-unknown{background:#a77b00}
.v-incomplete{background:#6b6b6b}.v-interrupted{background:#7a4fb0}
.forbidden{color:#b00020;font-weight:bold;white-space:nowrap}
.allowed{color:#666;white-space:nowrap}
.note{color:#555;margin:4px 0}.muted{color:#777}.small{font-size:11px}
.warn{background:#fff4d6;border:1px solid #e0b84d;padding:6px 10px;margin:8px 0}
code{font:12px ui-monospace,monospace;background:#f4f4f4;padding:1px 3px;overflow-wrap:anywhere}
a{color:#0b57d0}a.missing{color:#999;text-decoration:line-through}
.links a{margin-right:8px;white-space:nowrap}
.nowrap{white-space:nowrap}
"""

VERDICT_CLASS = {
    "valid": "v-valid",
    "invalid": "v-invalid",
    "unknown": "v-unknown",
    "incomplete": "v-incomplete",
    "interrupted": "v-interrupted",
}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def href(*parts: str) -> str:
    """A relative link to a file below the page's directory (names are URL-quoted)."""
    return "/".join(urllib.parse.quote(p) for p in parts)


def badge(verdict: str, title: str = "", text: str = "") -> str:
    """A coloured verdict word (``text`` replaces the word, keeping the colour)."""
    cls = VERDICT_CLASS.get(verdict, "v-unknown")
    tip = f' title="{esc(title)}"' if title else ""
    return f'<span class="badge {cls}"{tip}>{esc(text or verdict)}</span>'


def verdict_word(valid: Any) -> str:
    """results.json's ``valid`` (true, false, "unknown") as the word a page shows."""
    if valid is True:
        return "valid"
    if valid is False:
        return "invalid"
    return "unknown"


def page(title: str, body: Iterable[str]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{esc(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        *body,
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (pages read untrusted files)."""
    return value if isinstance(value, dict) else {}


def names(items: Iterable[Any]) -> str:
    """Comma-separated names that never break inside a name (``drop-acks`` stays whole)."""
    return ", ".join(f'<span class="nowrap">{esc(i)}</span>' for i in items)


def read_json(path: Path) -> Any:
    """The parsed file, or None when it is missing or unreadable (a page never fails on one)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def nemeses_that_ran(schedule: Any) -> list[str] | None:
    """Distinct fault kinds of a faults.json, in the order they first ran; None if unreadable."""
    if not isinstance(schedule, list):
        return None
    kinds: list[str] = []
    for op in schedule:
        kind = op.get("nemesis") if isinstance(op, Mapping) else None
        if isinstance(kind, str) and kind not in kinds:
            kinds.append(kind)
    return kinds


def counts_of(results: Mapping[str, Any]) -> dict[str, int]:
    """Anomaly type -> number found, from results.json (``counts``, else the witness lists)."""
    counts = results.get("counts")
    if isinstance(counts, Mapping):
        return {str(k): int(v) for k, v in counts.items() if isinstance(v, int)}
    anomalies = results.get("anomalies")
    if isinstance(anomalies, Mapping):
        return {str(k): len(v) if isinstance(v, list) else 1 for k, v in anomalies.items()}
    return {str(k): 1 for k in results.get("anomaly_types", []) or []}


def anomaly_list(results: Mapping[str, Any]) -> str:
    """Forbidden anomalies in red with their counts, then the allowed ones in grey."""
    counts = counts_of(results)
    forbidden = [str(a) for a in results.get("forbidden", []) or []]
    allowed = [a for a in counts if a not in forbidden]
    parts = [f'<span class="forbidden">{esc(a)} ×{counts.get(a, 1)}</span>' for a in forbidden]
    if allowed:
        shown = ", ".join(f"{esc(a)} ×{counts[a]}" for a in allowed)
        parts.append(
            f'<span class="allowed" title="found, but the mode allows it">allowed: {shown}</span>'
        )
    return "<br>".join(parts) if parts else '<span class="muted">none</span>'
