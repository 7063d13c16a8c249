"""BUGGIFY (sim/cluster/buggify.py): rare but legal paths, enabled per run from the seed. They
must never make a correct Kafka look wrong, and must cost nothing when off."""

from __future__ import annotations

import pytest

from sim.cluster.buggify import SITES
from sim.config import Config, from_mapping
from sim.runs.runner import run

SMALL = {"time-limit": 4, "convergence": 2}


def test_off_by_default_and_off_draws_nothing() -> None:
    plain = run(Config(time_limit=4, convergence=2), 3)
    off = run(from_mapping({**SMALL, "sim.buggify": False}), 3)
    assert plain.world is not None and plain.world.buggify is None
    assert plain.digest == off.digest
    assert "buggify" not in plain.results["stats"]


def test_each_run_enables_its_own_sites_from_the_seed() -> None:
    config = from_mapping({**SMALL, "sim.buggify": True})
    enabled = []
    for seed in range(12):
        stats = run(config, seed).results["stats"]["buggify"]
        enabled.append(tuple(site for site, fired in stats.items() if fired is not None))
    assert len(set(enabled)) > 1  # different seeds, different sites
    assert run(config, 5).digest == run(config, 5).digest  # and one seed, one run


@pytest.mark.parametrize("mode", ["at-least-once", "idempotent", "transactional"])
def test_every_site_on_keeps_the_newest_release_correct(mode: str) -> None:
    """Each site is a path real Kafka takes (a late answer, an empty fetch, a
    CONCURRENT_TRANSACTIONS the client retries): with all of them on, under lost acks and
    broker kills, no mode reports anything forbidden, and every site that applies fired.

    Kafka: clients/src/main/java/org/apache/kafka/clients/producer/internals/TransactionManager.java,
    AddPartitionsToTxnHandler.handleResponse (CONCURRENT_TRANSACTIONS is retried)
    """
    config = from_mapping({**SMALL, "mode": mode, "sim.buggify-all": True,
                           "nemesis": "drop-acks,kill-broker"})  # fmt: skip
    fired = dict.fromkeys(SITES, 0)
    for seed in range(6):
        results = run(config, seed).results
        assert results["valid"] is not False, (seed, results["forbidden"])
        for site, n in results["stats"]["buggify"].items():
            fired[site] += n or 0
    assert fired["slow-response"] > 0 and fired["empty-fetch"] > 0
    assert (fired["concurrent-transactions"] > 0) == (mode == "transactional")
