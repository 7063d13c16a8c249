"""Known-bug switches: documented faults a real broker or client could have.

Each one weakens exactly one mechanism, so the checker that catches it proves that it can fail.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sim.config import did_you_mean
from sim.errors import UsageError

BUGS: dict[str, str] = {
    "no-dedup": "broker ignores producer sequence numbers: retried batches are appended again",
    "dedup-not-replicated": "producer state is kept on the leader only, so it is lost on failover",
    "no-epoch-fencing": "transaction coordinator does not fence older producer epochs",
    "lso-ignores-open-txn": "read_committed fetches read up to the high watermark, past open transactions",
    "abort-markers-skipped": "read_committed consumers ignore abort markers and see aborted data",
    "ack-before-replication": "acks=all is answered before the ISR has the batch",
    "unclean-truncation": "a follower keeps its divergent suffix instead of truncating to the leader",
    "offsets-outside-txn": "sendOffsetsToTransaction commits the offsets at once, outside the transaction",
    "lost-marker": "the commit marker is not written to one partition of a transaction",
    "ack-before-flush": "log.flush.interval.messages is honoured after the append returns (next tick), so a batch can be acknowledged before any replica fsynced it",
    "kraft-ack-before-commit": "the KRaft controller answers AlterPartition before the ISR change commits in the metadata log (a controller cut off from the quorum still lets a partition leader shrink its ISR to itself)",
    "kraft-duplicate-registration": "the KRaft controller accepts a restarted broker's registration while its old session is live (no DuplicateBrokerRegistrationException, no fencing first), so it resumes its leaderships with the log it came back with",
    "txn-timeout-aborts-prepared": "the coordinator's timeout scan aborts a transaction whose commit markers are being written (a forward clock jump makes it look expired)",
    "reassign-drops-before-caught-up": "a partition reassignment removes the old replicas and counts the new ones in the ISR at once, before they have fetched anything, so an empty new replica can be elected leader",
    "preferred-election-ignores-isr": "a preferred-leader election moves leadership to the first replica even when it is not in the ISR (behind the leader)",
}


def validate_bugs(names: tuple[str, ...] | list[str]) -> None:
    for name in names:
        if name not in BUGS:
            raise UsageError(
                f"unknown bug {name!r}{did_you_mean(str(name), sorted(BUGS))} (see: eosim run --bug list)"
            )


def print_bugs(console: Console) -> None:
    table = Table(title="known-bug switches (--bug NAME)")
    table.add_column("bug")
    table.add_column("what it breaks")
    for name, text in BUGS.items():
        table.add_row(name, text)
    console.print(table)
