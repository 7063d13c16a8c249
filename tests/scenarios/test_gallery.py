"""Every scenario of the gallery asserts the verdict the theory predicts (the README table is
generated from the same definitions by ``python -m sim.docs``)."""

from __future__ import annotations

import pytest

from sim.scenarios import SCENARIOS, run_scenario


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_confirms_its_claim(name: str) -> None:
    result = run_scenario(SCENARIOS[name])
    assert result["confirmed"], (
        f"{name}: expected {result.get('expected')}, observed {result.get('observed')}, notes {result.get('notes')}"
    )


def test_every_real_bug_scenario_names_its_ticket() -> None:
    bugs = [
        s
        for s in SCENARIOS.values()
        if s.name.endswith(("-v1", "-v2")) or "KAFKA" in s.ticket or "#" in s.ticket
    ]
    assert len(bugs) >= 7
    assert all(s.ticket for s in bugs)


def test_failing_cases_point_at_history_indices() -> None:
    result = run_scenario(SCENARIOS["two-generals"], seeds=2)
    lines = [line for lines in result["witnesses"].values() for line in lines]
    assert lines and all("op " in line for line in lines)


def test_every_scenario_has_a_runnable_example_file() -> None:
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    for name in SCENARIOS:
        path = examples / (name.replace("-", "_") + ".py")
        assert path.is_file() and f'main("{name}")' in path.read_text(), name
