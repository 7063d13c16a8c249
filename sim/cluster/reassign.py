"""Partition reassignment, driven through the controller (preferred-leader election is the
controller's own, ``Controller.elect_preferred``).

Modelled on the KRaft controller (apache/kafka, metadata/src/main/java/org/apache/kafka/controller):

- ``ReplicationControlManager.alterPartitionReassignments`` -> ``changePartitionReassignment``:
  the target set is split by ``PartitionReassignmentReplicas`` into *adding* (target - current)
  and *removing* (current - target); while the move runs the partition's replicas are
  ``target + removing``, so the new replicas are assigned and start fetching from the leader
  (an empty log fetches from offset 0) while the old ones stay in the ISR.
- ``PartitionReassignmentReplicas.maybeCompleteReassignment``, called by
  ``PartitionChangeBuilder.build`` on every partition change (here: every ISR change the leader
  proposes with AlterPartition): once the ISR without the removing replicas contains every
  target replica, the replicas become the target, the ISR drops the removing replicas, and
  ``tryElection`` keeps the leader if it is still in the ISR, else elects the first target
  replica in the ISR. ``triggerLeaderEpochBumpForReplicaReassignmentIfNeeded`` bumps the leader
  epoch because replicas left.
- A broker that is no longer a replica stops fetching and deletes its log (ReplicaManager
  ``applyDelta`` -> ``stopPartitions(delete = true)``): see ``Broker.apply_image``.
- ``ReplicationControlManager.electLeader`` with ``ElectionType.PREFERRED`` ->
  ``PartitionChangeBuilder.electPreferredLeader``: the first replica becomes leader if it is in
  the ISR and not fenced (``isValidNewLeader``); otherwise the leader stays
  (``Controller.elect_preferred``).

Nothing here runs unless a reassignment or an election is asked for: the controller calls
``after_isr_change`` only when a ``Reassignments`` object exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.cluster.controller import Controller, PartitionState

# Bug switch: the old replicas are removed and the new ones counted in the ISR as soon as the
# move starts, so a replica that has fetched nothing can be elected leader.
BUG_EARLY_COMPLETE = "reassign-drops-before-caught-up"


@dataclass
class Move:
    """One partition's reassignment in progress (PartitionReassignmentReplicas)."""

    key: str
    target: list[str]
    adding: list[str]
    removing: list[str]
    original: list[str]


Notify = Callable[[str, dict[str, Any]], None]


class Reassignments:
    """The controller's reassignments in progress, attached as ``controller.reassignments``."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.ongoing: dict[str, Move] = {}
        self.completed = 0
        self.leaving: set[str] = set()  # brokers being decommissioned (sim.cluster.membership)
        self.notify: Notify | None = None  # what the layer above records (the history)

    # --- AlterPartitionReassignments --------------------------------------------------------
    def start(self, key: str, target: list[str]) -> str | None:
        """Begin moving ``key`` to ``target``; returns an error code, or None once accepted."""
        c = self.controller
        p = c.partitions.get(key)
        if p is None:
            return "unknown_topic_or_partition"
        if key in self.ongoing:
            return "reassignment_in_progress"
        if len(set(target)) != len(target) or not target:
            return "invalid_replica_assignment"
        if any(b not in c.brokers for b in target):
            return "invalid_replica_assignment"  # validateManualPartitionAssignment: unregistered
        current = list(p.replicas)
        adding = [b for b in target if b not in current]
        removing = [b for b in current if b not in target]
        move = Move(key, list(target), adding, removing, current)
        if BUG_EARLY_COMPLETE in c.world.bugs:
            self._complete_early(p, move)
            return None
        p.replicas = [*target, *removing]
        self.ongoing[key] = move
        if not self._maybe_complete(p):
            p.partition_epoch += 1
        c.push([p])
        return None

    def _complete_early(self, p: PartitionState, move: Move) -> None:
        """The bug: drop the old replicas at once and count the new ones as in sync."""
        c = self.controller
        p.replicas = list(move.target)
        p.isr = [r for r in move.target if r not in c.fenced]
        if p.leader not in p.isr:
            c._elect(p)
        else:
            p.leader_epoch += 1
        p.partition_epoch += 1
        self.completed += 1
        c.push([p])
        self._notify(move, p)

    # --- completion (PartitionChangeBuilder.completeReassignmentIfNeeded) --------------------
    def after_isr_change(self, p: PartitionState) -> None:
        """Called by the controller after it accepted an ISR change, before it bumps the
        partition epoch and pushes the new state."""
        if p.key in self.ongoing:
            self._maybe_complete(p, bump=False)

    def _maybe_complete(self, p: PartitionState, bump: bool = True) -> bool:
        move = self.ongoing[p.key]
        isr = [r for r in p.isr if r not in move.removing]
        if not isr or any(r not in isr for r in move.target):
            return False
        c = self.controller
        del self.ongoing[p.key]
        p.replicas = list(move.target)
        p.isr = isr
        if p.leader not in isr or p.leader in c.fenced:
            c._elect(p)  # first target replica in the ISR and not fenced
        elif move.removing:
            p.leader_epoch += 1  # triggerLeaderEpochBumpForReplicaReassignmentIfNeeded
        if bump:
            p.partition_epoch += 1
        self.completed += 1
        self._notify(move, p)
        return True

    def _notify(self, move: Move, p: PartitionState) -> None:
        if self.notify is not None:
            self.notify(
                "completed",
                {
                    "partition": move.key,
                    "from": move.original,
                    "replicas": list(p.replicas),
                    "leader": p.leader,
                },
            )

    def involving(self, broker: str) -> list[str]:
        """Partitions whose move is still taking replicas off ``broker``."""
        return [k for k, m in self.ongoing.items() if broker in m.removing]


def reassignments(controller: Controller) -> Reassignments:
    """The controller's reassignment state, created on first use."""
    if controller.reassignments is None:
        controller.reassignments = Reassignments(controller)
    state: Reassignments = controller.reassignments
    return state
