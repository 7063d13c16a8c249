"""Jepsen's test-history shorthand, in EDN, read through ``eosim check --format jepsen-edn``'s
loader, so every translated case also exercises the conversion of Jepsen's files.

``J.o(process, type, f, value)`` mirrors the ``o`` helper of Jepsen's ``kafka_test.clj``
(``:time`` is the op's Jepsen index, as there). Jepsen's ``h/history`` renumbers ops densely, so
an op's eosim index is its position, which ``o`` returns.
"""

from __future__ import annotations

from typing import Any

import checkers
from checkers.edn import parse_edn_text


class J:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def o(self, process: Any, type_: str, f: str, value: str, time: int | None = None) -> int:
        """Append one op; ``value`` is EDN text, e.g. ``"[[:send :x [0 :a]]]"``."""
        i = len(self.lines)
        p = "nil" if process is None else str(process)
        t = i if time is None else time
        self.lines.append(f"{{:time {t}, :process {p}, :type :{type_}, :f :{f}, :value {value}}}")
        return i

    def raw(self, edn_map: str) -> int:
        """An op map exactly as Jepsen's test writes it (e.g. without :process or :time)."""
        self.lines.append(edn_map)
        return len(self.lines) - 1

    def ops(self) -> list[dict[str, Any]]:
        return parse_edn_text("\n".join(self.lines) + "\n", source="jepsen-test.edn")

    def check(self, mode: str = "transactional") -> dict[str, Any]:
        return checkers.check(self.ops(), mode)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def errors(results: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The witnesses eosim reports under Jepsen's error name (uncapped in these small cases)."""
    return list(results["anomalies"].get(name, []))


def pick(ws: list[dict[str, Any]], *fields: str) -> list[dict[str, Any]]:
    """Only the fields a Jepsen assertion names, so each test compares what Jepsen compares."""
    return [{f: w.get(f) for f in fields} for w in ws]
