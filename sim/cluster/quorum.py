"""The KRaft controller quorum as a small Raft group (opt-in: ``controller.quorum.voters`` 3 or 5).

With the default of one voter the cluster has the single always-healthy ``Controller`` (it stands
for a healthy quorum). With more, each voter is a ``Voter``: a ``Controller`` whose decisions are
records in a replicated metadata log, after Kafka's KRaft:

- **Elections** (raft/KafkaRaftClient, CandidateState, VotedState): a follower that has not heard
  from a leader for ``controller.quorum.fetch.timeout.ms`` (or, without a leader, after a
  randomized ``controller.quorum.election.timeout.ms``) becomes a candidate in the next epoch
  (Raft's term) and asks the others for their vote; a vote is granted once per epoch and only
  to a candidate whose log is at least as up to date (last epoch, then log end offset).
- **Replication by fetch** (KafkaRaftClient.handleFetchRequest): followers long-poll the leader
  with their log end offset and last epoch; a diverging follower truncates to the end offset of
  its last epoch in the leader's log (as KIP-279 for partitions). The high watermark is the
  offset a majority has fetched, and advances only once it covers the leader's own epoch start
  (LeaderState.maybeUpdateHighWatermark).
- **Check quorum** (LeaderState.timeUntilCheckQuorumExpires, KAFKA-15489, 3.7.0; with
  ``kafka.version`` 3.5/3.6 a cut-off leader stays leader until it hears a higher epoch): a
  leader that has not been fetched from by a majority for 1.5 x fetch timeout resigns.
- **The active controller** (QuorumController): a new leader becomes active once its epoch's
  first record (LeaderChange) commits, replays its log, and starts every broker's session afresh
  (BrokerHeartbeatManager is in memory only). Its decisions (fencing, leader elections, ISR
  changes, broker registrations) are records; an AlterPartition or a registration is answered
  only once its record commits, and brokers are sent committed metadata only (the
  MetadataLoader on a broker reads up to the high watermark), so a deposed partition leader
  keeps its old view until it hears from the new active controller.
- **Broker registration** (ClusterControlManager.registerBroker): every broker process start
  registers; the broker epoch is the registration record's offset, heartbeats carry it, and a
  heartbeat with another epoch (an old incarnation's) is refused (STALE_BROKER_EPOCH).

Logs and votes survive a voter's crash (KRaft fsyncs the log and the quorum-state file).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simpy import Event

from sim.cluster import trace as tr
from sim.cluster.controller import TICK, Controller, PartitionState
from sim.cluster.network import Message

if TYPE_CHECKING:
    import random

    from sim.cluster.context import Context

VOTER_PREFIX = "ctrl"
FETCH_MAX_WAIT = 0.1  # the leader parks an empty fetch this long (a long poll)
RPC_TIMEOUT = 0.3


def voter_names(voters: int) -> list[str]:
    return [f"{VOTER_PREFIX}{i}" for i in range(voters)]


@dataclass
class Entry:
    epoch: int
    record: dict[str, Any]


class Voter(Controller):
    """One KRaft controller: a Raft voter whose state machine is the Controller's metadata."""

    def __init__(
        self,
        world: Context,
        name: str,
        peers: list[str],
        keys: list[str],
        brokers: list[str],
        rf: int,
        rng: random.Random,
    ) -> None:
        self.raft_ready = False  # the base constructor starts the ticker; nothing acts before
        super().__init__(world, keys, brokers, rf, name=name)
        cfg = world.config
        self.peers = [p for p in peers if p != name]
        self.majority = len(peers) // 2 + 1
        self.rng = rng
        self.election_timeout = cfg.quorum_ms("controller.quorum.election.timeout.ms")
        self.fetch_timeout = cfg.quorum_ms("controller.quorum.fetch.timeout.ms")
        self.backoff_max = cfg.quorum_ms("controller.quorum.election.backoff.max.ms")
        self.bugs = world.bugs
        # check quorum arrived with KAFKA-15489 in 3.7.0 (LeaderState.CHECK_QUORUM_TIMEOUT_FACTOR)
        self.check_quorum = cfg.release >= (3, 7)
        # durable Raft state (the log and the quorum-state file)
        self.epoch = 0
        self.voted_for: str | None = None
        self.log: list[Entry] = []
        # volatile
        self.role = "follower"
        self.leader: str | None = None
        self.hw = 0
        self.active = False
        self.epoch_start = 0
        self.votes: set[str] = set()
        self.deadline = 0.0
        self.fetching = False
        self.last_contact = 0.0
        self.match: dict[str, int] = {}
        self.fetched_at: dict[str, float] = {}
        self.parked: list[tuple[Message, float]] = []
        self.pending: list[tuple[int, Callable[[bool], None]]] = []
        # the metadata image as of the high watermark (what brokers are told)
        self.initial = {k: p.image() for k, p in self.partitions.items()}
        self.broker_epochs: dict[str, int] = {b: -1 for b in brokers}
        self.committed: dict[str, dict[str, Any]] = dict(self.initial)
        self.committed_fenced: set[str] = set()
        self.applied = 0  # log entries reflected in the working state (partitions, fenced)
        self.applied_committed = 0
        self._last_offset = -1
        self.handlers = {
            "BrokerHeartbeat": self.on_broker_heartbeat,
            "AlterPartition": self.on_alter,
            "Vote": self.on_vote,
            "QuorumFetch": self.on_quorum_fetch,
            "BeginQuorumEpoch": self.on_begin_quorum_epoch,
        }
        self.raft_ready = True
        self._reset_election_timer(first=True)

    # --- lifecycle -----------------------------------------------------------------------
    def crash(self) -> None:
        self._fail_pending()
        super().crash()
        self.role = "follower"
        self.leader = None
        self.active = False
        self.parked = []

    def restart(self) -> None:
        """The log and the vote are on disk; the metadata state is rebuilt from the committed
        prefix once the new leader's fetch responses say how far that is."""
        self.alive = True
        self.hw = 0
        self._rebuild(0)
        self._reset_election_timer(first=True)
        self.env.process(self._ticker())

    def _ticker(self) -> Generator[Event, Any, None]:
        incarnation = self.incarnation
        while self.incarnation == incarnation:
            yield self.env.timeout(TICK)
            if not self.raft_ready or self.incarnation != incarnation:
                continue
            now = self.env.now
            if self.role == "leader":
                self._leader_tick(now)
            elif now >= self.deadline:
                self._start_election()
            elif self.leader is not None and not self.fetching:
                self._fetch()

    def _reset_election_timer(self, first: bool = False) -> None:
        base = self.election_timeout if first else 0.0
        spread = self.election_timeout if first else self.backoff_max
        self.deadline = self.env.now + base + self.rng.random() * spread

    # --- elections -----------------------------------------------------------------------
    def _last(self) -> tuple[int, int]:
        return (self.log[-1].epoch if self.log else 0, len(self.log))

    def _become_follower(self, epoch: int, leader: str | None) -> None:
        if self.role == "leader":
            if len(self.log) > self.hw:
                self.note(
                    tr.METADATA_LOG,
                    f"controller renounced with {len(self.log) - self.hw} uncommitted records",
                )
            self._fail_pending()
            self.parked = []
            self._rebuild(self.hw)  # QuorumController.renounce: back to the committed state
        if epoch > self.epoch:
            self.epoch = epoch
            self.voted_for = None
        self.role = "follower"
        self.active = False
        self.leader = leader
        self.last_contact = self.env.now
        self.deadline = self.env.now + self.fetch_timeout
        if leader is None:
            self._reset_election_timer(first=True)

    def _start_election(self) -> None:
        self.epoch += 1
        self.role = "candidate"
        self.leader = None
        self.voted_for = self.name
        self.votes = {self.name}
        self._reset_election_timer(first=True)
        last_epoch, end = self._last()
        body = {"epoch": self.epoch, "last_epoch": last_epoch, "end": end}
        for peer in self.peers:
            self.call(peer, "Vote", body, RPC_TIMEOUT, functools.partial(self._on_vote_reply, peer))
        self._maybe_win()

    def on_vote(self, msg: Message) -> None:
        b = msg.body
        if b["epoch"] > self.epoch:
            self._become_follower(b["epoch"], None)
        up_to_date = (b["last_epoch"], b["end"]) >= self._last()
        granted = (
            b["epoch"] == self.epoch
            and self.voted_for in (None, msg.src)
            and self.role != "leader"
            and up_to_date
        )
        if granted:
            self.voted_for = msg.src
            self._reset_election_timer(first=True)
        self.reply(msg, {"epoch": self.epoch, "granted": granted})

    def _on_vote_reply(self, peer: str, body: dict[str, Any]) -> None:
        if "epoch" not in body:
            return
        if body["epoch"] > self.epoch:
            self._become_follower(body["epoch"], None)
            return
        if self.role == "candidate" and body["epoch"] == self.epoch and body["granted"]:
            self.votes.add(peer)
            self._maybe_win()

    def _maybe_win(self) -> None:
        if self.role != "candidate" or len(self.votes) < self.majority:
            return
        self.role = "leader"
        self.leader = self.name
        self.active = False
        self.match = {p: 0 for p in self.peers}
        now = self.env.now
        self.fetched_at = {p: now for p in self.peers}
        self._rebuild(len(self.log))  # the new leader's log is what the quorum will commit
        self.epoch_start = len(self.log)
        self._append({"leader_change": self.name})
        # KafkaRaftClient: the new leader tells the voters (BeginQuorumEpoch)
        for peer in self.peers:
            self.transmit(Message(self.name, peer, "BeginQuorumEpoch", {"epoch": self.epoch}, 0))

    def on_begin_quorum_epoch(self, msg: Message) -> None:
        epoch = msg.body["epoch"]
        if epoch > self.epoch or (epoch == self.epoch and self.role != "leader"):
            self._become_follower(epoch, msg.src)
            if not self.fetching:
                self._fetch()

    # --- replication -----------------------------------------------------------------------
    def _append(self, record: dict[str, Any]) -> int:
        self.log.append(Entry(self.epoch, record))
        self.applied = len(self.log)
        self._advance_hw()
        self._serve_parked()
        return len(self.log) - 1

    def _advance_hw(self) -> None:
        ends = sorted([len(self.log), *self.match.values()], reverse=True)
        hw = ends[self.majority - 1]
        if hw > self.hw and hw > self.epoch_start:
            self._commit(hw)

    def _commit(self, hw: int) -> None:
        old = self.hw
        self.hw = hw
        changed: dict[str, dict[str, Any]] = {}
        for entry in self.log[self.applied_committed : hw]:
            for image in entry.record.get("partitions", ()):
                self.committed[image["key"]] = image
                changed[image["key"]] = image
            if "fenced" in entry.record:
                self.committed_fenced = set(entry.record["fenced"])
        self.applied_committed = max(self.applied_committed, hw)
        if self.role == "leader":
            if not self.active and hw > self.epoch_start:
                self._activate()
            ready = [cb for offset, cb in self.pending if offset < hw]
            self.pending = [(o, cb) for o, cb in self.pending if o >= hw]
            for cb in ready:
                cb(True)
            if changed:
                image = [changed[k] for k in sorted(changed)]
                for b in self.brokers:
                    self.transmit(Message(self.name, b, "UpdateMetadata", {"image": image}))
            if old < hw:
                self._serve_parked()
        elif self.applied < hw:
            # a follower's state machine replays the committed records (handleCommit)
            for entry in self.log[self.applied : hw]:
                self._apply(entry.record)
            self.applied = hw

    def _activate(self) -> None:
        """QuorumController.claim: the controller is active, and every broker's session starts
        now (ClusterControlManager.activate -> BrokerHeartbeatManager.register)."""
        self.active = True
        now = self.env.now
        for b in self.brokers:
            self.last_heartbeat[b] = now

    def _leader_tick(self, now: float) -> None:
        # check quorum: resign when a majority has not fetched within 1.5 x fetch timeout
        recent = sorted([now, *self.fetched_at.values()], reverse=True)[self.majority - 1]
        if self.check_quorum and now - recent > 1.5 * self.fetch_timeout:
            self._become_follower(self.epoch, None)
            return
        if self.parked:
            keep = []
            for msg, deadline in self.parked:
                if deadline <= now:
                    self._answer_fetch(msg)
                else:
                    keep.append((msg, deadline))
            self.parked = keep
        if self.active:
            for b in self.brokers:
                # a broker that registered with another controller (a newer one, while this
                # deposed one still thinks it is active) has no session here to expire
                seen = self.last_heartbeat.get(b)
                if seen is not None and b not in self.fenced and now - seen > self.session_timeout:
                    self.fence(b)
            self.maybe_rebalance()

    def _fetch(self) -> None:
        assert self.leader is not None
        last_epoch, end = self._last()
        body = {"epoch": self.epoch, "offset": end, "last_epoch": last_epoch}
        self.fetching = True
        self.call(self.leader, "QuorumFetch", body, RPC_TIMEOUT, self._on_fetch_reply)

    def on_quorum_fetch(self, msg: Message) -> None:
        b = msg.body
        if b["epoch"] > self.epoch:
            self._become_follower(b["epoch"], None)
        if self.role != "leader" or b["epoch"] < self.epoch:
            self.reply(msg, {"epoch": self.epoch, "leader": self.leader, "error": "not_leader"})
            return
        offset = b["offset"]
        if offset > 0 and (offset > len(self.log) or self.log[offset - 1].epoch != b["last_epoch"]):
            _, end = self._end_for_epoch(b["last_epoch"])
            self.reply(msg, {"epoch": self.epoch, "diverging": min(end, offset - 1)})
            return
        self.match[msg.src] = offset
        self.fetched_at[msg.src] = self.env.now
        self._advance_hw()
        if offset < len(self.log):
            self._answer_fetch(msg)
        else:
            self.parked.append((msg, self.env.now + FETCH_MAX_WAIT))

    def _end_for_epoch(self, epoch: int) -> tuple[int, int]:
        """The largest epoch <= ``epoch`` in this log and the offset where it ends."""
        best, end = 0, 0
        for i, e in enumerate(self.log):
            if e.epoch > epoch:
                break
            best, end = e.epoch, i + 1
        return best, end

    def _answer_fetch(self, msg: Message) -> None:
        offset = msg.body["offset"]
        entries = self.log[offset : offset + 100]
        self.reply(
            msg, {"epoch": self.epoch, "leader": self.name, "entries": entries, "hw": self.hw}
        )

    def _serve_parked(self) -> None:
        parked, self.parked = self.parked, []
        for msg, _ in parked:
            self._answer_fetch(msg)

    def _on_fetch_reply(self, body: dict[str, Any]) -> None:
        self.fetching = False
        if "epoch" not in body:  # timed out: the fetch timeout decides when to give up
            return
        if body["epoch"] > self.epoch or (body["epoch"] == self.epoch and self.role != "follower"):
            self._become_follower(body["epoch"], body.get("leader"))
        if body["epoch"] < self.epoch or self.role != "follower":
            return
        if body.get("error"):
            if body.get("leader") != self.leader:
                self.leader = body.get("leader")
            return
        self.last_contact = self.env.now
        self.deadline = self.env.now + self.fetch_timeout
        if "diverging" in body:
            end = body["diverging"]
            if end < len(self.log):  # KafkaRaftClient: truncate to the leader's end offset
                self.note(
                    tr.METADATA_LOG,
                    f"metadata log truncated, {len(self.log) - end} uncommitted records dropped",
                )
            del self.log[end:]
            if self.applied > end or self.applied_committed > end:
                self._rebuild(min(self.hw, end))
            self._fetch()
            return
        self.log.extend(body["entries"])
        hw = min(body["hw"], len(self.log))
        if hw > self.hw:
            self._commit(hw)
        self._fetch()

    # --- the state machine -----------------------------------------------------------------
    def _rebuild(self, upto: int) -> None:
        """Working and committed state = the initial assignment + records [0, upto)."""
        self.partitions = {k: PartitionState(**image) for k, image in self.initial.items()}
        self.fenced = set()
        self.committed = dict(self.initial)
        self.committed_fenced = set()
        self.broker_epochs = {b: -1 for b in self.brokers}
        self.incarnations = {b: 0 for b in self.brokers}
        self.applied = 0
        self.applied_committed = 0
        self.hw = min(self.hw, upto)
        for i, entry in enumerate(self.log[:upto]):
            self._apply(entry.record)
            if i >= self.hw:
                continue
            for image in entry.record.get("partitions", ()):
                self.committed[image["key"]] = image
            if "fenced" in entry.record:
                self.committed_fenced = set(entry.record["fenced"])
        self.applied = upto
        self.applied_committed = min(upto, self.hw)

    def _apply(self, record: dict[str, Any]) -> None:
        for image in record.get("partitions", ()):
            self.partitions[image["key"]] = PartitionState(**image)
        if "fenced" in record:
            self.fenced = set(record["fenced"])
        if "register" in record:
            broker, epoch = record["register"]
            self.broker_epochs[broker] = epoch
            self.incarnations[broker] = record.get("incarnation", 0)

    def push(self, changed: list[PartitionState]) -> None:
        """A decision of the active controller: a record in the metadata log. Brokers hear of it
        once it commits (``_commit``)."""
        self._last_offset = self._append(
            {"partitions": [p.image() for p in changed], "fenced": sorted(self.fenced)}
        )

    def _fail_pending(self) -> None:
        pending, self.pending = self.pending, []
        for _, cb in pending:
            cb(False)

    def _after_commit(self, offset: int, msg: Message, body: dict[str, Any]) -> None:
        def done(ok: bool) -> None:
            self.reply(msg, body if ok else {"error": "not_controller", "leader": None})

        if offset < self.hw:
            done(True)
        else:
            self.pending.append((offset, done))

    def answer_after_commit(self, msg: Message, body: dict[str, Any]) -> None:
        if "kraft-ack-before-commit" in self.bugs:
            self.reply(msg, body)
            return
        self._after_commit(self._last_offset, msg, body)

    def answer_read(self, msg: Message, body: dict[str, Any]) -> None:
        """QuorumController.ControllerWriteEvent.run: an operation that writes no record "was
        done from the latest in-memory state, which might contain uncommitted data", so its
        answer waits until the last record written so far commits. Answered at once, a leader
        told of an ISR shrink the quorum had not committed acknowledged writes on that smaller
        ISR, and a controller elected without that record later made the dropped replica
        leader: acknowledged writes lost (found by a guided campaign's clean twin)."""
        self._after_commit(len(self.log) - 1, msg, body)

    def committed_image(self) -> list[dict[str, Any]]:
        return [self.committed[k] for k in self.partitions]

    def leader_of(self, key: str) -> str | None:
        leader: str | None = self.committed[key]["leader"]
        return leader

    # --- broker RPCs (the active controller only) ------------------------------------------
    def _not_controller(self, msg: Message) -> bool:
        if self.active:
            return False
        hint = self.leader if self.leader != self.name else None
        self.reply(msg, {"error": "not_controller", "leader": hint})
        return True

    def on_alter(self, msg: Message) -> None:
        if self._not_controller(msg):
            return
        self.on_alter_partition(msg)

    def on_broker_heartbeat(self, msg: Message) -> None:
        if self._not_controller(msg):
            return
        b = msg.src
        body = msg.body
        if body.get("register"):
            if b not in self.fenced and "kraft-duplicate-registration" not in self.bugs:
                # DuplicateBrokerRegistrationException while the old session is valid
                self.reply(msg, {"error": "duplicate_broker_registration"})
                return
            offset = len(self.log)
            self.broker_epochs[b] = offset
            incarnation = body.get("incarnation", 0)
            restarted = self.restarted(b, incarnation)
            self._append(
                {"register": [b, offset], "incarnation": incarnation, "fenced": sorted(self.fenced)}
            )
            if restarted:
                self.unclean_shutdown(b)  # its records follow the registration's, as in Kafka
            self.last_heartbeat[b] = self.env.now

            def registered(ok: bool) -> None:
                if not ok:
                    self.reply(msg, {"error": "not_controller", "leader": None})
                    return
                self.reply(
                    msg,
                    {
                        "broker_epoch": offset,
                        "image": self.committed_image(),
                        "fenced": b in self.committed_fenced,
                    },
                )

            self.pending.append((offset, registered))
            return
        if body.get("broker_epoch", -1) != self.broker_epochs.get(b, -1):
            self.reply(msg, {"error": "stale_broker_epoch"})
            return
        self.last_heartbeat[b] = self.env.now
        self.unfence(b)
        self.reply(msg, {"image": self.committed_image(), "fenced": b in self.committed_fenced})


class Quorum:
    """The voters of one cluster, and the metadata view the layers above read (targets,
    liveness, statistics): the active controller's, else the most advanced voter's."""

    def __init__(self, voters: list[Voter]) -> None:
        self.voters = voters

    def view(self) -> Voter:
        active = [v for v in self.voters if v.alive and v.active]
        if active:
            return max(active, key=lambda v: v.epoch)
        return max(self.voters, key=lambda v: (v.hw, v.epoch, -self.voters.index(v)))

    def leader(self) -> str | None:
        """The active controller's name (None while there is none)."""
        active = [v for v in self.voters if v.alive and v.active]
        return max(active, key=lambda v: v.epoch).name if active else None

    @property
    def elections(self) -> int:
        return sum(v.elections for v in self.voters)

    @property
    def isr_shrinks(self) -> int:
        return sum(v.isr_shrinks for v in self.voters)

    @property
    def quorum_elections(self) -> int:
        return max(v.epoch for v in self.voters)
