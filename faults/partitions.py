"""Network partition shapes (Jepsen's: isolate one node, halves, majorities ring, bridge),
computed with networkx as the complement of the links each shape allows."""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx


def cut_for_allowed(nodes: list[str], allowed: nx.Graph) -> list[tuple[str, str]]:
    """Directed edges to cut: every pair of ``nodes`` not joined in ``allowed``."""
    import networkx as nx  # only when a partition fires: a run without one never imports it

    full = nx.Graph()
    full.add_nodes_from(nodes)
    full.add_edges_from(allowed.edges)
    cut = []
    for a, b in sorted(nx.complement(full).edges):
        cut += [(a, b), (b, a)]
    return sorted(cut)


def groups_allowed(groups: list[list[str]]) -> nx.Graph:
    import networkx as nx

    g = nx.Graph()
    for group in groups:
        g.add_nodes_from(group)
        g.add_edges_from(itertools.combinations(group, 2))
    return g


def isolate(nodes: list[str], victim: str) -> list[tuple[str, str]]:
    others = [n for n in nodes if n != victim]
    return cut_for_allowed(nodes, groups_allowed([others, [victim]]))


def halves(nodes: list[str], rng: random.Random) -> tuple[list[tuple[str, str]], list[list[str]]]:
    shuffled = sorted(nodes)
    rng.shuffle(shuffled)
    mid = len(shuffled) // 2
    groups = [sorted(shuffled[:mid]), sorted(shuffled[mid:])]
    return cut_for_allowed(nodes, groups_allowed(groups)), groups


def majorities_ring(nodes: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """Every node sees a majority, but no two see the same one (a ring of neighbours)."""
    ring = sorted(nodes)
    rng.shuffle(ring)
    n = len(ring)
    reach = -(-(n // 2) // 2)  # each side of the window: ceil((majority - 1) / 2)
    import networkx as nx

    allowed = nx.Graph()
    allowed.add_nodes_from(ring)
    for i, node in enumerate(ring):
        for k in range(1, reach + 1):
            allowed.add_edge(node, ring[(i + k) % n])
    return cut_for_allowed(nodes, allowed)


def bridge(nodes: list[str], rng: random.Random) -> tuple[list[tuple[str, str]], str]:
    """Two halves that cannot talk, and one node that talks to both."""
    shuffled = sorted(nodes)
    rng.shuffle(shuffled)
    middle = shuffled[0]
    rest = shuffled[1:]
    mid = len(rest) // 2
    allowed = groups_allowed([[middle, *rest[:mid]], [middle, *rest[mid:]]])
    return cut_for_allowed(nodes, allowed), middle


def between(a_side: list[str], b_side: list[str], one_way: bool = False) -> list[tuple[str, str]]:
    """Cut a_side -> b_side (and back, unless one-way)."""
    edges = [(a, b) for a in a_side for b in b_side if a != b]
    if not one_way:
        edges += [(b, a) for a, b in edges]
    return sorted(edges)
