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
    stalled = {**failing, "forbidden": ["duplicate", "stalled"],
               "anomalies": {**failing["anomalies"], "stalled": [{"what": "lso"}]}}  # fmt: skip
    assert not explained(stalled)  # a witness with no key or value is not of it either
    capped = {**failing, "counts": {"duplicate": 101}}
    assert not explained(capped)  # witnesses beyond the cap were not looked at


STALE_LEADER_RUN = {
    "config": {
        "mode": "transactional", "workload": "ctp", "time-limit": 6.0, "convergence": 3.0,
        "swarm": True, "kafka.version": "4.2", "external": {"workload.txn-think-ms": 300.0},
    },
    "seed": 100201,
    "schedule": [
        {"at": 0.0, "nemesis": "kill-coordinator", "duration": 2.957, "target": "coordinator"},
        {"at": 1.602, "nemesis": "partition-halves", "duration": 1.818, "target": "brokers"},
        {"at": 3.102, "nemesis": "partition-controller", "duration": 2.79,
         "target": "random-broker"},
    ],
}  # fmt: skip


def test_a_reset_after_a_stale_leaders_out_of_range_is_known_real() -> None:
    """A swarm run on the newest release (found as a clean twin of the search benchmark): b2,
    cut off from the controller, still leads in2 with its old epoch and a shorter log; a
    processor that just got in2 (committed offset 2, with no leader epoch) fetches there with
    its cached metadata, gets OFFSET_OUT_OF_RANGE, resets to the earliest offset and processes
    in2's first records again, committing them twice.

    Kafka: clients/src/main/java/org/apache/kafka/clients/consumer/internals/FetchCollector.java,
    handleInitializeErrors (OFFSET_OUT_OF_RANGE -> requestOffsetResetIfPartitionAssigned);
    ClassicKafkaConsumer.updateLastSeenEpochIfNewer (only a committed offset with a leader epoch
    moves the consumer off stale metadata); examples/.../ExactlyOnceMessageProcessor.java,
    getOffsetsToCommit (commits positions without one)."""
    from sim.config import from_mapping

    config = from_mapping(STALE_LEADER_RUN["config"])
    outcome = run(config, STALE_LEADER_RUN["seed"], STALE_LEADER_RUN["schedule"])
    results = outcome.results
    assert results["forbidden"] == ["pipeline-duplicate"]
    assert outcome.world is not None
    assert ("stale-leader-reset", "in2") in {(k, key) for k, key, _ in outcome.world.observations}
    known = results["known_real"]["pipeline-duplicate"]
    assert {(k["key"], k["offset"], k["class"]) for k in known} == {
        ("in2", 0, "stale-leader-reset"),
        ("in2", 1, "stale-leader-reset"),
    }
    assert {k["scenario"] for k in known} == {"stale-leader-reset"}  # the report's "see:"
    assert explained(results)
    # a reset answered under the partition's current leader epoch is not stale; one answered
    # under an older epoch is, even once that broker has stepped down
    world = outcome.world
    current = world.controller.partitions["in2"].leader_epoch
    seen = len(world.observations)
    world.note_offset_reset("in2", current)
    assert len(world.observations) == seen
    world.note_offset_reset("in2", current - 1)
    assert world.observations[seen:] == [("stale-leader-reset", "in2", world.env.now)]


def test_a_reset_is_stale_by_the_epoch_the_broker_answered_under() -> None:
    """A reset is judged stale by the leader epoch the broker answered OFFSET_OUT_OF_RANGE
    under, not by the one it has when the consumer reads the answer: here b2, cut off from the
    controller until 6.0 s, answers c3 at 5.92 s under epoch 0 (the controller is at 1), heals,
    steps down at 6.05 s, and only then does c3, which waits for all its fetches of one poll,
    read the answer and reset. Judged by b2's epoch at that moment (none: it no longer leads),
    the duplicate went unexplained.

    Kafka: clients/src/main/java/org/apache/kafka/clients/consumer/internals/FetchCollector.java,
    handleInitializeErrors (the reset does not depend on the leader still leading)."""
    from sim.scenarios.gallery import fault

    config = Config(mode="transactional", workload="ctp", kafka_version="4.2",
                    time_limit=6.0, convergence=3.0)  # fmt: skip
    schedule = [
        fault(0.1, "partition-controller", 5.9, "leader-of:in2"),
        fault(1.2, "crash-consumer", 0.1, "c2"),
        fault(4.2, "crash-consumer", 1.7, "c4"),
    ]
    results = run(config, 1, schedule).results
    assert results["forbidden"] == ["pipeline-duplicate"]
    assert {k["class"] for k in results["known_real"]["pipeline-duplicate"]} == {
        "stale-leader-reset"
    }
    assert explained(results)


LAST_ISR_RUN = {
    "config": {
        "mode": "idempotent", "time-limit": 5.0, "convergence": 3.0, "kafka.version": "4.0",
        "external": {"controller.quorum.voters": 3, "sim.buggify": True},
    },
    "seed": 1080054,
    "schedule": [
        {"at": 0.541, "nemesis": "partition-node", "duration": 1.864, "target": "random-broker"},
        {"at": 1.358, "nemesis": "kill-controller", "duration": 1.152,
         "target": "controller-leader"},
        {"at": 1.823, "nemesis": "partition-halves", "duration": 0.851, "target": "brokers"},
        {"at": 3.026, "nemesis": "partition-node", "duration": 1.589, "target": "random-broker"},
        {"at": 3.671, "nemesis": "partition-node", "duration": 1.279, "target": "random-broker"},
        {"at": 4.36, "nemesis": "kill-broker", "duration": 0.59, "target": "random-broker",
         "params": {"lose-unflushed": True}},
    ],
}  # fmt: skip


def test_a_last_isr_member_elected_after_an_unclean_shutdown_is_known_real() -> None:
    """A guided run on a correct KRaft cluster (found as a clean twin of the search
    benchmark): b1 and b2 are cut off one after the other, b0 (the only ISR member left of k2)
    crashes losing its page cache, is fenced once its session expires, stays in the ISR as its
    last member, and is elected again on registering, without the acknowledged record at
    offset 2. Real Kafka does the same without KIP-966's Eligible Leader Replicas (4.0 by
    default; the run was found on 4.2 before the model had them); the observation needs a new
    leader epoch, so the kraft-duplicate-registration bug (resuming the old one) is not
    excused. On 4.1, where new clusters have them, the same run keeps every record.

    Kafka: metadata/src/main/java/org/apache/kafka/controller/ReplicationControlManager.java,
    handleBrokerFenced (a fenced broker leaves every ISR but one it is the last member of);
    KIP-966 (Eligible Leader Replicas: unclean shutdown detection is what is missing)."""
    from sim.config import from_mapping

    config = from_mapping(LAST_ISR_RUN["config"])
    outcome = run(config, LAST_ISR_RUN["seed"], LAST_ISR_RUN["schedule"])
    results = outcome.results
    assert results["forbidden"] == ["inconsistent-offsets", "lost-write", "nonmonotonic-send"]
    assert outcome.world is not None
    assert ("leader-after-lost-suffix", "k2") in {
        (k, key) for k, key, _ in outcome.world.observations
    }
    assert {(k["key"], k["class"]) for k in results["known_real"]["lost-write"]} == {
        ("k2", "unclean-shutdown-last-isr")
    }
    assert explained(results)
    fixed = run(config.replace(kafka_version="4.1"), LAST_ISR_RUN["seed"], LAST_ISR_RUN["schedule"])
    assert fixed.results["valid"] is True
    assert fixed.world is not None
    assert not any(k == "leader-after-lost-suffix" for k, _, _ in fixed.world.observations)
    # the bug switch's own schedule (a leader back within its session, old epoch) is not this
    entry = next(e for e in MATRIX if e.bug == "kraft-duplicate-registration")
    buggy = run(entry.config.replace(bugs=(entry.bug,)), 0, entry.schedule(0))
    assert buggy.results["valid"] is False and "known_real" not in buggy.results
    # on 4.1+ (ELR) the registration of a new incarnation takes it out of every ISR first
    masked = run(entry.config.replace(bugs=(entry.bug,), kafka_version="4.1"), 0, entry.schedule(0))
    assert masked.results["valid"] is True


def test_librdkafkas_bump_and_retry_duplicate_is_the_same_class_with_its_own_scenario() -> None:
    """librdkafka's drain-and-bump renumbers in-flight batches too (#4953): the same
    signature, pointed at the scenario that shows that client policy."""
    case = SCENARIOS["epoch-bump-duplicate"].cases[0]
    results = run(case.config, 0, case.schedule(0)).results
    assert results["valid"] is False and explained(results)
    assert {(k["class"], k["scenario"]) for k in results["known_real"]["duplicate"]} == {
        (RENUMBERED, "epoch-bump-duplicate")
    }


def test_an_acknowledged_record_lost_with_fsync_on_every_write_is_not_excused() -> None:
    """With log.flush.interval.messages=1 Kafka fsyncs before a record counts, so a power loss
    that takes an acknowledged record is the ack-before-flush bug, never Kafka's own
    unclean-shutdown class, even where the survivor is re-elected as the last ISR member.

    Kafka: storage/src/main/java/org/apache/kafka/storage/internals/log/UnifiedLog.java,
    append (flush when unflushedMessages >= flushInterval, before the append returns)."""
    entry = next(e for e in MATRIX if e.bug == "ack-before-flush")
    found = 0
    for seed in range(4):
        outcome = run(entry.config.replace(bugs=(entry.bug,)), seed, entry.schedule(seed))
        assert outcome.world is not None
        assert not any(k == "leader-after-lost-suffix" for k, _, _ in outcome.world.observations)
        if outcome.results["valid"] is False:
            found += 1
            assert not explained(outcome.results)
    assert found
