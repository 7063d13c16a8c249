"""The verdict: run every checker family over one index and judge against the mode's promise.

Returns DESIGN.md's results dict without ``seed``/``digest`` (the caller owns those). Each
anomaly keeps at most :data:`WITNESS_CAP` witnesses; ``counts`` has the full numbers. Whether a
run is invalid is decided over *all* witnesses before capping, since some rules depend on the
witness (same-session duplicates, subscribed consumers, wr-only cycles).
"""

from __future__ import annotations

from typing import Any

from checkers.gcpause import gc_paused
from checkers.graph import check_cycles
from checkers.index import build_index
from checkers.lint import pairing_warnings
from checkers.modes import check_mode, promised, rule, violates
from checkers.pipeline import check_pipelines
from checkers.reads import analyse_reads
from checkers.txns import check_txns
from checkers.verdict import unknown_reason, verdict
from checkers.witness import Anomalies, merge
from checkers.writes import check_writes

WITNESS_CAP = 100


def find_anomalies(history: list[dict[str, Any]]) -> tuple[Anomalies, dict[str, Any]]:
    """Every anomaly found (uncapped) and the history's stats."""
    ix = build_index(history)
    read_analysis = analyse_reads(ix)
    found: Anomalies = {}
    merge(found, read_analysis.anomalies)
    merge(found, check_writes(ix, read_analysis.coverage))
    merge(found, check_txns(ix, read_analysis.skips))
    merge(found, check_pipelines(ix, read_analysis.coverage))
    merge(found, check_cycles(ix))
    stats = ix.stats.as_dict()
    stats["unknown_reason"] = unknown_reason(ix, found)
    return found, stats


def check(
    history: list[dict[str, Any]],
    mode: str,
    extra_anomalies: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Check a history against a mode's promise; see DESIGN.md "Results"."""
    check_mode(mode)
    with gc_paused():
        found, stats = find_anomalies(history)
    reason = stats.pop("unknown_reason")
    merge(found, {k: list(v) for k, v in (extra_anomalies or {}).items()})
    found = {k: v for k, v in found.items() if v}
    broken = sorted(n for n, ws in found.items() if any(violates(mode, n, w) for w in ws))
    warnings = sorted(n for n in found if rule(mode, n) == "W")
    allowed = sorted(n for n in found if n not in broken and n not in warnings)
    valid = verdict(broken, reason)
    return {
        "valid": valid,
        "unknown_reason": reason if valid == "unknown" else None,
        "mode": mode,
        "anomaly_types": sorted(found),
        "anomalies": {n: found[n][:WITNESS_CAP] for n in sorted(found)},
        "counts": {n: len(found[n]) for n in sorted(found)},
        "promised": promised(mode),
        "forbidden": broken,
        "allowed": allowed,
        "warnings": warnings,
        "stats": stats,
        "history_warnings": pairing_warnings(history),
    }
