"""Known-bug switches: each bug is caught by at least one checker within 20 seeds, and the same
campaign without the bug is clean."""

from __future__ import annotations

import pytest

from sim.bugs import BUGS
from sim.scenarios.bug_matrix import MATRIX, catching, run_campaign


def test_matrix_covers_every_bug_switch() -> None:
    assert {e.bug for e in MATRIX} == set(BUGS)


@pytest.mark.parametrize("entry", MATRIX, ids=lambda e: e.bug)
def test_bug_is_caught_and_clean_without_it(entry) -> None:  # type: ignore[no-untyped-def]
    seeds = range(20)
    buggy = run_campaign(entry, seeds, with_bug=True)
    caught = catching(buggy, entry.catches)
    assert caught, f"{entry.bug} never caught by {entry.catches}: {buggy}"
    # Without the bug the very same seeds and faults are clean: the mode keeps its promise.
    clean = run_campaign(entry, seeds, with_bug=False)
    invalid = {s: names for s, names in clean.items() if "INVALID" in names}
    assert not invalid, f"false positives without {entry.bug}: {invalid}"
