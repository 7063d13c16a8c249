"""Where a history came from, read from the history itself: its file format, and which
delivery mode to judge it by when nobody said.

Judging an at-least-once history by transactional promises reports duplicates that the run
never promised to avoid; so without an explicit mode the evidence decides, and the caller is
told which mode was assumed and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

EDN_SUFFIXES = (".edn",)


def detect_format(path: Path) -> str:
    """``jepsen-edn`` for a ``.edn`` file or text that opens like EDN (``{:``, ``[``, ``(``),
    else ``jsonl``."""
    if path.suffix.lower() in EDN_SUFFIXES:
        return "jepsen-edn"
    try:
        with path.open("rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return "jsonl"
    start = head.lstrip()
    if start.startswith(("{:", "[", "(", "#")):
        return "jepsen-edn"
    return "jsonl"


def infer_mode(ops: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    """(mode, why): transactional when the history has transactions, idempotent when its
    sends carry a producer id, else at-least-once (the weakest promise: no false alarms)."""
    saw_pid = False
    for op in ops:
        if op.get("f") == "txn" and op.get("type") != "invoke":
            return "transactional", "the history has transactions"
        if op.get("f") == "send" and op.get("pid") is not None:
            saw_pid = True
    if saw_pid:
        return "idempotent", "its sends carry producer ids but it has no transactions"
    return "at-least-once", "it has no transactions and no producer ids"
