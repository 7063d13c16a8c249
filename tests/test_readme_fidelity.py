"""The README's fidelity table is generated from tests/fidelity and kept in step with it."""

from __future__ import annotations

from pathlib import Path

from sim.docs import fidelity_rows, fidelity_table

ROOT = Path(__file__).resolve().parents[1]


def test_every_fidelity_test_names_a_fact_and_its_kafka_source() -> None:
    rows = fidelity_rows()
    assert len(rows) >= 8
    assert all(source.split(",")[0].endswith((".java", ".scala")) for _, source, _ in rows)


def test_readme_shows_the_current_fidelity_table() -> None:
    assert fidelity_table() in (ROOT / "README.md").read_text(), (
        "README is stale: run python -m sim.docs --only-fidelity"
    )
