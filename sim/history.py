"""The Jepsen-style history: invoke, then exactly one ok/fail/info per op (DESIGN.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from simpy import Environment

NEMESIS = "nemesis"

# One history line: json.dumps's output (the same bytes) without its circular-reference check,
# which an op never needs (a tree of plain values the simulator built): ~17% less per op.
_encode_op = json.JSONEncoder(check_circular=False).encode


class History:
    """Appends ops in the order they happen; serialises to byte-stable JSON lines."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.ops: list[dict[str, Any]] = []
        self._pending: dict[Any, dict[str, Any]] = {}
        # (env.now, its rounded form): many ops share one instant. Any, not float: see _append
        self._clock: tuple[Any, Any] = (-1.0, 0.0)

    def _append(
        self, process: Any, type_: str, f: str, value: Any, extra: dict[str, Any]
    ) -> dict[str, Any]:
        # Any, not float: the first ops run at simpy's int 0, written "0"; compiled code
        # (sim.compiled) would turn a float-typed 0 into 0.0 and move the digests.
        now: Any = self.env.now
        clock = self._clock
        if clock[0] != now:
            clock = self._clock = (now, round(now, 6))
        ops = self.ops
        op = {
            "index": len(ops),
            "time": clock[1],
            "process": process,
            "type": type_,
            "f": f,
            "value": value,
            **extra,
        }
        ops.append(op)
        return op

    def invoke(self, process: Any, f: str, value: Any, **extra: Any) -> dict[str, Any]:
        return self.invoke_with(process, f, value, extra)

    def invoke_with(
        self, process: Any, f: str, value: Any, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """``invoke`` with the extra fields as one dict (hot paths reuse it for the completion)."""
        if process in self._pending:
            raise RuntimeError(
                f"process {process} invoked {f} while {self._pending[process]['f']} pending"
            )
        op = self._append(process, "invoke", f, value, extra)
        self._pending[process] = op
        return op

    def complete(self, process: Any, type_: str, value: Any, **extra: Any) -> dict[str, Any]:
        return self.complete_with(process, type_, value, extra)

    def complete_with(
        self, process: Any, type_: str, value: Any, extra: dict[str, Any]
    ) -> dict[str, Any]:
        invoke = self._pending.pop(process)
        return self._append(process, type_, invoke["f"], value, extra)

    def pending(self, process: Any) -> dict[str, Any] | None:
        return self._pending.get(process)

    def nemesis(self, f: str, value: Any) -> dict[str, Any]:
        return self._append(NEMESIS, "info", f, value, {})

    def lines(self) -> list[str]:
        return [_encode_op(op) for op in self.ops]

    def text(self) -> str:
        """The history file's text: one JSON line per op, each ending in a newline."""
        lines = self.lines()
        return "\n".join(lines) + "\n" if lines else ""

    def digest(self) -> str:
        return digest_of(self.text())


def digest_of(text: str) -> str:
    """A run's digest: the sha256 of its history file (``text``, as ``History.text`` wrote it)."""
    return hashlib.sha256(text.encode()).hexdigest()
