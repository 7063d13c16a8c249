"""The final-log view: one pass over the history, indexed for every checker.

Every checker asks the same few questions (who wrote value v? where is v in the log? did anyone
read it? what else is at that offset?), so we answer them once, in dicts keyed by key and value or
key and offset, and keep each checker linear in the history.

What counts as evidence of the log (as in Jepsen's Kafka checker): every record any poll returned,
whether the poll completed ok, info or fail (readers never invent data), plus the offsets of sends
that must have committed: ``ok`` completions, and ``info`` completions once some read saw one of
their values. ``fail`` sends and unproven ``info`` sends never place a value in the view.

An ``info`` op proven committed that is *atomic* (see :func:`is_atomic`) makes all of its sends
must-exist: all or nothing. Jepsen's checker takes every multi-send op as a transaction; eosim
does so for ``txn`` ops, ops of a transactional producer (``txn_id``) and ops marked ``atomic``
(the EDN loader marks Jepsen's ``send``/``txn`` ops), not for the plain multi-send ops of an
idempotent pipeline, whose sends succeed or fail one by one.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any

from checkers.micro import is_client_completion, reads, writes

_MISSING = object()


@dataclass
class Stats:
    """``ops`` counts client operations (one per completion); nemesis records are not ops."""

    ops: int = 0
    sends_ok: int = 0
    sends_info: int = 0
    sends_fail: int = 0
    polls: int = 0
    txns: int = 0
    sim_time: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ops": self.ops,
            "sends_ok": self.sends_ok,
            "sends_info": self.sends_info,
            "sends_fail": self.sends_fail,
            "polls": self.polls,
            "txns": self.txns,
            "sim_time": self.sim_time,
        }


@dataclass
class HistoryIndex:
    history: list[dict[str, Any]]
    # completion index -> invoke index (client ops only)
    invoke_of: dict[int, int] = field(default_factory=dict)
    # key -> value -> completion ops whose sends carried that value (any completion type)
    writers: dict[str, dict[Any, list[dict[str, Any]]]] = field(default_factory=dict)
    # key -> value -> (offset or None, writer completion index) for sends that must be in the
    # log: those of ok completions, and of info txns proven committed by a read (atomicity)
    must_exist: dict[str, dict[Any, tuple[int | None, int]]] = field(default_factory=dict)
    # key -> offset -> value (first evidence) and the op index of that evidence
    log: dict[str, dict[int, Any]] = field(default_factory=dict)
    log_src: dict[str, dict[int, int]] = field(default_factory=dict)
    # (key, offset) -> value -> op index, only where two values claim one offset
    conflicts: dict[tuple[str, int], dict[Any, int]] = field(default_factory=dict)
    # key -> value -> first offset seen; (key, value) -> offset -> op index for values at >1 offset
    pos: dict[str, dict[Any, int]] = field(default_factory=dict)
    more_pos: dict[tuple[str, Any], dict[int, int]] = field(default_factory=dict)
    # key -> value -> index of the first op that read it
    first_read: dict[str, dict[Any, int]] = field(default_factory=dict)
    # indices of writer completions that must have committed (ok, or info with a value read)
    committed: set[int] = field(default_factory=set)
    stats: Stats = field(default_factory=Stats)
    _live: dict[str, list[int]] = field(default_factory=dict)
    _known: dict[str, list[int]] = field(default_factory=dict)
    _by_index: dict[Any, dict[str, Any]] | None = None
    # the client completions (micro.is_client_completion), in history order: what most checker
    # families walk, listed once instead of each family filtering every op again
    completions: list[dict[str, Any]] = field(default_factory=list)

    # --- questions -------------------------------------------------------------------------
    def was_read(self, key: str, value: Any) -> bool:
        return value in self.first_read.get(key, ())

    def writer_ops(self, key: str, value: Any) -> list[dict[str, Any]]:
        return self.writers.get(key, {}).get(value, [])

    def aborted(self, key: str, value: Any) -> bool:
        """Every op that sent this value completed ``fail``: it must not be in the log."""
        ws = self.writers.get(key, {}).get(value)
        if not ws:
            return False
        return all(w["type"] == "fail" for w in ws)

    def offsets_of(self, key: str, value: Any) -> list[int]:
        more = self.more_pos.get((key, value))
        if more is not None:
            return sorted(more)
        p = self.pos.get(key, {}).get(value)
        return [] if p is None else [p]

    def position(self, key: str, value: Any) -> int | None:
        return self.pos.get(key, {}).get(value)

    def live_offsets(self, key: str) -> list[int]:
        """Sorted offsets of the view that hold a value not known to be aborted: the records
        a consumer at read_committed or read_uncommitted must not jump over."""
        cached = self._live.get(key)
        if cached is None:
            kl = self.log.get(key, {})
            cached = sorted(
                o
                for o, v in kl.items()
                if not self.aborted(key, v)
                or any(not self.aborted(key, x) for x in self.conflicts.get((key, o), ()))
            )
            self._live[key] = cached
        return cached

    def live_between(self, key: str, lo: int, hi: int) -> tuple[int, int]:
        """(i, j) such that live_offsets(key)[i:j] are the live offsets strictly inside (lo, hi)."""
        live = self.live_offsets(key)
        return bisect_right(live, lo), bisect_left(live, hi)

    def op_at(self, index: int) -> dict[str, Any] | None:
        """The op with this history index (indices need not be positions in Jepsen's files)."""
        if self._by_index is None:
            self._by_index = {op["index"]: op for op in self.history}
        return self._by_index.get(index)

    def known_offsets(self, key: str) -> list[int]:
        """Sorted offsets of the view that hold any value (Jepsen's log without its holes)."""
        cached = self._known.get(key)
        if cached is None:
            cached = self._known[key] = sorted(self.log.get(key, {}))
        return cached

    def dense_index(self, key: str, offset: int) -> int:
        """Jepsen's *index*: the offset's rank among known offsets (gaps for markers removed);
        an offset with no evidence ranks where it would be inserted."""
        return bisect_left(self.known_offsets(key), offset)

    def dense_delta(self, key: str, a: int, b: int) -> int:
        """Jepsen's ``delta`` from offset ``a`` to offset ``b``: 1 means adjacent records."""
        return self.dense_index(key, b) - self.dense_index(key, a)

    def values_at(self, key: str, offsets: list[int]) -> list[Any]:
        kl = self.log.get(key, {})
        return [kl[o] for o in offsets if o in kl]

    def is_committed_txn(self, op: dict[str, Any]) -> bool:
        return op["index"] in self.committed

    # --- building --------------------------------------------------------------------------
    def _must_exist(self, key: str, v: Any, off: int | None, idx: int) -> None:
        me = self.must_exist.get(key)
        if me is None:
            me = self.must_exist[key] = {}
        cur = me.get(v)
        if cur is None or (cur[0] is None and off is not None):
            me[v] = (off, idx)

    def _observe(self, key: str, off: int, v: Any, idx: int) -> None:
        kl = self.log.get(key)
        if kl is None:
            kl = self.log[key] = {}
            self.log_src[key] = {}
            self.pos[key] = {}
        cur = kl.get(off, _MISSING)
        if cur is _MISSING:
            kl[off] = v
            self.log_src[key][off] = idx
        elif cur != v:
            c = self.conflicts.get((key, off))
            if c is None:
                c = self.conflicts[(key, off)] = {cur: self.log_src[key][off]}
            c.setdefault(v, idx)
        kp = self.pos[key]
        p = kp.get(v)
        if p is None:
            kp[v] = off
        elif p != off:
            more = self.more_pos.get((key, v))
            if more is None:
                first_src = self.conflicts.get((key, p), {}).get(v, self.log_src[key][p])
                more = self.more_pos[(key, v)] = {p: first_src}
            more.setdefault(off, idx)


def is_atomic(op: dict[str, Any]) -> bool:
    """Whether an op's sends commit all or nothing (see the module docstring)."""
    return op["f"] == "txn" or op.get("txn_id") is not None or op.get("atomic") is True


def build_index(history: list[dict[str, Any]]) -> HistoryIndex:
    """One pass for reads, ok acks and writers; a second, small one for proven info sends."""
    ix = HistoryIndex(history)
    stats = ix.stats
    pending: dict[Any, int] = {}
    info_writers: list[dict[str, Any]] = []
    first_read = ix.first_read
    writers = ix.writers
    max_time = 0.0
    for op in history:
        t = op.get("time")
        if isinstance(t, (int, float)) and t > max_time:
            max_time = t
        if not is_client_completion(op):
            if op["type"] == "invoke":
                pending[op["process"]] = op["index"]
            continue
        ix.completions.append(op)
        stats.ops += 1
        idx = op["index"]
        inv = pending.pop(op["process"], None)
        if inv is not None:
            ix.invoke_of[idx] = inv
        type_ = op["type"]
        f = op["f"]
        if f == "txn":
            stats.txns += 1
        polled = False
        for key, off, v in reads(op):
            polled = True
            fr = first_read.get(key)
            if fr is None:
                fr = first_read[key] = {}
            if v not in fr:
                fr[v] = idx
            if off is not None:
                ix._observe(key, off, v, idx)
        if polled or f == "poll":
            stats.polls += 1
        wrote = False
        for key, off, v in writes(op):
            wrote = True
            kw = writers.get(key)
            if kw is None:
                kw = writers[key] = {}
            ws = kw.get(v)
            if ws is None:
                kw[v] = [op]
            elif ws[-1] is not op:
                ws.append(op)
            if type_ == "ok":
                stats.sends_ok += 1
                ix._must_exist(key, v, off, idx)
                if off is not None:
                    ix._observe(key, off, v, idx)
            elif type_ == "info":
                stats.sends_info += 1
            else:
                stats.sends_fail += 1
        if wrote:
            if type_ == "ok":
                ix.committed.add(idx)
            elif type_ == "info":
                info_writers.append(op)
    stats.sim_time = float(max_time)
    for op in info_writers:
        sent = list(writes(op))
        if any(v in first_read.get(k, ()) for k, _, v in sent):
            ix.committed.add(op["index"])
            atomic = is_atomic(op)
            for key, off, v in sent:
                if off is not None:
                    ix._observe(key, off, v, op["index"])
                if atomic:
                    ix._must_exist(key, v, off, op["index"])
    return ix
