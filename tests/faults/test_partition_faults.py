"""Partition nemeses: the shapes (faults.partitions, pure functions over a seeded Random), the
edges each nemesis cuts in a live world, and what the cluster does about it."""

from __future__ import annotations

import itertools
import random

import networkx as nx
import pytest

from faults import partitions
from sim.config import Config
from tests.faults.faultkit import (
    Stepper,
    completed,
    duplicated_values,
    fault,
    fault_target,
    leader_value_counts,
    missing_edges,
    run,
)

SEEDS = range(4)
CLUSTER = ["b0", "b1", "b2", "controller"]


def talks(nodes: list[str], cut: list[tuple[str, str]]) -> dict[str, set[str]]:
    """node -> the nodes it can exchange messages with (both directions, itself included)."""
    cut_set = set(cut)
    return {
        a: {b for b in nodes if a == b or ((a, b) not in cut_set and (b, a) not in cut_set)}
        for a in nodes
    }


def nodes_of(n: int) -> list[str]:
    return [*(f"b{i}" for i in range(n - 1)), "controller"]


# --- shapes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("seed", SEEDS)
def test_halves_are_two_groups_that_cannot_talk(n: int, seed: int) -> None:
    nodes = nodes_of(n)
    cut, groups = partitions.halves(nodes, random.Random(seed))
    a, b = (set(g) for g in groups)
    assert a | b == set(nodes) and not a & b
    assert abs(len(a) - len(b)) <= 1 and a and b
    assert set(cut) == {(x, y) for x in a for y in b} | {(y, x) for x in a for y in b}
    view = talks(nodes, cut)
    for x in nodes:
        assert view[x] == (a if x in a else b)


@pytest.mark.parametrize("n", [4, 5])
@pytest.mark.parametrize("seed", SEEDS)
def test_ring_every_node_sees_a_distinct_majority(n: int, seed: int) -> None:
    nodes = nodes_of(n)
    cut = partitions.majorities_ring(nodes, random.Random(seed))
    view = talks(nodes, cut)
    assert cut, "a ring of 4+ nodes cuts something"
    for x in nodes:
        assert len(view[x]) >= n // 2 + 1, (x, view[x])
    assert len({frozenset(v) for v in view.values()}) == n, "two nodes see the same majority"
    # The allowed links form one cycle through every node.
    allowed = nx.Graph([(a, b) for a in nodes for b in view[a] if a < b])
    assert nx.is_connected(allowed) and all(d == 2 for _, d in allowed.degree)


@pytest.mark.parametrize("n", [6, 7])
def test_ring_majorities_hold_for_larger_clusters(n: int) -> None:
    nodes = nodes_of(n)
    cut = partitions.majorities_ring(nodes, random.Random(0))
    view = talks(nodes, cut)
    assert all(len(view[x]) >= n // 2 + 1 for x in nodes), {x: len(v) for x, v in view.items()}


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
@pytest.mark.parametrize("seed", SEEDS)
def test_bridge_node_reaches_everyone_and_the_sides_are_cut(n: int, seed: int) -> None:
    nodes = nodes_of(n)
    cut, middle = partitions.bridge(nodes, random.Random(seed))
    view = talks(nodes, cut)
    assert view[middle] == set(nodes)
    assert all((middle, x) not in cut and (x, middle) not in cut for x in nodes)
    rest = [x for x in nodes if x != middle]
    sides = {frozenset(view[x] - {middle}) for x in rest}
    assert len(sides) == 2, sides
    left, right = sides
    assert not left & right and left | right == set(rest)
    assert set(cut) == {(a, b) for a in left for b in right} | {(b, a) for a in left for b in right}


def test_shapes_are_deterministic_per_seed_and_vary_across_seeds() -> None:
    nodes = nodes_of(6)
    for shape in (partitions.halves, partitions.majorities_ring, partitions.bridge):
        assert shape(nodes, random.Random(7)) == shape(nodes, random.Random(7))
        assert len({repr(shape(nodes, random.Random(s))) for s in range(10)}) > 1, shape


def test_isolate_and_between() -> None:
    nodes = ["b0", "b1", "c0", "controller"]
    assert set(partitions.isolate(nodes, "b1")) == {
        e for x in nodes if x != "b1" for e in (("b1", x), (x, "b1"))
    }
    assert partitions.between(["a", "b"], ["c"]) == [("a", "c"), ("b", "c"), ("c", "a"), ("c", "b")]
    assert partitions.between(["a", "b"], ["c"], one_way=True) == [("a", "c"), ("b", "c")]


# --- live shapes ---------------------------------------------------------------------------------
def cluster_view(world: object) -> dict[str, set[str]]:
    cut = [e for e in missing_edges(world) if e[0] in CLUSTER and e[1] in CLUSTER]  # type: ignore[arg-type]
    return talks(CLUSTER, cut)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("nemesis", ["partition-halves", "partition-ring", "partition-bridge"])
def test_cluster_partitions_cut_the_expected_shape_and_heal(nemesis: str, seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=5, convergence=3)
    st = Stepper(cfg, seed, [fault(1.0, nemesis, 2.0, "brokers")]).until(2.0)
    cut = missing_edges(st.world)
    assert cut and all(a in CLUSTER and b in CLUSTER for a, b in cut), "clients are never cut"
    view = cluster_view(st.world)
    sizes = sorted(len(v) for v in view.values())
    if nemesis == "partition-halves":
        assert sizes == [2, 2, 2, 2]
        assert len({frozenset(v) for v in view.values()}) == 2
    elif nemesis == "partition-ring":
        assert sizes == [3, 3, 3, 3]  # each node sees a majority of the 4 cluster nodes
        assert len({frozenset(v) for v in view.values()}) == 4
    else:
        assert sizes == [2, 3, 3, 4]  # one bridge sees all, the sides 1 and 2 nodes + the bridge
    st.until(3.01)
    assert missing_edges(st.world) == set()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("nemesis", ["partition-halves", "partition-ring", "partition-bridge"])
def test_cluster_partitions_lose_no_acknowledged_send(nemesis: str, seed: int) -> None:
    cfg = Config(mode="idempotent", acks="all", time_limit=5, convergence=3)
    world, _, _ = run(cfg, seed, [fault(1.0, nemesis, 2.0, "brokers")])
    logs = leader_value_counts(world)
    acked = [c for _, c in completed(world.history.ops, f="send") if c["type"] == "ok"]
    assert len(acked) > 150
    for c in acked:
        [[_, key, [_, value]]] = c["value"]
        assert logs[key][value] == 1, (key, value)
    assert duplicated_values(world) == []


# --- partition-node ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_partition_node_on_a_leader_moves_leadership_and_it_rejoins_the_isr(seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=5, convergence=2)
    st = Stepper(cfg, seed, [fault(1.0, "partition-node", 2.0, "leader-of:k3")]).until(0.999)
    p = st.world.controller.partitions["k3"]
    leader_before, epoch_before = p.leader, p.leader_epoch
    st.until(2.9)
    victim = fault_target(st.world.history.ops)
    assert victim == leader_before
    others = set(st.world.net.graph.nodes) - {victim}
    assert missing_edges(st.world) == {e for x in others for e in ((victim, x), (x, victim))}
    assert p.leader not in (None, victim)
    assert p.leader_epoch > epoch_before
    assert victim not in p.isr
    st.until(4.9)
    assert p.leader != victim or p.leader_epoch > epoch_before + 1
    assert victim in p.isr, "the healed broker caught up and rejoined the ISR"
    leader_log = st.world.brokers[p.leader].logs["k3"]
    assert st.world.brokers[victim].logs["k3"].hw <= leader_log.hw


# --- partition-leader ----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_partition_leader_cuts_clients_off_the_leader_but_not_brokers(seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=5, convergence=2)
    st = Stepper(cfg, seed, [fault(1.0, "partition-leader", 2.0, "leader-of:k0")]).until(0.999)
    leader = st.world.controller.leader_of("k0")
    st.until(2.0)
    assert fault_target(st.world.history.ops) == leader
    net = st.world.net
    clients = [s.name for s in st.workload.live_sessions()]
    assert clients
    for c in clients:
        assert not net.reachable(c, leader) and not net.reachable(leader, c)
    for b in [*st.world.broker_names(), "controller"]:
        if b != leader:
            assert net.reachable(b, leader) and net.reachable(leader, b)
    assert missing_edges(st.world) == {e for c in clients for e in ((c, leader), (leader, c))}
    assert st.world.controller.leader_of("k0") == leader, "brokers still see it: no election"
    st.until(3.01)
    assert all(net.reachable(c, leader) for c in clients)


# --- partition-one-way / partition-controller ----------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_partition_one_way_cuts_only_inbound_links(seed: int) -> None:
    cfg = Config(mode="idempotent", time_limit=4, convergence=2)
    st = Stepper(cfg, seed, [fault(1.0, "partition-one-way", 1.5, "b1")]).until(1.5)
    others = set(st.world.net.graph.nodes) - {"b1"}
    assert missing_edges(st.world) == {(x, "b1") for x in others}
    assert all(st.world.net.reachable("b1", x) for x in others)
    st.until(2.51)
    assert missing_edges(st.world) == set()


@pytest.mark.parametrize("seed", SEEDS)
def test_partition_controller_cuts_only_the_controller_link_and_fences_the_broker(
    seed: int,
) -> None:
    cfg = Config(mode="idempotent", time_limit=5, convergence=2)
    st = Stepper(cfg, seed, [fault(1.0, "partition-controller", 2.0, "b0")]).until(0.999)
    led = sorted(k for k, p in st.world.controller.partitions.items() if p.leader == "b0")
    assert led
    st.until(2.9)
    assert missing_edges(st.world) == {("b0", "controller"), ("controller", "b0")}
    clients = [n for n in st.world.net.graph.nodes if n[0] == "c" and n[1:].isdigit()]
    assert clients and all(st.world.net.reachable(c, "b0") for c in clients)
    assert "b0" in st.world.controller.fenced, "no heartbeats: the controller fences it"
    assert all(st.world.controller.leader_of(k) != "b0" for k in led)
    st.until(4.9)
    assert "b0" not in st.world.controller.fenced


# --- overlapping partitions ----------------------------------------------------------------------
def test_overlapping_partitions_heal_independently() -> None:
    cfg = Config(mode="idempotent", time_limit=5, convergence=2)
    schedule = [
        fault(1.0, "partition-node", 2.0, "b0"),
        fault(2.0, "partition-controller", 2.0, "b0"),
    ]
    st = Stepper(cfg, 1, schedule).until(2.5)
    assert ("b0", "controller") in missing_edges(st.world)
    assert len(missing_edges(st.world)) > 2
    st.until(3.5)  # partition-node healed; partition-controller still holds its edges
    assert missing_edges(st.world) == {("b0", "controller"), ("controller", "b0")}
    st.until(4.5)
    assert missing_edges(st.world) == set()


def test_partition_edges_name_only_existing_nodes() -> None:
    nodes = nodes_of(4)
    for a, b in itertools.chain(
        partitions.halves(nodes, random.Random(1))[0],
        partitions.majorities_ring(nodes, random.Random(1)),
        partitions.bridge(nodes, random.Random(1))[0],
    ):
        assert a in nodes and b in nodes and a != b
