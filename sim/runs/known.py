"""Known real classes: failures that real Kafka has too, recognised from the brokers' logs.

A failing run is a finding either way, but a reader (and the search benchmark's false-positive
side) must tell "the model is wrong" from "Kafka does this". The checker cannot: a history says
a value was written twice, not why. The simulator can, after the run, because its logs keep each
record's producer id, epoch and sequence. One class is recognised today:

- ``renumbered-after-landing``: an idempotent producer's value written twice by one producer id
  under two epochs, outside any transaction. Only the client's local epoch bump renumbers a
  batch (TransactionManager.bumpIdempotentProducerEpoch -> startSequencesAtBeginning), and a
  batch written under the old epoch and renumbered under the new one is appended again: the
  KAFKA-14034 family, shown by the ``first-batch-oos-duplicate`` scenario (and, with librdkafka's
  bump on every timeout, by ``epoch-bump-duplicate``). A broker that forgot a producer's
  sequence writes the second copy under the *same* epoch, so a model or broker bug of that kind
  is not mistaken for this class.

What triggered the bump (an OutOfOrderSequence, an unresolved expired batch) is not checked
here; the fidelity tests of those paths are what make the trigger trustworthy.
"""

from __future__ import annotations

from typing import Any

from checkers.modes import violates
from sim.cluster.world import World

RENUMBERED = "renumbered-after-landing"
SCENARIO_OF = {RENUMBERED: "first-batch-oos-duplicate"}


def known_classes(world: World, results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per forbidden anomaly, the witnesses a known real class explains: ``{"duplicate":
    [{"key", "value", "class"}]}``; empty when none is."""
    out: dict[str, list[dict[str, Any]]] = {}
    for w in results.get("anomalies", {}).get("duplicate", []):
        if violates(results["mode"], "duplicate", w) and _renumbered(world, w["key"], w["value"]):
            out.setdefault("duplicate", []).append(
                {
                    "key": w["key"],
                    "value": w["value"],
                    "class": RENUMBERED,
                    "scenario": SCENARIO_OF[RENUMBERED],
                }  # fmt: skip
            )
    return out


def explained(results: dict[str, Any]) -> bool:
    """True if the run failed and every witness of every forbidden anomaly is one of a known
    real class (witnesses cut at the results' cap count as unexplained)."""
    if results.get("valid") is not False:
        return False
    known = results.get("known_real", {})
    for name in results.get("forbidden", []):
        witnesses = results["anomalies"].get(name, [])
        if results.get("counts", {}).get(name, len(witnesses)) > len(witnesses):
            return False
        breaking = [w for w in witnesses if violates(results["mode"], name, w)]
        explained_here = {(k["key"], repr(k["value"])) for k in known.get(name, [])}
        if not breaking or any(
            (w["key"], repr(w["value"])) not in explained_here for w in breaking
        ):
            return False
    return True


def _renumbered(world: World, key: str, value: Any) -> bool:
    """Some replica holds ``value`` on ``key`` from one producer id under two epochs, outside
    transactions."""
    for name in sorted(world.brokers):
        log = world.brokers[name].logs.get(key)
        if log is None:
            continue
        epochs: dict[int, set[int]] = {}
        for r in log.records:
            if r.value == value and r.control is None and not r.txn and r.pid >= 0:
                epochs.setdefault(r.pid, set()).add(r.epoch)
        if any(len(e) > 1 for e in epochs.values()):
            return True
    return False
