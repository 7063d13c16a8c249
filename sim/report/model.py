"""What the report draws, derived from a history alone: paired ops, nemesis windows, witnesses.

Kept free of plotting and HTML so the rules (especially how nemesis windows are found, which the
simulator must match) can be tested and reused on their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NEMESIS = "nemesis"
# A witness spanning longer than this (a write and a much later read) gets its message diagram
# drawn around its first op, the write: the whole span would be too many messages to read.
WIDE_WITNESS_S = 1.5
COMPLETIONS = ("ok", "fail", "info")

# Affixes that mark a nemesis op's phase when it has no explicit "phase" field.
_START_AFFIXES = (("start-", ""), ("", "-start"))
_STOP_AFFIXES = (
    ("stop-", ""),
    ("heal-", ""),
    ("end-", ""),
    ("", "-stop"),
    ("", "-heal"),
    ("", "-end"),
)


@dataclass(frozen=True)
class Op:
    """One client op: its invoke and (if any) completion, so it can be drawn as one box."""

    process: Any
    f: str
    invoke_index: int | None
    complete_index: int | None
    start: float
    end: float | None
    type: str  # ok | fail | info | pending (invoked, never completed)
    invoke_value: Any = None
    value: Any = None

    @property
    def indices(self) -> list[int]:
        """Every history index this op answers to (both ids get an anchor in the timeline)."""
        return [i for i in (self.invoke_index, self.complete_index) if i is not None]

    @property
    def first_index(self) -> int:
        """``min(indices)`` without building the list (every op has an invoke, a completion
        or both); the report sorts and filters tens of thousands of ops by it."""
        i, c = self.invoke_index, self.complete_index
        if i is None or c is None:
            first = c if i is None else i
            assert first is not None
            return first
        return i if i < c else c

    @property
    def latency(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass(frozen=True)
class Window:
    """A nemesis fault active over [start, end] (end == start for an instantaneous fault)."""

    start: float
    end: float
    label: str
    indices: tuple[int, ...] = field(default=())
    open_ended: bool = False  # no stop op and no "until": drawn to the end of the history
    target: str | None = None  # the node the fault hit, when it names one (e.g. "c1", "b0")

    @property
    def name(self) -> str:
        return self.label.split(" ", 1)[0]


ROLE_ORDER = ("producer", "txn-producer", "processor", "consumer", "client", "reader")


@dataclass(frozen=True)
class Lane:
    """One timeline column: a history process, and who it was (role and client node)."""

    process: Any
    role: str
    node: str | None = None

    @property
    def group(self) -> str:
        """Lanes of one client node share a heading: ``producer c1``."""
        return f"{self.role} {self.node}" if self.node else self.role

    @property
    def label(self) -> str:
        return f"{self.group} · process {self.process}"


def lanes_for(ops: Sequence[Op], results: Mapping[str, Any]) -> list[Lane]:
    """Label each process by the role eosim recorded in results["processes"]; a history from
    elsewhere gets a role inferred from what the process did (send, poll, txn)."""
    known = results.get("processes")
    known = known if isinstance(known, dict) else {}
    did: dict[Any, set[str]] = {}
    for o in ops:
        did.setdefault(o.process, set()).add(o.f)
    lanes = []
    for process, fs in did.items():
        entry = known.get(str(process))
        if isinstance(entry, dict) and isinstance(entry.get("role"), str):
            node = entry.get("node")
            lanes.append(Lane(process, entry["role"], str(node) if node is not None else None))
        else:
            lanes.append(Lane(process, _inferred_role(fs)))
    return sorted(lanes, key=_lane_key)


def _inferred_role(fs: set[str]) -> str:
    if "txn" in fs:
        return "client"
    if fs & {"poll", "subscribe", "assign"}:
        return "consumer"
    return "producer" if "send" in fs else "client"


def _lane_key(lane: Lane) -> tuple[int, int, str, int, float, str]:
    role = ROLE_ORDER.index(lane.role) if lane.role in ROLE_ORDER else len(ROLE_ORDER)
    node = lane.node or ""
    digits = node.lstrip("abcdefghijklmnopqrstuvwxyz")
    number = int(digits) if digits.isdigit() else -1
    p = lane.process
    numeric = isinstance(p, int | float) and not isinstance(p, bool)
    return (role, number, node, 0 if numeric else 1, float(p) if numeric else 0.0, str(p))


@dataclass(frozen=True)
class Witness:
    anomaly: str
    ops: tuple[int, ...]
    details: dict[str, Any]


def load_history(path: Path) -> list[dict[str, Any]]:
    """Read history.jsonl, skipping blank lines; keep file order (it is the order of events)."""
    ops: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if line.strip():
                op = json.loads(line)
                op.setdefault("index", n)
                ops.append(op)
    return ops


def load_config(path: Path) -> dict[str, Any]:
    """config.toml, when the store has one (a history checked elsewhere has none)."""
    if not path.exists():
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def load_results(path: Path) -> dict[str, Any]:
    """results.json is optional: a history checked elsewhere can still get a timeline."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def is_nemesis(op: Mapping[str, Any]) -> bool:
    return op.get("process") == NEMESIS


def pair_ops(history: Iterable[Mapping[str, Any]]) -> list[Op]:
    """Pair each client invoke with its process's next completion (one pending op per process)."""
    pending: dict[Any, Mapping[str, Any]] = {}
    ops: list[Op] = []
    for raw in history:
        if is_nemesis(raw):
            continue
        proc = _process_key(raw.get("process"))
        kind = raw.get("type")
        if kind == "invoke":
            if proc in pending:  # malformed: a second invoke; close the first as pending
                ops.append(_pending_op(pending.pop(proc)))
            pending[proc] = raw
        elif kind in COMPLETIONS:
            ops.append(_completed_op(pending.pop(proc, None), raw))
    ops.extend(_pending_op(inv) for inv in pending.values())
    ops.sort(key=lambda o: (o.start, o.first_index))
    return ops


def _process_key(process: Any) -> Any:
    return json.dumps(process) if isinstance(process, list | dict) else process


def _completed_op(invoke: Mapping[str, Any] | None, done: Mapping[str, Any]) -> Op:
    start = float(invoke["time"]) if invoke else float(done["time"])
    return Op(
        process=done.get("process"),
        f=str(done.get("f", invoke.get("f", "") if invoke else "")),
        invoke_index=int(invoke["index"]) if invoke else None,
        complete_index=int(done["index"]),
        start=start,
        end=float(done["time"]),
        type=str(done["type"]),
        invoke_value=invoke.get("value") if invoke else None,
        value=done.get("value"),
    )


def _pending_op(invoke: Mapping[str, Any]) -> Op:
    return Op(
        process=invoke.get("process"),
        f=str(invoke.get("f", "")),
        invoke_index=int(invoke["index"]),
        complete_index=None,
        start=float(invoke["time"]),
        end=None,
        type="pending",
        invoke_value=invoke.get("value"),
    )


def nemesis_phase(op: Mapping[str, Any]) -> tuple[str | None, str]:
    """Return (phase, base name): phase is "start", "stop" or None (a one-off or self-timed op).

    An explicit ``"phase"`` (top level, or inside a dict value) wins and f is the name as is
    (so a nemesis called "start-zombie" keeps its name); otherwise the f name's
    affix decides: ``start-X``/``X-start`` start X; ``stop-X``/``heal-X``/``end-X`` and the
    ``-stop``/``-heal``/``-end`` suffixes stop X.
    """
    f = str(op.get("f", ""))
    value = op.get("value")
    phase = op.get("phase")
    if phase is None and isinstance(value, dict):
        phase = value.get("phase")
    if phase in ("start", "stop"):
        return str(phase), f
    for phase_name, affixes in (("start", _START_AFFIXES), ("stop", _STOP_AFFIXES)):
        base = _strip_affix(f, affixes)
        if base:
            return phase_name, base
    return None, f


def _strip_affix(f: str, affixes: Sequence[tuple[str, str]]) -> str | None:
    for prefix, suffix in affixes:
        if prefix and f.startswith(prefix) and len(f) > len(prefix):
            return f[len(prefix) :]
        if suffix and f.endswith(suffix) and len(f) > len(suffix):
            return f[: -len(suffix)]
    return None


def _pair_key(op: Mapping[str, Any], base: str) -> str:
    """A start and its stop share value["fault"] if given, else the base name and target."""
    value = op.get("value")
    if isinstance(value, dict) and value.get("fault") is not None:
        return json.dumps(["fault", value["fault"]])
    target = value.get("target") if isinstance(value, dict) else None
    return json.dumps([base, target], default=str)


def _until(op: Mapping[str, Any]) -> float | None:
    value = op.get("value")
    if isinstance(value, dict) and isinstance(value.get("until"), int | float):
        return float(value["until"])
    return None


def _label(op: Mapping[str, Any], base: str) -> str:
    value = op.get("value")
    target = value.get("target") if isinstance(value, dict) else None
    label = base if target is None else f"{base} {_short(target, 40)}"
    if isinstance(value, dict) and value.get("skipped"):
        label += f" (skipped: {value['skipped']})"
    return label


def nemesis_windows(history: Sequence[Mapping[str, Any]]) -> list[Window]:
    """Find the intervals during which each nemesis fault was active.

    Rule (the simulator emits ops matching it): a nemesis op's phase comes from ``nemesis_phase``.
    A start opens a window keyed by value["fault"] (or by base name + value["target"]); a repeat
    start for an open key is ignored (Jepsen logs invoke and completion of one nemesis op), and a
    stop closes the open window with its key (a stop with none open is ignored). A window never
    closed ends at value["until"] if the start had one, else at the end of the history. An op with
    no phase spans [time, value["until"]] if it has "until", else it is an instant.
    """
    end_of_history = max((float(op["time"]) for op in history), default=0.0)
    open_: dict[str, tuple[Mapping[str, Any], str]] = {}
    windows: list[Window] = []
    for op in history:
        if not is_nemesis(op):
            continue
        phase, base = nemesis_phase(op)
        time, index = float(op["time"]), int(op["index"])
        if phase is None:
            end = _until(op)
            windows.append(
                Window(
                    time,
                    max(time, end if end is not None else time),
                    _label(op, base),
                    (index,),
                    target=_target(op),
                )
            )
            continue
        key = _pair_key(op, base)
        if phase == "start" and key not in open_:
            open_[key] = (op, base)
        elif phase == "stop" and key in open_:
            start_op, start_base = open_.pop(key)
            windows.append(_window(start_op, start_base, time, (index,)))
    for start_op, start_base in open_.values():
        until = _until(start_op)
        end = until if until is not None else end_of_history
        windows.append(_window(start_op, start_base, end, (), open_ended=until is None))
    windows.sort(key=lambda w: (w.start, w.end, w.indices))
    return windows


def _window(
    start_op: Mapping[str, Any],
    base: str,
    end: float,
    extra: tuple[int, ...],
    open_ended: bool = False,
) -> Window:
    start = float(start_op["time"])
    return Window(
        start,
        max(start, end),
        _label(start_op, base),
        (int(start_op["index"]), *extra),
        open_ended,
        _target(start_op),
    )


def _target(op: Mapping[str, Any]) -> str | None:
    value = op.get("value")
    target = value.get("target") if isinstance(value, dict) else None
    return target if isinstance(target, str) else None


def witnesses(results: Mapping[str, Any], per_anomaly: int = 100) -> list[Witness]:
    """Flatten results["anomalies"] into witnesses, capped per anomaly to bound the page."""
    anomalies = results.get("anomalies")
    if not isinstance(anomalies, dict):
        return []
    out: list[Witness] = []
    for name, items in anomalies.items():
        for item in (items if isinstance(items, list) else [])[:per_anomaly]:
            if not isinstance(item, dict):
                continue
            raw_ops = item.get("ops")
            ops = tuple(
                i for i in (raw_ops if isinstance(raw_ops, list) else []) if isinstance(i, int)
            )
            details = {k: v for k, v in item.items() if k != "ops"}
            out.append(Witness(str(name), ops, details))
    return out


def anomaly_counts(results: Mapping[str, Any]) -> dict[str, int]:
    """The true totals (results["counts"], as the terminal prints them), not the number of
    witnesses results.json kept."""
    counts = results.get("counts")
    if isinstance(counts, dict) and counts:
        return {str(k): int(v) for k, v in counts.items() if isinstance(v, int)}
    anomalies = results.get("anomalies")
    if not isinstance(anomalies, dict):
        return {}
    return {str(k): len(v) if isinstance(v, list) else 0 for k, v in anomalies.items()}


def select_ops(ops: Sequence[Op], cap: int, keep: set[int]) -> tuple[list[Op], int]:
    """Keep ops whose invoke falls among the first ``cap`` history lines, plus any in ``keep``.

    Returns (kept ops, number of ops dropped).
    """
    kept = [o for o in ops if o.first_index < cap or (keep and not keep.isdisjoint(o.indices))]
    return kept, len(ops) - len(kept)


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_json(value: Any, limit: int = 300) -> str:
    """Compact JSON for hover titles, truncated so 20k ops keep the page small."""
    return _short(value, limit)
