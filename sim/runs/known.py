"""Known real classes: failures that real Kafka has too, recognised from what the simulator saw.

A failing run is a finding either way, but a reader (and the search benchmark's false-positive
side) must tell "the model is wrong" from "Kafka does this". The checker cannot: a history says
a value was written twice, not why. The simulator can, after the run: its logs keep each
record's producer id, epoch and sequence, and it notes what no client could know (whether the
broker that answered a consumer was a stale leader). Three classes are recognised:

- ``renumbered-after-landing`` (duplicate): an idempotent producer's value written twice by one
  producer id under two epochs, outside any transaction. Only the client's local epoch bump
  renumbers a batch (TransactionManager.bumpIdempotentProducerEpoch ->
  startSequencesAtBeginning), and a batch written under the old epoch and renumbered under the
  new one is appended again: the KAFKA-14034 family, shown by the ``first-batch-oos-duplicate``
  scenario (and, with librdkafka's bump on every timeout, by ``epoch-bump-duplicate``). A
  broker that forgot a producer's sequence writes the second copy under the *same* epoch, so a
  model or broker bug of that kind is not mistaken for this class.
- ``stale-leader-reset`` (pipeline-duplicate): a consumer reset its position
  on an input partition after OFFSET_OUT_OF_RANGE from a stale leader (a broker cut off from the
  controller still leads with its old epoch and a shorter log), and processed the input again.
  The Java consumer resets on that error (FetchCollector.handleInitializeErrors ->
  requestOffsetResetIfPartitionAssigned); KIP-320 would keep it off the stale leader only if
  the committed offset carried its leader epoch (ClassicKafkaConsumer.updateLastSeenEpochIfNewer),
  which neither Kafka's exactly-once example (ExactlyOnceMessageProcessor.getOffsetsToCommit)
  nor Kafka Streams (StreamTask.committableOffsetsAndMetadata) commits. Shown by the
  ``stale-leader-reset`` scenario, whose ``client.commit-leader-epoch`` case (the application
  commits each offset with its record's epoch) does not have it.
- ``unclean-shutdown-last-isr`` (lost-write, inconsistent-offsets and the read/send orderings on
  that partition): a broker whose crash took records from its page cache was later
  elected leader, with a new leader epoch, as the partition's only ISR member. A fenced broker
  that is the last ISR member stays in the ISR (ReplicationControlManager: the ISR never
  empties) and is elected again once it registers; nothing records that its shutdown was
  unclean. That is the data loss KIP-966 (Eligible Leader Replicas, unclean shutdown
  detection) describes; releases without them (before 4.1 by default, or
  eligible.leader.replicas.version=0) have it, shown by the ``unclean-shutdown-last-isr``
  scenario. With them it is left only where every replica crashed and the last known leader
  is elected, as before 4.0. A broker that resumes its leadership with the *same* epoch (the
  kraft-duplicate-registration bug switch) is not this.

What triggered the condition (an OutOfOrderSequence, an unresolved expired batch, a partition
from the controller) is not checked here; the fidelity tests of those paths are what make the
trigger trustworthy.
"""

from __future__ import annotations

from typing import Any

from checkers.modes import violates
from sim.cluster.world import World

RENUMBERED = "renumbered-after-landing"
STALE_RESET = "stale-leader-reset"
UNCLEAN_SHUTDOWN = "unclean-shutdown-last-isr"
LOST_SUFFIX_LEADER = "leader-after-lost-suffix"  # the broker's observation (sim.cluster.broker)
# the scenarios that show each class
SCENARIOS_OF: dict[str, tuple[str, ...]] = {
    RENUMBERED: ("first-batch-oos-duplicate", "epoch-bump-duplicate"),
    STALE_RESET: ("stale-leader-reset",),
    UNCLEAN_SHUTDOWN: ("unclean-shutdown-last-isr",),
}
# what a leader elected without committed records breaks on its partition, and the fields
# that name each witness
LOST_SUFFIX_SHOWS = (
    "lost-write",
    "inconsistent-offsets",
    "duplicate",
    "nonmonotonic-send",
    "nonmonotonic-poll",
    "poll-skip",
    "int-poll-skip",
    "int-nonmonotonic-poll",
)
WITNESS_FIELDS = {"inconsistent-offsets": ("key", "offset")}
LABELS = ("class", "scenario")  # an item's other fields name the witness it explains


def known_classes(world: World, results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per forbidden anomaly, the witnesses a known real class explains, each named by the
    witness's own fields (``{"duplicate": [{"key", "value", "class", "scenario"}]}``,
    ``{"pipeline-duplicate": [{"key", "offset", ...}]}``); empty when none is."""
    out: dict[str, list[dict[str, Any]]] = {}
    anomalies = results.get("anomalies", {})

    def note(name: str, w: dict[str, Any], fields: tuple[str, ...], cls: str) -> None:
        item = {f: w.get(f) for f in fields}
        out.setdefault(name, []).append({**item, "class": cls, "scenario": _scenario(world, cls)})

    for w in anomalies.get("duplicate", []):
        if violates(results["mode"], "duplicate", w) and _renumbered(world, w["key"], w["value"]):
            note("duplicate", w, ("key", "value"), RENUMBERED)
    reset = {key for kind, key, _ in world.observations if kind == STALE_RESET}
    # only a pipeline's duplicate: its offsets go through sendOffsetsToTransaction, which
    # applications fill without a leader epoch; a plain consumer group's commitSync() and
    # auto-commit carry one (SubscriptionState.allConsumed), so there the reset is not Kafka's
    for w in anomalies.get("pipeline-duplicate", []):
        if violates(results["mode"], "pipeline-duplicate", w) and w.get("key") in reset:
            note("pipeline-duplicate", w, ("key", "offset"), STALE_RESET)
    cut = {key for kind, key, _ in world.observations if kind == LOST_SUFFIX_LEADER}
    for name in LOST_SUFFIX_SHOWS:
        for w in anomalies.get(name, []):
            if w.get("key") in cut and violates(results["mode"], name, w):
                note(name, w, WITNESS_FIELDS.get(name, ("key", "value")), UNCLEAN_SHUTDOWN)
    return out


def explained(results: dict[str, Any]) -> bool:
    """True if the run failed and every witness of every forbidden anomaly is one of a known
    real class (witnesses cut at the results' cap count as unexplained)."""
    if results.get("valid") is not False:
        return False
    return set(results.get("forbidden", [])) <= explained_types(results)


def excuses(results: dict[str, Any]) -> dict[str, list[str]]:
    """What a search needs to tell a run's own failure from a known real class's: the
    forbidden anomalies known classes fully explain, and which classes were seen."""
    classes = {i["class"] for items in results.get("known_real", {}).values() for i in items}
    return {"explained": sorted(explained_types(results)), "classes": sorted(classes)}


def explained_types(results: dict[str, Any]) -> set[str]:
    """The forbidden anomalies whose every breaking witness a known real class explains."""
    known = results.get("known_real", {})
    out = set()
    for name in results.get("forbidden", []):
        witnesses = results["anomalies"].get(name, [])
        if results.get("counts", {}).get(name, len(witnesses)) > len(witnesses):
            continue
        breaking = [w for w in witnesses if violates(results["mode"], name, w)]
        items = known.get(name, [])
        if breaking and all(any(_names(i, w) for i in items) for w in breaking):
            out.add(name)
    return out


def _scenario(world: World, cls: str) -> str | None:
    """The scenario that shows ``cls`` (a report's "see: eosim scenario run ..."), for this
    run's client: librdkafka's bump on every timeout renumbers as the Java client's
    OutOfOrderSequence path does."""
    names = SCENARIOS_OF[cls]
    if not names:
        return None
    bump_and_retry = world.config.external.get("client.oos") == "bump-and-retry"
    return names[1 if cls == RENUMBERED and bump_and_retry else 0]


def _names(item: dict[str, Any], w: dict[str, Any]) -> bool:
    return all(w.get(f) == v for f, v in item.items() if f not in LABELS)


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
