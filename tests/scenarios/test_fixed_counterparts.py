"""Real-world bugs: each buggy (v1 / client-bug) case finds its anomaly within 20 seeds (the
gallery test), and each fixed counterpart stays clean over 200 seeds (here)."""

from __future__ import annotations

import pytest

from sim.scenarios import SCENARIOS
from sim.scenarios.base import run_case

FIXED = [
    ("delayed-endtxn-v2", "v2"),
    ("hanging-transaction-v2", "v2"),
    ("abort-marker-before-inflight-batch", "v2"),
    ("epoch-bump-duplicate", "keep the sequence (Java)"),
    ("timeout-retry-duplicate", "no resend"),
    ("late-marker", "4.2"),
]


@pytest.mark.parametrize(("name", "label"), FIXED)
def test_fixed_counterpart_is_clean_over_200_seeds(name: str, label: str) -> None:
    case = next(c for c in SCENARIOS[name].cases if c.label == label)
    assert case.absent, "a fixed counterpart must name what it rules out"
    result = run_case(case, 200)
    assert result.confirmed, (
        f"{name}/{label}: {result.observed} in seeds {result.failing_seeds[:10]}"
    )


@pytest.mark.parametrize(
    "name",
    [
        "delayed-endtxn-v1",
        "hanging-transaction-v1",
        "abort-marker-before-inflight-batch",
        "epoch-bump-duplicate",
        "timeout-retry-duplicate",
        "late-marker",
    ],
)
def test_buggy_case_is_found_within_20_seeds(name: str) -> None:
    case = SCENARIOS[name].cases[0]
    result = run_case(case, 20)
    assert result.failing_seeds and result.failing_seeds[0] < 20, result.observed
