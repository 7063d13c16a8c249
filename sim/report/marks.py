"""What the plots mark besides the data: anomaly witnesses and the convergence window.

Pure data, no matplotlib: read from results.json and config.toml, bounded so a run with 10k
witnesses costs the plots no more than one with ten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.report.model import Op

MAX_MARKED_WITNESSES = 200  # witnesses per anomaly type whose ops are marked on the plots


@dataclass(frozen=True)
class AnomalyMarks:
    """One anomaly type: how many witnesses the checker reported, and the history indices of
    (at most ``MAX_MARKED_WITNESSES`` of) their ops."""

    name: str
    count: int
    forbidden: bool
    indices: tuple[int, ...]

    @property
    def label(self) -> str:
        """Legend text, e.g. "lost-write (239)" or "duplicate-delivery (16, allowed)"."""
        return (
            f"{self.name} ({self.count})"
            if self.forbidden
            else f"{self.name} ({self.count}, allowed)"
        )


@dataclass(frozen=True)
class Convergence:
    """The client workload stops at ``start`` (config "time-limit"); every fault has healed by
    then. The run stays quiet for "convergence" seconds, then fresh readers read every log
    (``final_reads``)."""

    start: float
    final_reads: float


def anomaly_marks(
    results: Mapping[str, Any], cap: int = MAX_MARKED_WITNESSES
) -> list[AnomalyMarks]:
    """One entry per anomaly type in ``results["anomalies"]``, forbidden types first.

    A type is forbidden if results lists it under "forbidden"; without that list, one listed under
    "allowed" is allowed and every other type forbidden. The count is results["counts"][type]
    when given (results may keep only the first witnesses), else the number of witnesses.
    """
    anomalies = results.get("anomalies")
    if not isinstance(anomalies, dict):
        return []
    forbidden_list, allowed_list = results.get("forbidden"), results.get("allowed")
    counts = results.get("counts")
    counts = counts if isinstance(counts, dict) else {}
    out: list[AnomalyMarks] = []
    for name, items in anomalies.items():
        items = items if isinstance(items, list) else []
        if isinstance(forbidden_list, list):
            forbidden = name in forbidden_list
        else:
            forbidden = not (isinstance(allowed_list, list) and name in allowed_list)
        indices: dict[int, None] = {}
        for item in items[:cap]:
            ops = item.get("ops") if isinstance(item, dict) else None
            for i in ops if isinstance(ops, list) else []:
                if isinstance(i, int) and not isinstance(i, bool):
                    indices[i] = None
        count = counts.get(name)
        count = count if isinstance(count, int) and count >= len(items) else len(items)
        out.append(AnomalyMarks(str(name), count, forbidden, tuple(indices)))
    out.sort(key=lambda m: (not m.forbidden, m.name))
    return out


def convergence_from_config(path: Path) -> Convergence | None:
    """The convergence window from a store's config.toml, or None without one (or without a
    numeric "time-limit")."""
    if not path.exists():
        return None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return None
    limit, quiet = _number(config.get("time-limit")), _number(config.get("convergence"))
    if limit is None:
        return None
    return Convergence(limit, limit + (quiet or 0.0))


def _number(x: Any) -> float | None:
    """A finite, non-negative number as a float, else None."""
    if isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x < float("inf"):
        return float(x)
    return None


def witness_ops(ops: Sequence[Op], marks: Sequence[AnomalyMarks]) -> dict[int, Op]:
    """The op each marked history index belongs to (an index may be an invoke or a completion)."""
    wanted = {i for m in marks for i in m.indices}
    if not wanted:
        return {}
    return {i: o for o in ops for i in o.indices if i in wanted}
