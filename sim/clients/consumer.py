"""The consumer client: group membership or manual assignment, fetch positions, commits.

Written as simpy generator methods because a poll is a sequence of waits (rejoin, fetch offsets,
fetch records). Positions follow Kafka: they move past every record a poll returns, and
``auto.commit`` commits at the start of a later poll the positions left by the previous one.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, cast

from simpy import Event

from sim.clients.discovery import coordinator_call
from sim.cluster.node import BaseNode

if TYPE_CHECKING:
    from sim.cluster.world import World

POLL_WAIT = 0.1


class Consumer(BaseNode):
    def __init__(self, world: World, name: str, group: str | None, isolation: str) -> None:
        super().__init__(world, name)
        self.cluster = world  # clients see the whole world; cluster nodes only its Context
        cfg = world.config
        self.cfg = cfg
        self.rng = world.rng(f"client/{name}")
        self.group = group
        self.isolation = isolation
        self.request_timeout = cfg.request_timeout_ms / 1000.0
        self.member: str | None = None
        self.generation = -1
        self.assignment: list[str] = []
        self.subscribed: list[str] = []
        self.positions: dict[str, int] = {}
        # KIP-320: the leader epoch of the last record before each position, and the leader
        # epoch under which that position was last validated
        self.position_epochs: dict[str, int] = {}
        self.validated: dict[str, int] = {}
        self.truncations_detected = 0
        self.leaders: dict[str, tuple[str | None, int]] = {}
        self.coordinators: dict[str, str] = {}
        self.needs_rejoin = False
        self.last_auto_commit = 0.0
        self.rebalanced: set[str] = set()
        self.lag: dict[str, int] = {}
        # called with the new assignment after a rebalance fetched the committed offsets: a
        # user pipeline that keeps its offsets in its sink seeks there (None: nothing to do)
        self.on_assigned: Callable[[list[str]], None] | None = None

    # --- helpers -------------------------------------------------------------------------
    def any_broker(self) -> str:
        names = self.cluster.broker_names()
        return names[self.rng.randrange(len(names))]

    def refresh_metadata(self) -> Generator[Event, Any, None]:
        body = yield self.request(self.any_broker(), "Metadata", {}, self.request_timeout)
        for key, (leader, epoch) in body.get("leaders", {}).items():
            old = self.leaders.get(key)
            if old is None or epoch >= old[1]:
                self.leaders[key] = (leader, epoch)

    def coordinator_call(
        self, api: str, body: dict[str, Any]
    ) -> Generator[Event, Any, dict[str, Any]]:
        reply = yield from coordinator_call(self, "group", api, body)
        return reply

    @property
    def coordinator(self) -> str | None:
        return self.coordinators.get("group")

    # --- membership ----------------------------------------------------------------------
    def subscribe(self, keys: list[str]) -> Generator[Event, Any, None]:
        self.subscribed = list(keys)
        self.member = self.name
        yield from self.join()
        self.env.process(self._heartbeats(self.incarnation))

    def assign(
        self, keys: list[str], positions: dict[str, int] | None = None
    ) -> Generator[Event, Any, None]:
        self.assignment = list(keys)
        self.position_epochs = {k: e for k, e in self.position_epochs.items() if k in keys}
        if positions is not None:
            self.positions = dict(positions)
            self.position_epochs = {}
        elif self.group is not None:
            yield from self.fetch_committed(keys)
        else:
            self.positions = dict.fromkeys(keys, 0)

    def join(self) -> Generator[Event, Any, None]:
        old = set(self.assignment)
        if self.cfg.enable_auto_commit and self.assignment:
            yield from self.commit(dict(self.positions), self.consumed_epochs(self.positions))
        while True:
            body = {"group": self.group, "member": self.member, "keys": self.subscribed}
            reply = yield from self.coordinator_call("JoinGroup", body)
            if "generation" in reply:
                break
            yield self.env.timeout(0.05)
        self.generation = reply["generation"]
        self.assignment = list(reply["assignment"])
        self.needs_rejoin = False
        self.rebalanced |= old ^ set(self.assignment)
        self.positions = {}
        self.position_epochs = {}
        yield from self.fetch_committed(self.assignment)
        if self.on_assigned is not None:
            self.on_assigned(list(self.assignment))

    def fetch_committed(self, keys: list[str]) -> Generator[Event, Any, None]:
        while True:
            body = {
                "group": self.group,
                "keys": keys,
                "require_stable": self.isolation == "read_committed",
            }
            reply = yield from self.coordinator_call("OffsetFetch", body)
            if "offsets" in reply:
                break
            yield self.env.timeout(0.05)
        epochs = reply.get("epochs", {})
        for key, off in reply["offsets"].items():
            self.positions[key] = off if off is not None else 0
            self.position_epochs.pop(key, None)
            self.validated.pop(key, None)
            epoch = epochs.get(key)
            if epoch is None:
                continue  # committed without a leader epoch: fetched from whoever leads
            # KIP-320 (ConsumerUtils.refreshCommittedOffsets): the position is validated
            # before use, and an epoch newer than the metadata's makes that metadata stale
            # (Metadata.updateLastSeenEpochIfNewer, currentLeader -> partitionMetadataIfCurrent):
            # no fetch until metadata at least that new names the leader.
            self.position_epochs[key] = epoch
            known = self.leaders.get(key)
            if known is not None and epoch > known[1]:
                self.leaders[key] = (None, epoch)

    def _heartbeats(self, incarnation: int) -> Generator[Event, Any, None]:
        interval = self.cfg.heartbeat_interval_ms / 1000.0
        while self.incarnation == incarnation and self.alive:
            yield self.env.timeout(interval)
            coordinator = self.coordinator
            if self.incarnation != incarnation or coordinator is None:
                continue
            body = {"group": self.group, "member": self.member, "generation": self.generation}
            reply = yield self.request(coordinator, "Heartbeat", body, self.request_timeout)
            err = reply.get("error")
            if err in ("rebalance_in_progress", "unknown_member_id", "illegal_generation"):
                self.needs_rejoin = True
            elif err in ("not_coordinator", "request_timed_out"):
                self.coordinators.pop("group", None)

    # --- polling -------------------------------------------------------------------------
    def poll(self) -> Generator[Event, Any, dict[str, list[list[int]]]]:
        """One poll: rejoin if needed, auto-commit, then fetch every assigned partition once."""
        self.rebalanced = set()
        if self.needs_rejoin and self.group is not None and self.subscribed:
            yield from self.join()
        if (
            self.cfg.enable_auto_commit
            and self.env.now - self.last_auto_commit >= self.cfg.auto_commit_interval_ms / 1000.0
        ):
            self.last_auto_commit = self.env.now
            positions = dict(self.positions)
            self.env.process(self._commit_quietly(positions, self.consumed_epochs(positions)))
        if any(self.leaders.get(k, (None, 0))[0] is None for k in self.assignment):
            yield from self.refresh_metadata()
        yield from self._validate_positions()
        pending = []
        for key in self.assignment:
            leader = self.leaders.get(key, (None, 0))[0]
            if leader is None or key not in self.positions:
                continue
            body = {
                "key": key,
                "offset": self.positions[key],
                "isolation": self.isolation,
                "max_wait": POLL_WAIT,
            }
            request = self.request(leader, "Fetch", body, self.request_timeout)
            pending.append((key, request))
        if not pending:
            yield self.env.timeout(POLL_WAIT)
            return {}
        yield self.env.all_of([ev for _, ev in pending])
        out: dict[str, list[list[int]]] = {}
        stale = False
        for key, ev in pending:
            reply = cast(dict[str, Any], ev.value)
            if key not in self.positions:
                continue  # revoked meanwhile
            if "records" in reply:
                if reply["records"]:
                    out[key] = [[o, v] for o, v in reply["records"]]
                if reply["next"] > self.positions[key]:
                    self.positions[key] = reply["next"]
                    self.position_epochs[key] = reply["epoch"]
                    self.validated[key] = self.leaders.get(key, (None, -1))[1]
                self.lag[key] = reply["hw"] - self.positions[key]
            elif reply.get("error") == "offset_out_of_range":
                # FetchCollector.handleInitializeErrors: reset (auto.offset.reset=earliest),
                # even when the answer came from a stale leader with a shorter log
                self.cluster.note_offset_reset(key, reply["answered_epoch"])
                self.positions[key] = 0
                self.position_epochs.pop(key, None)
                self.rebalanced.add(key)
            else:
                stale = True  # an error or a timeout: the leader may have moved
        if stale:
            yield from self.refresh_metadata()
        return out

    def _validate_positions(self) -> Generator[Event, Any, None]:
        """KIP-320: after the leader of a partition changes, ask the new leader where the epoch
        of the last consumed record ends (OffsetsForLeaderEpoch). If it ends below the
        position the log was truncated under us: seek back to that end offset, where the new
        leader's log diverges, instead of silently skipping the records that replaced ours
        (SubscriptionState.maybeCompleteValidation, with an auto.offset.reset policy)."""
        checks = []
        for key in self.assignment:
            leader, leader_epoch = self.leaders.get(key, (None, -1))
            epoch = self.position_epochs.get(key, -1)
            if leader is None or epoch < 0 or self.validated.get(key) == leader_epoch:
                continue
            body = {"key": key, "epoch": epoch}
            ev = self.request(leader, "OffsetsForLeaderEpoch", body, self.request_timeout)
            checks.append((key, leader_epoch, ev))
        if not checks:
            return
        yield self.env.all_of([ev for _, _, ev in checks])
        for key, leader_epoch, ev in checks:
            reply = cast(dict[str, Any], ev.value)
            if "end_offset" not in reply or key not in self.positions:
                continue  # not validated: asked again at the next poll
            self.validated[key] = leader_epoch
            # (an epoch older than the leader's first ends where that first epoch starts)
            if reply["end_offset"] < self.positions[key]:
                self.truncations_detected += 1
                self.positions[key] = reply["end_offset"]
                self.position_epochs[key] = reply["epoch"]

    def consumed_epochs(self, offsets: dict[str, int]) -> dict[str, int]:
        """The leader epochs ``commitSync()`` sends with the positions it commits
        (SubscriptionState.allConsumed: the epoch of the last record consumed before each):
        for every offset that is this consumer's position with a known epoch. Offsets an
        application builds itself (``new OffsetAndMetadata(offset)``) carry none."""
        return {
            k: self.position_epochs[k]
            for k, off in offsets.items()
            if k in self.position_epochs and self.positions.get(k) == off
        }

    def commit(
        self, offsets: dict[str, int], epochs: dict[str, int] | None = None
    ) -> Generator[Event, Any, str]:
        """Commit offsets (with ``epochs``, their leader epochs: KIP-320); returns "ok",
        "fail" (rejected) or "info" (unknown: timed out)."""
        body: dict[str, Any] = {
            "group": self.group,
            "member": self.member,
            "generation": self.generation,
            "offsets": offsets,
        }
        if epochs:
            body["epochs"] = epochs
        reply = yield from self.coordinator_call("OffsetCommit", body)
        if reply.get("ok"):
            return "ok"
        if reply.get("error") in ("request_timed_out", "not_coordinator"):
            return "info"
        if reply.get("error") in (
            "illegal_generation",
            "unknown_member_id",
            "rebalance_in_progress",
        ):
            self.needs_rejoin = True
        return "fail"

    def _commit_quietly(
        self, offsets: dict[str, int], epochs: dict[str, int]
    ) -> Generator[Event, Any, None]:
        yield from self.commit(offsets, epochs)

    def leave(self) -> Generator[Event, Any, None]:
        if self.group is not None and self.member is not None and self.coordinator is not None:  # noqa: SIM102
            yield self.request(
                self.coordinator,
                "LeaveGroup",
                {"group": self.group, "member": self.member},
                self.request_timeout,
            )
