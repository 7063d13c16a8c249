"""Dependency cycles between committed operations: G0 and G1c, found with networkx.

Nodes are committed ``send``, ``poll`` and ``txn`` ops (``ok``, or ``info`` with a value read),
as in Jepsen's Kafka checker, which builds its graph over all three. Edges:

- ww: on one key, the writer of a value precedes the writer of the next value in log order
  (adjacent pairs only: the rest follows by transitivity). A send's place is the offset its own
  completion reports, else where its value was first seen;
- wr: T1 wrote a value T2 read (every value read, as Jepsen's ``wr-graph`` does).

G0 is a cycle of ww edges only. G1c is a cycle with at least one wr edge; its witness says
whether the cycle needs ww edges (``wr_only``). Kafka promises atomic visibility, not a serial
order of appends: concurrent transactions interleave their writes to partitions, so ww cycles
(and wr cycles closed by them) are legal there. A cycle of wr edges alone is not: each
transaction would have read the other's committed write before committing itself.

Only ops that can lie on a cycle become nodes, which keeps a million-op history cheap: an op
that writes nothing has no outgoing edge (pure polls); an op that writes one key, reads nothing,
and whose values no writing op read has only its key's ww chain through it, so leaving it out
and linking its neighbours on that chain keeps every cycle. Strongly connected components come
first; one cycle is searched in each non-trivial component.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkers.index import HistoryIndex
from checkers.micro import has_reads, mops, reads_by_key, writes
from checkers.witness import Anomalies, add, who, witness

if TYPE_CHECKING:
    import networkx as nx

# The graph as plain data, in the order networkx is given it: nodes, and per ordered pair the
# edge's attributes ({"types": {...}, kind: (key, a's value, b's value)}).
Parts = tuple[list[int], dict[tuple[int, int], dict[str, Any]]]

_GRAPH_FS = frozenset({"send", "poll", "txn"})


def _candidate(ix: HistoryIndex, op: dict[str, Any]) -> bool:
    """For an op of ``ix.completions``: a committed write the graph may need."""
    return op["index"] in ix.committed and (op["f"] in _GRAPH_FS or op.get("txn_id") is not None)


def build_graph(ix: HistoryIndex) -> nx.DiGraph:
    return _to_networkx(_graph_parts(ix))


def _to_networkx(parts: Parts) -> nx.DiGraph:
    import networkx as nx

    nodes, edges = parts
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    for (a, b), data in edges.items():
        g.add_edge(a, b, **data)
    return g


def _has_cycle(parts: Parts) -> bool:
    """Whether the graph has a cycle (Kahn's algorithm; there are no self-loops). Without one
    every strongly connected component is a single op and there is no G0 or G1c to find, so
    networkx (a tenth of a second to import) is not needed."""
    nodes, edges = parts
    indegree = dict.fromkeys(nodes, 0)
    succ: dict[int, list[int]] = {}
    for a, b in edges:
        indegree[b] += 1
        succ.setdefault(a, []).append(b)
    ready = [n for n, d in indegree.items() if d == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for m in succ.get(n, ()):
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
    return seen < len(indegree)


def _graph_parts(ix: HistoryIndex) -> Parts:
    nodes: list[int] = []
    edges: dict[tuple[int, int], dict[str, Any]] = {}
    cands = [op for op in ix.completions if _candidate(ix, op)]  # committed ops are writers
    writing_readers = [(op, reads_by_key(op)) for op in cands if has_reads(op)]
    readers = {op["index"] for op, _ in writing_readers}
    read_by_writer = {(k, v) for _, rk in writing_readers for k, ps in rk.items() for _, v in ps}
    per_key: dict[str, list[tuple[int, int, Any]]] = {}
    kept: set[int] = set()
    for op in cands:
        idx = op["index"]
        if idx not in readers and not read_by_writer and len(mops(op)) == 1:
            continue  # one send, no reads, nothing of it read by a writer: no cycle through it
        sent = list(writes(op))
        if not (
            idx in readers
            or len({k for k, _, _ in sent}) > 1
            or any((k, v) in read_by_writer for k, _, v in sent)
        ):
            continue
        kept.add(idx)
        nodes.append(idx)
        for key, off, v in sent:
            p = off if off is not None else ix.position(key, v)
            if p is not None:
                per_key.setdefault(key, []).append((p, idx, v))
    for key, entries in per_key.items():
        entries.sort(key=lambda e: e[0])
        for (_, a, va), (_, b, vb) in zip(entries, entries[1:], strict=False):
            if a != b:
                _edge(edges, a, b, "ww", key, va, vb)
    for op, rk in writing_readers:
        idx = op["index"]
        for key, pairs in rk.items():
            for _, v in pairs:
                for w in ix.writer_ops(key, v):
                    if w["index"] in kept and w["index"] != idx:
                        _edge(edges, w["index"], idx, "wr", key, v, v)
    return nodes, edges


def _edge(
    edges: dict[tuple[int, int], dict[str, Any]],
    a: int,
    b: int,
    kind: str,
    key: str,
    va: Any,
    vb: Any,
) -> None:
    """One edge per ordered pair; the first reason of each kind is kept for the witness:
    (key, a's value, b's value)."""
    data = edges.get((a, b))
    if data is not None:
        data["types"].add(kind)
        data.setdefault(kind, (key, va, vb))
    else:
        edges[(a, b)] = {"types": {kind}, kind: (key, va, vb)}


def check_cycles(ix: HistoryIndex) -> Anomalies:
    """G0 and G1c witnesses, one cycle per strongly connected component."""
    out: Anomalies = {}
    parts = _graph_parts(ix)
    if not parts[1] or not _has_cycle(parts):
        return out
    import networkx as nx

    g = _to_networkx(parts)
    ww = g.edge_subgraph([(a, b) for a, b, d in g.edges(data=True) if "ww" in d["types"]])
    for cycle in _one_cycle_per_scc(ww):
        add(out, "G0", _cycle_witness(ix, g, cycle, "ww", "G0"))
    wr = g.edge_subgraph([(a, b) for a, b, d in g.edges(data=True) if "wr" in d["types"]])
    pure: set[int] = set()
    for cycle in _one_cycle_per_scc(wr):
        pure.update(cycle)
        add(out, "G1c", _cycle_witness(ix, g, cycle, "wr", "G1c", wr_only=True))
    for comp in nx.strongly_connected_components(g):
        if len(comp) < 2 or comp & pure:
            continue
        sub = g.subgraph(comp)
        edge = next(((a, b) for a, b, d in sub.edges(data=True) if "wr" in d["types"]), None)
        if edge is None:
            continue
        back = nx.shortest_path(sub, edge[1], edge[0])
        add(out, "G1c", _cycle_witness(ix, g, [edge[0], *back[:-1]], None, "G1c", wr_only=False))
    return out


def _one_cycle_per_scc(g: nx.DiGraph) -> list[list[int]]:
    import networkx as nx

    cycles = []
    for comp in sorted(nx.strongly_connected_components(g), key=min):
        if len(comp) < 2:
            continue
        sub = g.subgraph(comp)
        start = min(comp)
        edges = nx.find_cycle(sub, source=start)
        cycles.append([a for a, _ in edges])
    return cycles


def _cycle_witness(
    ix: HistoryIndex,
    g: nx.DiGraph,
    cycle: list[int],
    prefer: str | None,
    name: str,
    **extra: Any,
) -> dict[str, Any]:
    steps = []
    for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True):
        d = g[a][b]
        kind = prefer if prefer in d["types"] else ("wr" if "wr" in d["types"] else "ww")
        key, va, vb = d[kind]
        step = {"from": a, "to": b, "type": kind, "key": key, "value": va}
        if kind == "ww":
            step["value_to"] = vb
        steps.append(step)
    text = "; ".join(_step_text(ix, s) for s in steps)
    return witness(
        cycle,
        f"{name} cycle of {len(cycle)} ops: {text}",
        cycle=cycle,
        steps=steps,
        **extra,
    )


def _step_text(ix: HistoryIndex, s: dict[str, Any]) -> str:
    a, b = who(ix.op_at(s["from"])), who(ix.op_at(s["to"]))
    if s["type"] == "ww":
        return f"{a} sent {s['value']} to {s['key']} before {b} sent {s['value_to']}"
    return f"{a} sent {s['value']} to {s['key']}, which {b} polled"
