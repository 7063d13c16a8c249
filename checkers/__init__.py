"""eosim's checkers: pure functions from a history (DESIGN.md) to a verdict.

Nothing here imports ``sim`` or ``faults``: a history file alone, eosim's or Jepsen's, is enough.
"""

from __future__ import annotations

from checkers.check import check
from checkers.edn import load_edn
from checkers.history import HistoryError, load_jsonl, parse_jsonl_lines
from checkers.modes import ANOMALY_NAMES, MODES, promises

__all__ = [
    "ANOMALY_NAMES",
    "MODES",
    "HistoryError",
    "check",
    "load_edn",
    "load_jsonl",
    "parse_jsonl_lines",
    "promises",
]
