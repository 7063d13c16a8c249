"""Shared helpers for eosim's tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The suite runs the model as plain Python even where a compiled core is built (sim.compiled):
# its tests subclass and monkeypatch model classes, which compiled classes refuse, and a stale
# cache must not decide what a test sees. tests/sim/test_compiled.py checks the compiled core.
# (EOSIM_TEST_COMPILED=1: that test's own run of the checker tests on the compiled core.)
if not os.environ.get("EOSIM_TEST_COMPILED"):
    os.environ["EOSIM_PURE_PYTHON"] = "1"

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
