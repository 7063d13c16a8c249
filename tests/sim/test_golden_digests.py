"""Golden digests: a fixed set of runs whose history digests must not move by accident.

A refactoring (the layout move, a speed-up) must leave every history byte for byte; this test
holds that line across every mode, every workload and most nemeses. A *deliberate* model change
(a fidelity fix) moves digests: regenerate them with

    python tests/sim/test_golden_digests.py --update

and say in the commit which change moved them and why.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sim.config import Config, from_mapping
from sim.runs.runner import simulate

GOLDEN = Path(__file__).with_name("golden_digests.json")
SHORT = {"time_limit": 6.0, "convergence": 2.0, "nemesis_interval": 0.4}

CASES: dict[str, Config] = {
    "alo-drop-acks-kill-broker": Config(
        mode="at-least-once", nemesis=("drop-acks", "kill-broker"), **SHORT
    ),
    "alo-acks1-partition": Config(
        mode="at-least-once", acks="1", nemesis=("partition-halves", "partition-leader"), **SHORT
    ),
    "idem-messages": Config(
        mode="idempotent", nemesis=("duplicate", "reorder", "delay", "drop-requests"), **SHORT
    ),
    "idem-produce-only": Config(
        mode="idempotent", workload="produce", nemesis=("partition-node",), **SHORT
    ),
    "idem-bump-and-retry": from_mapping(
        {"client.oos": "bump-and-retry"},
        Config(mode="idempotent", nemesis=("drop-acks", "kill-broker"), **SHORT),
    ),
    "txn-crashes": Config(
        mode="transactional",
        nemesis=("crash-producer", "pause-client", "start-zombie", "kill-coordinator"),
        **SHORT,
    ),
    "txn-v1-delay-request": Config(
        mode="transactional", txn_protocol="v1", nemesis=("delay-request",), **SHORT
    ),
    "txn-partitions": Config(
        mode="transactional",
        nemesis=("partition-ring", "partition-bridge", "partition-one-way", "partition-controller"),
        **SHORT,
    ),
    "ctp-crash-consumer": Config(
        mode="transactional",
        workload="ctp",
        nemesis=("crash-consumer", "kill-group-coordinator"),
        **SHORT,
    ),
    "sink-blind": from_mapping(
        {"sink": "blind"},
        Config(mode="transactional", workload="sink", nemesis=("crash-consumer",), **SHORT),
    ),
    "swarm": Config(mode="transactional", swarm=True, **SHORT),
    "open-loop-sticky": from_mapping(
        {"workload.arrivals": "open", "workload.partitioner": "sticky"},
        Config(mode="idempotent", linger_ms=20.0, nemesis=("kill-broker",), **SHORT),
    ),
}
SEEDS = (0, 7)


def digest(name: str, seed: int) -> str:
    world, _, _ = simulate(CASES[name], seed)
    return world.history.digest()


def test_every_case_has_a_golden_digest() -> None:
    golden = json.loads(GOLDEN.read_text())
    assert sorted(golden) == sorted(f"{name}@{seed}" for name in CASES for seed in SEEDS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_digest_is_unchanged(name: str) -> None:
    golden = json.loads(GOLDEN.read_text())
    for seed in SEEDS:
        assert digest(name, seed) == golden[f"{name}@{seed}"], f"{name} seed {seed} moved"


def test_progress_reporting_does_not_change_the_history() -> None:
    """The progress ticks of a long run are events of their own: the model must not see them."""
    golden = json.loads(GOLDEN.read_text())
    for name in ("txn-crashes", "ctp-crash-consumer"):
        ticks: list[float] = []
        world, _, _ = simulate(
            CASES[name], 0, progress=lambda now, end, ticks=ticks: ticks.append(now)
        )
        assert len(ticks) > 100
        assert world.history.digest() == golden[f"{name}@0"]


if __name__ == "__main__":
    if "--update" not in sys.argv:
        sys.exit("usage: python tests/sim/test_golden_digests.py --update")
    table = {f"{name}@{seed}": digest(name, seed) for name in sorted(CASES) for seed in SEEDS}
    GOLDEN.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(table)} digests to {GOLDEN}")
