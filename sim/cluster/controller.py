"""The controller: broker liveness, leader election, ISR changes, metadata propagation.

By default (``controller.quorum.voters`` = 1) it stands for a healthy KRaft quorum, so it never
crashes itself, but it talks to brokers over
the network and can be cut off from them like anything else. Brokers heartbeat; a broker silent
for ``broker.session.timeout.ms`` is fenced and loses its leaderships; every heartbeat response
carries the metadata image, so a broker that missed a push catches up. With more voters each
KRaft controller is a ``sim.cluster.quorum.Voter``: this class's decisions, made as records of a
Raft-replicated metadata log and published once committed.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simpy import Event

from sim.cluster import trace as tr
from sim.cluster.network import Message
from sim.cluster.node import BaseNode

if TYPE_CHECKING:
    from sim.cluster.context import Context

CONTROLLER = "controller"
TICK = 0.05
# Bug switch: a preferred-leader election ignores the ISR (the preferred replica may be behind).
BUG_PREFERRED_IGNORES_ISR = "preferred-election-ignores-isr"


@dataclass
class PartitionState:
    key: str
    replicas: list[str]
    leader: str | None
    isr: list[str]
    leader_epoch: int = 0
    partition_epoch: int = 0
    elr: list[str] = field(default_factory=list)  # eligible leader replicas (KIP-966)
    # with ELR, the leader when the ISR last emptied (lastKnownElr holding the last known
    # leader): elected if nothing in the ISR or ELR can be, as before KIP-966
    last_leader: str | None = None

    def image(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "replicas": list(self.replicas),
            "leader": self.leader,
            "isr": list(self.isr),
            "leader_epoch": self.leader_epoch,
            "partition_epoch": self.partition_epoch,
            "elr": list(self.elr),
            "last_leader": self.last_leader,
        }


class Controller(BaseNode):
    def __init__(
        self, world: Context, keys: list[str], brokers: list[str], rf: int, name: str = CONTROLLER
    ) -> None:
        super().__init__(world, name)
        self.brokers = brokers
        self.unclean = world.config.unclean_leader_election_enable
        self.elr_enabled = world.config.eligible_leader_replicas
        self.min_isr = world.config.min_insync_replicas
        self.session_timeout = world.config.broker_session_timeout_ms / 1000.0
        self.last_heartbeat: dict[str, float] = {b: 0.0 for b in brokers}
        self.fenced: set[str] = set()
        # each broker's registered process (its incarnation): a registration from another is a
        # restart, which Kafka takes as an unclean shutdown (ClusterControlManager.registerBroker)
        self.incarnations: dict[str, int] = {b: 0 for b in brokers}
        self.partitions: dict[str, PartitionState] = {}
        for i, key in enumerate(keys):
            replicas = [brokers[(i + j) % len(brokers)] for j in range(rf)]
            self.partitions[key] = PartitionState(key, replicas, replicas[0], list(replicas))
        self.elections = 0
        # sim.cluster.reassign.Reassignments, created by the first reassignment (None: no cost)
        self.reassignments: Any = None
        self.isr_shrinks = 0  # AlterPartition requests that took a replica out of an ISR
        self.isr_shrinks_by_key: dict[str, int] = {}
        self.handlers = {
            "BrokerHeartbeat": self.on_heartbeat,
            "AlterPartition": self.on_alter_partition,
        }
        self.env.process(self._ticker())

    # --- liveness ------------------------------------------------------------------------
    def _ticker(self) -> Generator[Event, Any, None]:
        while True:
            yield self.env.timeout(TICK)
            now = self.env.now
            for b in self.brokers:
                if b not in self.fenced and now - self.last_heartbeat[b] > self.session_timeout:
                    self.fence(b)
            self.maybe_rebalance()

    def maybe_rebalance(self) -> None:
        """BUGGIFY's ``auto-leader-rebalance``: the leader-imbalance check runs this tick
        (QuorumController.maybeScheduleNextBalancePartitionLeaders ->
        ReplicationControlManager.maybeBalancePartitionLeaders): a PREFERRED election for every
        partition whose leader is not its first replica."""
        bug = self.world.buggify
        if bug is not None and bug("auto-leader-rebalance"):
            keys = [k for k, p in self.partitions.items() if p.leader != p.replicas[0]]
            if keys:
                self.elect_preferred(keys)

    def elect_preferred(self, keys: list[str]) -> dict[str, str]:
        """ElectLeaders(PREFERRED) for ``keys``: partition -> new leader, for those that moved.
        The preferred replica must be unfenced and in the ISR (PartitionChangeBuilder), unless
        the preferred-election-ignores-isr bug is on."""
        ignore_isr = BUG_PREFERRED_IGNORES_ISR in self.world.bugs
        moved: dict[str, str] = {}
        changed = []
        for key in keys:
            p = self.partitions[key]
            preferred = p.replicas[0]
            if p.leader == preferred or preferred in self.fenced:
                continue  # ELECTION_NOT_NEEDED / PREFERRED_LEADER_NOT_AVAILABLE
            if preferred not in p.isr:
                if not ignore_isr:
                    self.note(
                        tr.ELECTION,
                        f"preferred-election refused, replica outside ISR: {key} {preferred}",
                    )
                    continue
                self.note(
                    tr.ELECTION, f"preferred-election elects replica outside ISR: {key} {preferred}"
                )
                p.isr = [preferred, *(r for r in p.isr if r != preferred)]
            p.leader = preferred
            p.leader_epoch += 1
            p.partition_epoch += 1
            self.elections += 1
            moved[key] = preferred
            changed.append(p)
        self.push(changed)
        return moved

    def fence(self, broker: str) -> None:
        """ReplicationControlManager.handleBrokerFenced: the broker leaves every ISR (but one
        it is the last member of, unless Eligible Leader Replicas let the ISR empty) and its
        leaderships move."""
        self.fenced.add(broker)
        changed = []
        for p in self.partitions.values():
            touched = False
            if p.isr == [broker]:
                # what the partition committed is now only on brokers that are down (or, with
                # ELR, also on its eligible replicas): one of them comes back as leader, and
                # if it lost its page cache, so did the partition
                self.note(tr.OFFLINE, f"last ISR member fenced: {p.key} {broker}")
            if broker in p.isr and (len(p.isr) > 1 or self.elr_enabled):
                self._set_isr(p, [r for r in p.isr if r != broker])
                touched = True
            if p.leader == broker:
                self._elect(p)
                touched = True
            if touched:
                p.partition_epoch += 1
                changed.append(p)
        self.push(changed)

    def _set_isr(self, p: PartitionState, isr: list[str], unclean_shutdown: str = "") -> None:
        """A new ISR, and with Eligible Leader Replicas the ELR that goes with it
        (PartitionChangeBuilder.maybePopulateTargetElr): empty while the ISR holds at least
        min.insync.replicas; otherwise every replica of the old ISR or ELR that is not in the
        new ISR, except one that shut down uncleanly. (Replica order, where Kafka's is a hash
        set's.)"""
        if self.elr_enabled:
            if len(isr) >= self.min_isr:
                p.elr = []
            else:
                was = set(p.isr) | set(p.elr)
                p.elr = [
                    r for r in p.replicas if r in was and r not in isr and r != unclean_shutdown
                ]
            if not isr and p.isr and p.leader is not None:
                p.last_leader = p.leader  # PartitionChangeBuilder.maybeUpdateLastKnownLeader
        p.isr = isr

    def _elect(self, p: PartitionState) -> None:
        """PartitionChangeBuilder.electAnyLeader: the first live replica of the ISR, or of the
        ELR when the ISR is empty (it then becomes the ISR); with both empty, the last known
        leader if it is live (canElectLastKnownLeader: what Kafka did before KIP-966 when
        every replica was offline); else, with unclean.leader.election.enable, any live
        replica."""
        candidates, unclean = self._candidates(p)
        p.leader = candidates[0] if candidates else None
        p.leader_epoch += 1
        self.elections += 1
        if p.leader is None:
            return
        p.last_leader = None  # a valid leader clears it (maybeUpdateLastKnownLeader)
        if p.leader in p.elr:
            p.isr = [p.leader]  # elected from the ELR (PartitionChangeBuilder.tryElection)
            p.elr = [r for r in p.elr if r != p.leader]
        elif unclean or p.leader not in p.isr:
            p.isr = [p.leader]
            p.elr = []

    def restarted(self, b: str, incarnation: int) -> bool:
        """Record a registration; True when it comes from a new process (a new incarnation
        id: ClusterControlManager.registerBroker hands it to the unclean-shutdown handler). A
        broker registering again in the same process (after STALE_BROKER_EPOCH) is not one."""
        new = self.incarnations.get(b, 0) != incarnation
        self.incarnations[b] = incarnation
        return new

    def _candidates(self, p: PartitionState) -> tuple[list[str], bool]:
        """Who ``_elect`` may choose, in order, and whether that is an unclean election."""
        live = [r for r in p.replicas if r not in self.fenced]
        candidates = [r for r in p.replicas if r in p.isr and r in live]
        if not candidates and not p.isr:
            candidates = [r for r in p.replicas if r in p.elr and r in live]
            if not candidates and not p.elr and p.last_leader in live:
                candidates = [str(p.last_leader)]
        if not candidates and self.unclean:
            return live, True
        return candidates, False

    def unclean_shutdown(self, b: str) -> None:
        """ReplicationControlManager.handleBrokerUncleanShutdown: with Eligible Leader Replicas,
        a broker registering as a new incarnation (ClusterControlManager.registerBroker; a
        crash leaves no clean-shutdown epoch) leaves every ISR and ELR: what its crash may have
        taken from its page cache it cannot bring back as leader (KIP-966). Every restart
        registers, a plain crash's too: the controller cannot tell what the page cache kept."""
        if not self.elr_enabled:
            return
        changed = []
        for p in self.partitions.values():
            if b in p.isr or b in p.elr:
                self._set_isr(p, [r for r in p.isr if r != b], unclean_shutdown=b)
                # every partition change tries an election (PartitionChangeBuilder.build): one
                # left leaderless may now fall back to its last known leader
                if p.leader == b or (p.leader is None and self._candidates(p)[0]):
                    self._elect(p)
                p.partition_epoch += 1
                changed.append(p)
        self.push(changed)

    def on_heartbeat(self, msg: Message) -> None:
        b = msg.src
        incarnation = msg.body.get("incarnation", 0)
        if (
            msg.body.get("register")
            and b not in self.fenced
            and incarnation != self.incarnations.get(b, 0)
        ):
            # ClusterControlManager.registerBroker: a new incarnation is refused while the old
            # one's session is valid (DuplicateBrokerRegistrationException); it is let in once
            # the session has expired and fencing has moved its leaderships away. The same
            # incarnation registering again (its answer was lost) amends its registration.
            self.reply(msg, {"error": "duplicate_broker_registration"})
            return
        if msg.body.get("register") and self.restarted(b, incarnation):
            self.unclean_shutdown(b)
        self.last_heartbeat[b] = self.env.now
        self.unfence(b)
        self.reply(msg, {"image": self.image(), "fenced": b in self.fenced})

    def unfence(self, b: str) -> None:
        """A fenced broker heard from again: partitions left leaderless get it as leader when
        it is in their ISR, or in their ELR with the ISR empty, or was their last known leader
        with both empty (or any replica, with unclean.leader.election.enable)."""
        if b not in self.fenced:
            return
        self.fenced.discard(b)
        changed = []
        for p in self.partitions.values():
            eligible = b in p.isr or (
                not p.isr and (b in p.elr or (not p.elr and p.last_leader == b))
            )
            if p.leader is None and b in p.replicas and (eligible or self.unclean):
                if not eligible:
                    p.isr = [b]
                    p.elr = []
                self._elect(p)
                p.partition_epoch += 1
                changed.append(p)
        self.push(changed)

    # --- ISR changes (proposed by leaders) ------------------------------------------------
    def on_alter_partition(self, msg: Message) -> None:
        body = msg.body
        p = self.partitions[body["key"]]
        if (
            p.leader != msg.src
            or body["leader_epoch"] != p.leader_epoch
            or body["partition_epoch"] != p.partition_epoch
        ):
            self.answer_read(msg, {"error": "invalid_update_version", "state": p.image()})
            return
        new_isr = [
            r for r in p.replicas if r in body["isr"] and (r not in self.fenced or r == p.leader)
        ]
        if p.leader not in new_isr:
            new_isr.insert(0, p.leader)
        if new_isr == p.isr:
            self.answer_read(msg, {"state": p.image()})
            return
        if any(r not in new_isr for r in p.isr):
            self.isr_shrinks += 1
            self.isr_shrinks_by_key[p.key] = self.isr_shrinks_by_key.get(p.key, 0) + 1
        self._set_isr(p, new_isr)
        if self.reassignments is not None:
            self.reassignments.after_isr_change(p)  # may complete a reassignment
        p.partition_epoch += 1
        self.push([p])
        self.answer_after_commit(msg, {"state": p.image()})

    def answer_after_commit(self, msg: Message, body: dict[str, Any]) -> None:
        """Answer a request whose effect was just recorded. The single controller's decisions
        are final at once; a KRaft quorum's only once the metadata record commits."""
        self.reply(msg, body)

    def answer_read(self, msg: Message, body: dict[str, Any]) -> None:
        """Answer a request that changed nothing but read the controller's state. The single
        controller's state is final at once; a KRaft quorum's may hold records not committed
        yet, so the answer waits for them (sim.cluster.quorum)."""
        self.reply(msg, body)

    # --- metadata ------------------------------------------------------------------------
    def image(self) -> list[dict[str, Any]]:
        return [p.image() for p in self.partitions.values()]

    def push(self, changed: list[PartitionState]) -> None:
        if not changed:
            return
        image = [p.image() for p in changed]
        for b in self.brokers:
            self.net.send(Message(self.name, b, "UpdateMetadata", {"image": image}))

    def leader_of(self, key: str) -> str | None:
        return self.partitions[key].leader
