"""Concise builders for hand-written histories in eosim's format (DESIGN.md, "History")."""

from __future__ import annotations

from typing import Any

import checkers

Reads = dict[str, list[tuple[int, Any]]]


class H:
    """Appends ops in call order; each helper returns the history index of its completion."""

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []

    def _add(self, process: Any, type_: str, f: str, value: Any, **extra: Any) -> int:
        op = {
            "index": len(self.ops),
            "time": len(self.ops) / 100,
            "process": process,
            "type": type_,
            "f": f,
            "value": value,
        }
        op.update(extra)
        self.ops.append(op)
        return op["index"]

    # --- raw -------------------------------------------------------------------------------
    def invoke(self, p: Any, f: str, value: Any, **extra: Any) -> int:
        return self._add(p, "invoke", f, value, **extra)

    def complete(self, p: Any, type_: str, f: str, value: Any, **extra: Any) -> int:
        return self._add(p, type_, f, value, **extra)

    def nemesis(self, f: str, value: Any = None) -> int:
        return self._add("nemesis", "info", f, value)

    # --- sends -----------------------------------------------------------------------------
    def send_invoke(self, p: Any, key: str, value: Any, **extra: Any) -> int:
        return self.invoke(p, "send", [["send", key, value]], **extra)

    def send_done(
        self, p: Any, key: str, value: Any, offset: int | None, type_: str = "ok", **extra: Any
    ) -> int:
        return self.complete(p, type_, "send", [["send", key, [offset, value]]], **extra)

    def send(
        self,
        p: Any,
        key: str,
        value: Any,
        offset: int | None = None,
        type_: str = "ok",
        **extra: Any,
    ) -> int:
        self.send_invoke(p, key, value, **extra)
        return self.send_done(p, key, value, offset, type_, **extra)

    def sends(
        self,
        p: Any,
        items: list[tuple[str, Any, int | None]],
        type_: str = "ok",
        f: str = "send",
        **extra: Any,
    ) -> int:
        """One op with several send micro-ops: items are (key, value, offset)."""
        self.invoke(p, f, [["send", k, v] for k, v, _ in items], **extra)
        return self.complete(p, type_, f, [["send", k, [o, v]] for k, v, o in items], **extra)

    # --- transactions ----------------------------------------------------------------------
    def txn(
        self,
        p: Any,
        sends: list[tuple[str, Any, int | None]] | None = None,
        polls: Reads | None = None,
        type_: str = "ok",
        **extra: Any,
    ) -> int:
        """A txn op: an optional poll micro-op first, then sends (key, value, offset)."""
        inv: list[Any] = [["poll"]] if polls is not None else []
        done: list[Any] = [["poll", _pairs(polls)]] if polls is not None else []
        inv += [["send", k, v] for k, v, _ in sends or []]
        done += [["send", k, [o, v]] for k, v, o in sends or []]
        self.invoke(p, "txn", inv, **extra)
        return self.complete(p, type_, "txn", done, **extra)

    def init(self, p: Any, txn_id: str, epoch: int, type_: str = "ok") -> int:
        self.invoke(p, "init", {"txn_id": txn_id})
        return self.complete(p, type_, "init", {"txn_id": txn_id, "pid": 1, "epoch": epoch})

    # --- consumers -------------------------------------------------------------------------
    def poll(self, p: Any, reads: Reads, type_: str = "ok", **extra: Any) -> int:
        self.invoke(p, "poll", [["poll"]], **extra)
        return self.complete(p, type_, "poll", [["poll", _pairs(reads)]], **extra)

    def read_all(self, p: Any = "final") -> int:
        """Final reads: one poll of every key's acknowledged records, from the log's start, as
        Jepsen's workload and eosim's runs end (else unread values make the verdict unknown)."""
        logs: dict[str, dict[int, Any]] = {}
        for op in self.ops:
            if op["type"] != "ok":
                continue
            for mop in op["value"] if isinstance(op["value"], list) else []:
                if isinstance(mop, list) and len(mop) == 3 and mop[0] == "send":
                    off, v = mop[2]
                    if off is not None:
                        logs.setdefault(mop[1], {})[off] = v
        keys = sorted(logs)
        self.assign(p, keys)
        return self.poll(p, {k: sorted(logs[k].items()) for k in keys})

    def assign(self, p: Any, keys: list[str]) -> int:
        self.invoke(p, "assign", keys)
        return self.complete(p, "ok", "assign", keys)

    def subscribe(self, p: Any, keys: list[str], **extra: Any) -> int:
        self.invoke(p, "subscribe", keys, **extra)
        return self.complete(p, "ok", "subscribe", keys, **extra)

    def commit(self, p: Any, offsets: dict[str, int], group: str, type_: str = "ok") -> int:
        self.invoke(p, "commit-offsets", offsets, group=group)
        return self.complete(p, type_, "commit-offsets", offsets, group=group)

    def sink_write(
        self, p: Any, in_key: str, in_offset: int, value: Any, sink: str, applied: bool
    ) -> int:
        op = {"key": "db", "input": [in_key, in_offset], "value": value}
        self.invoke(p, "sink-write", op, sink=sink)
        return self.complete(p, "ok", "sink-write", op, sink=sink, applied=applied)

    # --- checking --------------------------------------------------------------------------
    def check(self, mode: str = "transactional", **kw: Any) -> dict[str, Any]:
        return checkers.check(self.ops, mode, **kw)


def _pairs(reads: Reads | None) -> dict[str, list[list[Any]]]:
    return {k: [[o, v] for o, v in pairs] for k, pairs in (reads or {}).items()}


def witnesses(results: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return results["anomalies"].get(name, [])


def only(results: dict[str, Any], name: str) -> dict[str, Any]:
    """The single witness of one anomaly (fails if there is not exactly one)."""
    ws = witnesses(results, name)
    assert len(ws) == 1, (name, results["anomalies"])
    return ws[0]
