"""Dependency cycles between committed transactions: G0 and G1c, found with networkx.

Nodes are committed transactions (``f == "txn"`` or ops carrying ``txn_id``; ``ok``, or ``info``
with a value read). Edges, as in Jepsen's Kafka checker:

- ww: on one key, the writer of a value precedes the writer of the next value in log order
  (adjacent pairs only: the rest follows by transitivity);
- wr: T2's last read of a key returned a value T1 wrote.

G0 is a cycle of ww edges only. G1c is a cycle with at least one wr edge; its witness says
whether the cycle needs ww edges (``wr_only``). Kafka promises atomic visibility, not a serial
order of appends: concurrent transactions interleave their writes to partitions, so ww cycles
(and wr cycles closed by ww edges) are legal there. A cycle of wr edges alone is not: each
transaction would have read the other's committed write before committing itself.

To stay near-linear we compute strongly connected components first and search for one cycle in
each non-trivial component.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from checkers.index import HistoryIndex
from checkers.micro import reads_by_key, writes
from checkers.witness import Anomalies, add, witness


def _is_txn(op: dict[str, Any]) -> bool:
    return op["f"] == "txn" or op.get("txn_id") is not None


def build_graph(ix: HistoryIndex) -> nx.DiGraph:
    g = nx.DiGraph()
    txns: dict[int, dict[str, Any]] = {}
    per_key: dict[str, list[tuple[int, int, Any]]] = {}
    for op in ix.history:
        if op["type"] == "invoke" or op["index"] not in ix.committed or not _is_txn(op):
            continue
        idx = op["index"]
        txns[idx] = op
        g.add_node(idx)
        for key, _, v in writes(op):
            p = ix.position(key, v)
            if p is not None:
                per_key.setdefault(key, []).append((p, idx, v))
    for key, entries in per_key.items():
        entries.sort(key=lambda e: e[0])
        for (_, a, _va), (_, b, vb) in zip(entries, entries[1:], strict=False):
            if a != b:
                _edge(g, a, b, "ww", key, vb)
    for idx, op in txns.items():
        for key, pairs in reads_by_key(op).items():
            known = [(o, v) for o, v in pairs if o is not None]
            if not known:
                continue
            _, last = max(known, key=lambda p: p[0])
            for w in ix.writer_ops(key, last):
                if w["index"] in txns and w["index"] != idx:
                    _edge(g, w["index"], idx, "wr", key, last)
    return g


def _edge(g: nx.DiGraph, a: int, b: int, kind: str, key: str, value: Any) -> None:
    if g.has_edge(a, b):
        data = g[a][b]
        data["types"].add(kind)
        data.setdefault(kind, (key, value))
    else:
        g.add_edge(a, b, types={kind}, **{kind: (key, value)})


def check_cycles(ix: HistoryIndex) -> Anomalies:
    out: Anomalies = {}
    g = build_graph(ix)
    if g.number_of_edges() == 0:
        return out
    ww = g.edge_subgraph([(a, b) for a, b, d in g.edges(data=True) if "ww" in d["types"]])
    for cycle in _one_cycle_per_scc(ww):
        add(out, "G0", _cycle_witness(g, cycle, "ww", "G0"))
    wr = g.edge_subgraph([(a, b) for a, b, d in g.edges(data=True) if "wr" in d["types"]])
    pure: set[int] = set()
    for cycle in _one_cycle_per_scc(wr):
        pure.update(cycle)
        add(out, "G1c", _cycle_witness(g, cycle, "wr", "G1c", wr_only=True))
    for comp in nx.strongly_connected_components(g):
        if len(comp) < 2 or comp & pure:
            continue
        sub = g.subgraph(comp)
        edge = next(((a, b) for a, b, d in sub.edges(data=True) if "wr" in d["types"]), None)
        if edge is None:
            continue
        back = nx.shortest_path(sub, edge[1], edge[0])
        add(out, "G1c", _cycle_witness(g, [edge[0], *back[:-1]], None, "G1c", wr_only=False))
    return out


def _one_cycle_per_scc(g: nx.DiGraph) -> list[list[int]]:
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
    g: nx.DiGraph, cycle: list[int], prefer: str | None, name: str, **extra: Any
) -> dict[str, Any]:
    steps = []
    for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True):
        d = g[a][b]
        kind = prefer if prefer in d["types"] else ("wr" if "wr" in d["types"] else "ww")
        key, value = d[kind]
        steps.append({"from": a, "to": b, "type": kind, "key": key, "value": value})
    text = "; ".join(_step_text(s) for s in steps)
    return witness(
        cycle,
        f"{name} cycle of {len(cycle)} txns: {text}",
        cycle=cycle,
        steps=steps,
        **extra,
    )


def _step_text(s: dict[str, Any]) -> str:
    if s["type"] == "ww":
        return f"op {s['from']} wrote {s['key']} before op {s['to']} wrote {s['value']}"
    return f"op {s['to']} read {s['value']} on {s['key']} from op {s['from']}"
