"""Warnings about a history's shape that do not stop it being checked.

Jepsen's Kafka checker accepts a completion with no matching invoke (its ``version-orders`` test
is made of such ops), so eosim checks those ops as they are and names each one here: a reader of
the results should know the history was not a clean invoke/complete sequence.
"""

from __future__ import annotations

from typing import Any

from checkers.micro import NEMESIS

WARNINGS_SHOWN = 20


def pairing_warnings(history: list[dict[str, Any]]) -> list[str]:
    """One line per client completion that had no pending invoke on its process."""
    pending: set[Any] = set()
    out: list[str] = []
    extra = 0
    for op in history:
        process = op["process"]
        if process == NEMESIS:
            continue
        if op["type"] == "invoke":
            pending.add(process)
        elif process in pending:
            pending.discard(process)
        elif len(out) < WARNINGS_SHOWN:
            out.append(
                f"op {op['index']} ({op['type']} {op['f']}, process {process}) completed "
                "without an invoke; checked as it is"
            )
        else:
            extra += 1
    if extra:
        out.append(f"... and {extra} more completion(s) without an invoke")
    return out
