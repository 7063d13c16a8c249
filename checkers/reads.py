"""Consumer-side order checks: poll-skip, nonmonotonic-poll and their in-op (int-) variants.

Each consumer session (one process number) should read every key's log forward, one record after
the next. A ``subscribe``/``assign`` keeps the position of the keys it still lists (as Kafka's
``assign`` does, and as Jepsen's checker does) and forgets the others; one with
``seek-to-beginning?`` forgets all (Jepsen's final polls rewind that way). Keys a poll lists in
``rebalance_log`` are not compared. A *skip* jumps over offsets the final-log view knows hold a
live (not aborted) value: Kafka offsets have gaps for transaction markers, so only offsets with
evidence of a record count. Every poll, whatever its outcome, is checked against the session's
position; only ``ok`` polls move it (as in Jepsen: an aborted or crashed poll must rewind).

The same walk yields the *coverage* of each key: offset ranges some session read contiguously.
Lost-write uses it to tell "lost" from "nobody read there".
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from checkers.index import HistoryIndex
from checkers.micro import has_reads, reads_by_key
from checkers.witness import Anomalies, add, show, who, witness

SKIP_LIST_LIMIT = 10
FRACTURE_SCAN_LIMIT = 1000


@dataclass
class Skip:
    """A forbidden jump over live offsets, kept for fractured-read."""

    process: Any
    key: str
    skipped: list[int]
    ops: list[int]


@dataclass
class Coverage:
    """Per key, merged [lo, hi] ranges read contiguously, each with an op that read ``hi``."""

    ranges: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    _los: dict[str, list[int]] = field(default_factory=dict)

    def add(self, key: str, lo: int, hi: int, op: int) -> None:
        self.ranges.setdefault(key, []).append((lo, hi, op))

    def finish(self) -> None:
        for key, rs in self.ranges.items():
            rs.sort()
            merged: list[tuple[int, int, int]] = []
            for lo, hi, op in rs:
                if merged and lo <= merged[-1][1] + 1:
                    plo, phi, pop = merged[-1]
                    merged[-1] = (plo, hi, op) if hi > phi else (plo, phi, pop)
                else:
                    merged.append((lo, hi, op))
            self.ranges[key] = merged
            self._los[key] = [r[0] for r in merged]

    def covering(self, key: str, offset: int) -> int | None:
        """The op index that read at or past ``offset`` in a range covering it, else None."""
        los = self._los.get(key)
        if not los:
            return None
        i = bisect_right(los, offset) - 1
        if i < 0:
            return None
        lo, hi, op = self.ranges[key][i]
        return op if lo <= offset <= hi else None

    def prefix_end(self, key: str, first_offset: int) -> tuple[int, int] | None:
        """(hi, op) of the range that starts at or before the log's first known offset."""
        rs = self.ranges.get(key)
        if not rs or rs[0][0] > first_offset:
            return None
        return rs[0][1], rs[0][2]


@dataclass
class ReadAnalysis:
    anomalies: Anomalies
    coverage: Coverage
    skips: list[Skip]


@dataclass
class _Session:
    subscribed: bool = False
    # key -> (offset, op index, value) of the last record an ok poll returned
    last: dict[str, tuple[int, int, Any]] = field(default_factory=dict)
    seg: dict[str, list[int]] = field(default_factory=dict)  # key -> [lo, hi, op index]


def analyse_reads(ix: HistoryIndex) -> ReadAnalysis:
    out: Anomalies = {}
    cov = Coverage()
    skips: list[Skip] = []
    sessions: dict[Any, _Session] = {}

    def close(s: _Session, key: str) -> None:
        seg = s.seg.pop(key, None)
        if seg is not None:
            cov.add(key, seg[0], seg[1], seg[2])

    for op in ix.completions:
        f = op["f"]
        process = op["process"]
        if f in ("subscribe", "assign"):
            if op["type"] in ("ok", "info"):
                s = sessions.setdefault(process, _Session())
                kept = _kept_keys(op)
                for key in sorted(s.last):
                    if key not in kept:
                        close(s, key)
                        del s.last[key]
                s.subscribed = f == "subscribe"
            continue
        if not has_reads(op):
            continue
        s = sessions.setdefault(process, _Session())
        idx = op["index"]
        ok = op["type"] == "ok"
        rebalanced = set(op.get("rebalance_log") or ())
        for key, pairs in reads_by_key(op).items():
            known = [(o, v) for o, v in pairs if o is not None]
            if not known:
                continue
            offs = [o for o, _ in known]
            exempt = key in rebalanced
            if not exempt:
                _internal(ix, op, key, known, out, skips)
            prev = s.last.get(key)
            if prev is not None and not exempt:
                _transition(ix, s, op, key, prev, known[0], out, skips)
            if not ok:
                _cover_alone(cov, key, offs, idx)
                continue
            if exempt or (prev is not None and offs[0] <= prev[0]):
                close(s, key)
            seg = s.seg.get(key)
            for o in offs:
                if seg is None:
                    seg = s.seg[key] = [o, o, idx]
                elif o > seg[1]:
                    seg[1], seg[2] = o, idx
                elif o < seg[1]:
                    close(s, key)
                    seg = s.seg[key] = [o, o, idx]
            s.last[key] = (known[-1][0], idx, known[-1][1])
    for s in sessions.values():
        for key in list(s.seg):
            close(s, key)
    cov.finish()
    return ReadAnalysis(out, cov, skips)


def _kept_keys(op: dict[str, Any]) -> set[str]:
    """Keys whose position survives this subscribe/assign: those it lists, unless it seeks to
    the beginning (then none)."""
    if op.get("seek-to-beginning?") or op.get("seek_to_beginning"):
        return set()
    value = op.get("value")
    return {k for k in value if isinstance(k, str)} if isinstance(value, list) else set()


def _cover_alone(cov: Coverage, key: str, offs: list[int], idx: int) -> None:
    lo = offs[0]
    hi = offs[0]
    for o in offs[1:]:
        if o > hi:
            hi = o
        else:
            cov.add(key, lo, hi, idx)
            lo = hi = o
    cov.add(key, lo, hi, idx)


def _internal(
    ix: HistoryIndex,
    op: dict[str, Any],
    key: str,
    known: list[tuple[int, Any]],
    out: Anomalies,
    skips: list[Skip],
) -> None:
    idx = op["index"]
    for (a, va), (b, vb) in zip(known, known[1:], strict=False):
        if b <= a:
            add(
                out,
                "int-nonmonotonic-poll",
                witness(
                    [idx],
                    f"{who(op)} read {key} at offset {a} (value {va}) then at offset {b} "
                    f"(value {vb}): backwards within one {op['f']}",
                    process=op["process"],
                    key=key,
                    offsets=[a, b],
                    values=[va, vb],
                    delta=ix.dense_delta(key, a, b),
                ),
            )
            continue
        i, j = ix.live_between(key, a, b)
        if j > i:
            skipped = ix.live_offsets(key)[i:j]
            add(
                out,
                "int-poll-skip",
                witness(
                    [idx],
                    f"{who(op)} read {key} at offset {a} (value {va}) then {b} (value {vb}), "
                    f"skipping offsets {show(skipped)} that hold "
                    f"{show(ix.values_at(key, skipped[:SKIP_LIST_LIMIT]))}",
                    process=op["process"],
                    key=key,
                    offsets=[a, b],
                    values=[va, vb],
                    delta=ix.dense_delta(key, a, b),
                    skipped=skipped[:SKIP_LIST_LIMIT],
                    skipped_values=ix.values_at(key, skipped[:SKIP_LIST_LIMIT]),
                    skipped_count=j - i,
                ),
            )
            skips.append(Skip(op["process"], key, skipped[:FRACTURE_SCAN_LIMIT], [idx]))


def _transition(
    ix: HistoryIndex,
    s: _Session,
    op: dict[str, Any],
    key: str,
    prev: tuple[int, int, Any],
    first: tuple[int, Any],
    out: Anomalies,
    skips: list[Skip],
) -> None:
    last, prev_idx, last_v = prev
    off, v = first
    if off == last + 1:
        return  # the common case: the next record; nothing to explain
    idx = op["index"]
    process = op["process"]

    def story() -> str:
        how = "subscribed" if s.subscribed else "assigned"
        outcome = "" if op["type"] == "ok" else f" ({op['type']}: it should have rewound)"
        before = who(ix.op_at(prev_idx))
        return (
            f"process {process} ({how}) read {key} up to offset {last} (value {last_v}) in "
            f"{before}, then from offset {off} (value {v}) in {who(op)}{outcome}"
        )

    if off <= last:
        add(
            out,
            "nonmonotonic-poll",
            witness(
                [prev_idx, idx],
                f"{story()}: backwards",
                process=process,
                key=key,
                offsets=[last, off],
                values=[last_v, v],
                delta=ix.dense_delta(key, last, off),
                subscribed=s.subscribed,
            ),
        )
        return
    i, j = ix.live_between(key, last, off)
    if j > i:
        skipped = ix.live_offsets(key)[i:j]
        shown = skipped[:SKIP_LIST_LIMIT]
        add(
            out,
            "poll-skip",
            witness(
                [prev_idx, idx],
                f"{story()}, skipping offsets {show(skipped)} that hold "
                f"{show(ix.values_at(key, shown))}",
                process=process,
                key=key,
                offsets=[last, off],
                delta=ix.dense_delta(key, last, off),
                skipped=shown,
                skipped_values=ix.values_at(key, shown),
                skipped_count=j - i,
                subscribed=s.subscribed,
            ),
        )
        if not s.subscribed:
            skips.append(Skip(process, key, skipped[:FRACTURE_SCAN_LIMIT], [prev_idx, idx]))
