"""sim.runs.known: a failure real Kafka has too is recognised, and only that one.

Kafka: clients/src/main/java/org/apache/kafka/clients/producer/internals/TransactionManager.java,
bumpIdempotentProducerEpoch -> startSequencesAtBeginning (the only renumbering of a batch: under
a new epoch, so a batch written before it is written again with another epoch), against
storage/src/main/java/org/apache/kafka/storage/internals/log/ProducerAppendInfo.java,
checkSequence (a broker without the producer's sequence appends a retried batch again under
the *same* epoch: the bug switches below).
"""

from __future__ import annotations

from sim.config import Config
from sim.runs.known import RENUMBERED, explained
from sim.runs.runner import run
from sim.scenarios import SCENARIOS
from sim.scenarios.bug_matrix import MATRIX


def test_the_java_clients_renumbered_duplicate_is_known_real() -> None:
    case = SCENARIOS["first-batch-oos-duplicate"].cases[0]
    results = run(case.config, 1, case.schedule(1)).results
    assert results["valid"] is False and results["forbidden"] == ["duplicate"]
    known = results["known_real"]["duplicate"]
    assert [(k["key"], k["value"], k["class"]) for k in known] == [("k5", 2, RENUMBERED)]
    assert known[0]["scenario"] == "first-batch-oos-duplicate"
    assert explained(results)


def test_a_duplicate_under_one_epoch_is_not_explained() -> None:
    """no-dedup (the broker appends a retried batch again) duplicates under the same epoch:
    the model's bug, not Kafka's, so it stays a plain failure."""
    entry = next(e for e in MATRIX if e.bug == "no-dedup")
    config = entry.config.replace(bugs=("no-dedup",))
    results = run(config, 0, entry.schedule(0)).results
    assert results["valid"] is False and "duplicate" in results["forbidden"]
    assert "known_real" not in results
    assert not explained(results)


def test_a_valid_run_or_a_partly_explained_one_is_not_explained() -> None:
    results = run(Config(mode="idempotent", time_limit=2.0), 0).results
    assert results["valid"] is True and not explained(results)
    case = SCENARIOS["first-batch-oos-duplicate"].cases[0]
    failing = run(case.config, 1, case.schedule(1)).results
    more = {**failing, "forbidden": ["duplicate", "lost-write"],
            "anomalies": {**failing["anomalies"], "lost-write": [{"key": "k0", "value": 1}]}}  # fmt: skip
    assert not explained(more)  # a lost write beside it is not of the class
    capped = {**failing, "counts": {"duplicate": 101}}
    assert not explained(capped)  # witnesses beyond the cap were not looked at
