"""One sentence per anomaly name, for people reading a report rather than the checker's code.

The wording follows DESIGN.md's anomaly table; a report puts it next to the count so a reader
who has never seen the name knows what went wrong before reading a witness.
"""

from __future__ import annotations

MEANINGS: dict[str, str] = {
    "lost-write": "a write the producer was told succeeded is missing from the log, although "
    "consumers read past where it should be",
    "duplicate": "one value was written to the log more than once (at two offsets)",
    "inconsistent-offsets": "two reads saw different values at the same offset: the log "
    "diverged, e.g. a leader was truncated after consumers had read from it",
    "nonmonotonic-poll": "one consumer session read a partition backwards (an offset below one "
    "it had already read)",
    "poll-skip": "one consumer session jumped over offsets it should have read",
    "int-poll-skip": "one poll skipped offsets within the same partition",
    "int-nonmonotonic-poll": "one poll returned a partition's offsets out of order",
    "int-send-skip": "two sends of one op to a partition landed with other values between them",
    "int-nonmonotonic-send": "two sends of one op to a partition landed in reverse order",
    "nonmonotonic-send": "one producer session's acknowledged offsets on a partition went "
    "backwards (a retry overtook a later send)",
    "precommitted-read": "a transaction read its own write before committing",
    "G1a": "a read saw a value written by an aborted transaction (aborted read)",
    "uncommitted-read": "a read_committed consumer saw a value before its transaction committed",
    "fractured-read": "a consumer saw some but not all of one committed transaction's writes",
    "zombie-write": "a fenced (older epoch) producer still got a write into the log",
    "duplicate-delivery": "a consumer group processed the same offset more than once "
    "(redelivery after a rebalance or restart)",
    "pipeline-duplicate": "one input record produced more than one committed output",
    "pipeline-loss": "an input's offset was committed without its output",
    "external-duplicate": "a side effect outside Kafka (a database write) was applied twice",
    "G0": "transactions' writes form a cycle (write-write dependencies)",
    "G1c": "transactions form a cycle of write-read dependencies",
    "unseen": "acknowledged writes were never read by the end of the run",
    "stalled": "after every fault healed, something made no progress within the convergence "
    "window (e.g. a transaction left hanging)",
}


def meaning(name: str) -> str:
    """The sentence for ``name``; an anomaly from elsewhere (a Jepsen history) gets none."""
    return MEANINGS.get(name, "")
