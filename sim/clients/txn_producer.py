"""The transactional producer: initTransactions, begin, send, sendOffsetsToTransaction, commit,
abort, as in Kafka's Java client.

A fenced producer (a newer instance with the same transactional.id initialised) stops for good,
unless ``client.ignore-fenced`` models the misconfigured client that swallows ProducerFenced
and keeps trying, every attempt rejected.
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, cast

from simpy import Event

from sim.clients.discovery import coordinator_call
from sim.clients.producer import Producer

if TYPE_CHECKING:
    from sim.cluster.world import World

FENCED = ("producer_fenced", "invalid_producer_epoch")
RETRY = 0.05
# EndTxn answers after which the transaction may have ended as asked: no answer, or the
# coordinator's Prepare write failed after the append (TransactionStateManager.
# appendTransactionToLog answers REQUEST_TIMED_OUT / NOT_ENOUGH_REPLICAS as
# COORDINATOR_NOT_AVAILABLE and NOT_LEADER_OR_FOLLOWER as NOT_COORDINATOR, and the record may
# survive for the next coordinator to complete)
APPENDED_MAYBE = (
    None,
    "request_timed_out",
    "not_leader_or_follower",
    "coordinator_not_available",
    "not_coordinator",
)
# the answers to AddPartitionsToTxn / AddOffsetsToTxn the Java client re-sends
RETRIABLE_ADD = (
    "concurrent_transactions",
    "coordinator_load_in_progress",
    "not_coordinator",
    "request_timed_out",
    "coordinator_not_available",
)


class TxnProducer(Producer):
    HOLD_WHILE_UNRESOLVED = False  # an unresolved sequence fails the transaction instead

    def __init__(self, world: World, name: str, txn_id: str) -> None:
        super().__init__(world, name)
        self._txn_id = txn_id
        self.coordinators: dict[str, str] = {}
        self.txn_partitions: set[str] = set()
        self.txn_failed: str | None = None
        self.fencings = 0
        self.ignore_fenced = bool(self.cfg.external.get("client.ignore-fenced", False))
        self.reinit_on_fenced = bool(self.cfg.external.get("client.reinit-on-fenced", False))
        self.needs_reinit = False
        self.epoch_bump_required = False  # an abortable sequence error: bump after the abort
        self.txn_timeout = self.cfg.transaction_timeout_ms / 1000.0

    def txn_id(self) -> str | None:
        return self._txn_id

    def _coord(self, api: str, body: dict[str, Any]) -> Generator[Event, Any, dict[str, Any]]:
        reply = yield from coordinator_call(self, "txn", api, body)
        return reply

    def _ids(self) -> dict[str, Any]:
        return {"txn_id": self._txn_id, "pid": self.pid, "epoch": self.epoch}

    # --- lifecycle -----------------------------------------------------------------------
    def init_transactions(self) -> Generator[Event, Any, bool]:
        """InitProducerId for our transactional.id: fences every older instance."""
        yield self.init()
        deadline = self.env.now + self.delivery_timeout * 4
        while self.alive and self.env.now < deadline:
            reply = yield from self._coord(
                "InitTxnProducerId", {"txn_id": self._txn_id, "timeout": self.txn_timeout}
            )
            if "pid" in reply:
                self.pid, self.epoch = reply["pid"], reply["epoch"]
                self.next_seq = {}
                self.fatal = None
                self.needs_reinit = False
                return True
            yield self.env.timeout(RETRY)
        return False

    def reinit_if_pending(self) -> Generator[Event, Any, bool]:
        """Before a new transaction: initialise again if the last one ended unresolved
        (``_unresolved_end``). False: it is still unresolved, so do not begin."""
        if not self.needs_reinit:
            return True
        ok = yield from self.init_transactions()
        return ok

    def _bump_epoch_with_coordinator(self) -> Generator[Event, Any, None]:
        """KIP-360: after an abortable sequence error the client aborts, then sends
        InitProducerId with its current producer id and epoch; the coordinator bumps the epoch
        and the producer carries on from sequence 0 (TransactionManager.beginCompletingTransaction
        -> initializeTransactions(producerIdAndEpoch))."""
        while self.alive and self.fatal is None:
            reply = yield from self._coord(
                "InitTxnProducerId",
                {**self._ids(), "timeout": self.txn_timeout},
            )
            if "pid" in reply:
                self.pid, self.epoch = reply["pid"], reply["epoch"]
                self.next_seq = {}
                self.epoch_bump_required = False
                return
            if self._fenced(reply):
                return
            yield self.env.timeout(RETRY)

    def init(self) -> Event:
        ev = self.env.event()
        self.refresh_metadata(lambda: ev.succeed("ok"))
        return ev

    def begin(self) -> None:
        self.txn_in_progress = True
        self.txn_partitions = set()
        self.txn_failed = None

    def txn_send(self, key: str, value: int) -> Generator[Event, Any, tuple[str, int | None]]:
        """Send inside the transaction: AddPartitionsToTxn first for a new partition."""
        if key not in self.txn_partitions:
            ok = yield from self.add_partitions([key])
            if not ok:
                return ("fail", None)
        result = yield self.send_event(key, value)
        if result[0] != "ok" and self.txn_failed is None:
            self.txn_failed = "send failed"
        return result

    def send_all(
        self, records: list[tuple[str, int]]
    ) -> Generator[Event, Any, list[tuple[str, int | None]]]:
        """Send records inside the transaction, all at once, and wait for every outcome.

        Once every partition is in the transaction (the usual case: the workload adds them
        first) each record is a callback on the accumulator, not a simpy process of its own;
        otherwise each goes through ``txn_send`` so a missing partition is added first."""
        if any(key not in self.txn_partitions for key, _ in records):
            procs = [self.env.process(self.txn_send(k, v)) for k, v in records]
            yield self.env.all_of(procs)
            return [cast(tuple[str, int | None], p.value) for p in procs]
        if not records:
            return []
        results: list[tuple[str, int | None]] = [("info", None)] * len(records)
        all_done = self.env.event()
        left = [len(records)]

        def finish(i: int, type_: str, offset: int | None) -> None:
            results[i] = (type_, offset)
            if type_ != "ok" and self.txn_failed is None:
                self.txn_failed = "send failed"
            left[0] -= 1
            if left[0] == 0:
                all_done.succeed()

        for i, (key, value) in enumerate(records):
            self.send(key, value, functools.partial(finish, i))
        yield all_done
        return results

    def add_partitions(self, keys: list[str]) -> Generator[Event, Any, bool]:
        """AddPartitionsToTxn, retried on the errors TransactionManager's
        AddPartitionsToTxnHandler re-enqueues (CONCURRENT_TRANSACTIONS, a moved or unavailable
        coordinator, a timeout)."""
        ok = yield from self._add_to_txn("AddPartitionsToTxn", {"keys": keys}, "add partitions")
        if ok:
            self.txn_partitions.update(keys)
        return ok

    def _add_to_txn(
        self, api: str, extra: dict[str, Any], what: str
    ) -> Generator[Event, Any, bool]:
        """AddPartitionsToTxn or AddOffsetsToTxn until the coordinator accepts it: a retriable
        answer is re-sent (AddPartitionsToTxnHandler / AddOffsetsToTxnHandler.handleResponse:
        COORDINATOR_NOT_AVAILABLE and NOT_COORDINATOR look the coordinator up again,
        CONCURRENT_TRANSACTIONS and other retriable errors reenqueue()), until
        delivery.timeout.ms; anything else fails the transaction."""
        deadline = self.env.now + self.delivery_timeout
        while self.alive and self.env.now < deadline:
            reply = yield from self._coord(api, {**self._ids(), **extra})
            if reply.get("ok"):
                return True
            if self._fenced(reply):
                return False
            if reply.get("error") not in RETRIABLE_ADD:
                self.txn_failed = reply.get("error", f"{what} failed")
                return False
            yield self.env.timeout(RETRY)
        self.txn_failed = f"{what} timed out"
        return False

    def send_offsets(
        self,
        offsets: dict[str, int],
        group: str,
        generation: int,
        member: str | None,
        epochs: dict[str, int] | None = None,
    ) -> Generator[Event, Any, bool]:
        """sendOffsetsToTransaction: AddOffsetsToTxn (retried as AddPartitionsToTxn is), then
        TxnOffsetCommit to the group coordinator with the consumer's group metadata (KIP-447)
        and, if the application gave them, the offsets' leader epochs (KIP-320)."""
        ok = yield from self._add_to_txn("AddOffsetsToTxn", {"group": group}, "add offsets")
        if not ok:
            return False
        body = {
            "group": group,
            "txn_id": self._txn_id,
            "pid": self.pid,
            "epoch": self.epoch,
            "generation": generation,
            "member": member,
            "offsets": offsets,
        }
        if epochs:
            body["epochs"] = epochs
        while self.alive:
            reply = yield from coordinator_call(self, "group", "TxnOffsetCommit", body)
            if reply.get("ok"):
                return True
            if self._fenced(reply):  # INVALID_PRODUCER_EPOCH: ProducerFencedException
                return False
            if reply.get("error") in (
                "illegal_generation",
                "unknown_member_id",
                "invalid_txn_state",
            ):
                self.txn_failed = reply["error"]
                return False
            yield self.env.timeout(RETRY)
        return False

    def end(self, commit: bool) -> Generator[Event, Any, str]:
        """EndTxn. Returns "ok" (done as asked), "fail" (definitely not committed) or "info"."""
        outcome = yield from self._end_txn(commit)
        if self.epoch_bump_required and self.alive and self.fatal is None:
            yield from self._bump_epoch_with_coordinator()
        return outcome

    def _end_txn(self, commit: bool) -> Generator[Event, Any, str]:
        yield from self._flush_all()
        if commit and self.txn_failed is not None:
            commit = False
        self.txn_in_progress = False
        if not self.txn_partitions and self.txn_failed is None:
            return "ok" if commit else "fail"
        deadline = self.env.now + self.delivery_timeout
        sent = False
        while self.alive and self.env.now < deadline:
            reply = yield from self._coord("EndTxn", {**self._ids(), "commit": commit})
            # may have gone through: answered, timed out, or failed after the coordinator
            # appended its Prepare record (it lost its leadership while waiting: the record
            # may survive and the next coordinator complete the commit)
            sent = sent or reply.get("error") in APPENDED_MAYBE
            if reply.get("ok"):
                if reply.get("epoch", self.epoch) != self.epoch:  # v2: a new epoch per transaction
                    self.epoch = reply["epoch"]
                    self.next_seq = {}
                    self.epoch_bump_required = False  # the EndTxn bump serves (KIP-890)
                return "ok" if commit else "fail"
            if self._fenced(reply):
                return "info" if commit and sent else "fail"
            if reply.get("error") == "invalid_txn_state":
                return "info" if commit else "fail"
            yield self.env.timeout(RETRY)
        if self.alive:
            self._unresolved_end()
        return "info" if commit else "fail"

    def _unresolved_end(self) -> None:
        """The commit or abort was not confirmed in time: the transaction may still be open at
        the coordinator. The Java client refuses to begin another one until the same call is
        retried to completion (TransactionManager.throwIfPendingState: "the previous call to
        `abortTransaction` timed out and must be retried"); a client that gives up closes the
        producer and a new instance's initTransactions bumps the epoch, which aborts what was
        left open. Beginning the next transaction under the same epoch instead would let its
        commit take the abandoned writes with it."""
        self.needs_reinit = True

    def _flush_all(self) -> Generator[Event, Any, None]:
        for key in sorted(self.queues):
            self.flush_key(key)
        while self.alive and any(not b.done for bs in self.unresolved.values() for b in bs):
            yield self.env.timeout(0.01)

    def _on_out_of_order(self, batch: Any, err: str) -> None:
        """In a transaction a real sequence gap is an abortable error, not a local epoch bump:
        the transaction fails, is aborted, and the epoch is bumped through the coordinator
        (TransactionManager.handleFailedBatch, KIP-360). A local bump would give the
        coordinator an epoch it never issued."""
        if not self._sequence_gap_is_real(batch):
            self._retry_later(batch, err)
            return
        self._abortable(err)
        self._give_up(batch, err)

    def on_unresolved_gap(self, key: str) -> None:
        self._abortable("unresolved sequence")

    def _abortable(self, err: str) -> None:
        self.epoch_bump_required = True
        if self.txn_failed is None:
            self.txn_failed = err

    def _fenced(self, reply: dict[str, Any]) -> bool:
        if reply.get("error") in FENCED:
            self._note_fenced(reply["error"])
            return True
        return False

    def on_fenced(self, batch: Any, err: str) -> None:
        self._note_fenced(err)
        self._give_up(batch, err)

    def _note_fenced(self, err: str) -> None:
        """ProducerFenced is fatal: the client must close. ``client.ignore-fenced`` models the
        one that carries on regardless; ``client.reinit-on-fenced`` the one that calls
        initTransactions again and so fences whoever fenced it."""
        self.fencings += 1
        self.txn_failed = err
        if self.reinit_on_fenced:
            self.needs_reinit = True
        elif not self.ignore_fenced:
            self.fatal = err
