"""Consumer-side order checks: poll-skip, nonmonotonic-poll and their in-op (int-) variants.

Each consumer session (one process number) should read every key's log forward, one record after
the next, until its position is reset. Resets are ``subscribe``/``assign`` completions and the keys
a poll lists in ``rebalance_log``; across a reset nothing is compared. A *skip* jumps over offsets
the final-log view knows hold a live (not aborted) value: Kafka offsets have gaps for transaction
markers, so only offsets with evidence of a record count. Only ``ok`` polls move a session's
position (as in Jepsen); ``info``/``fail`` polls are still checked internally.

The same walk yields the *coverage* of each key: offset ranges some session read contiguously.
Lost-write uses it to tell "lost" from "nobody read there".
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from checkers.index import HistoryIndex
from checkers.micro import has_reads, is_client_completion, reads_by_key
from checkers.witness import Anomalies, add, show, witness

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
    last: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (offset, op index)
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

    for op in ix.history:
        if not is_client_completion(op):
            continue
        f = op["f"]
        process = op["process"]
        if f in ("subscribe", "assign"):
            if op["type"] in ("ok", "info"):
                s = sessions.setdefault(process, _Session())
                for key in list(s.seg):
                    close(s, key)
                s.last.clear()
                s.subscribed = f == "subscribe"
            continue
        if not has_reads(op):
            continue
        s = sessions.setdefault(process, _Session())
        idx = op["index"]
        ok = op["type"] == "ok"
        rebalanced = set(op.get("rebalance_log") or ())
        for key, pairs in reads_by_key(op).items():
            offs = [o for o, _ in pairs if o is not None]
            if not offs:
                continue
            exempt = key in rebalanced
            if not exempt:
                _internal(ix, op, key, offs, out, skips)
            if not ok:
                _cover_alone(cov, key, offs, idx)
                continue
            prev = s.last.get(key)
            if exempt:
                close(s, key)
            elif prev is not None:
                _transition(ix, s, process, key, prev, offs[0], idx, out, skips)
                if offs[0] <= prev[0]:
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
            s.last[key] = (offs[-1], idx)
    for s in sessions.values():
        for key in list(s.seg):
            close(s, key)
    cov.finish()
    return ReadAnalysis(out, cov, skips)


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
    offs: list[int],
    out: Anomalies,
    skips: list[Skip],
) -> None:
    idx = op["index"]
    for a, b in zip(offs, offs[1:], strict=False):
        if b <= a:
            add(
                out,
                "int-nonmonotonic-poll",
                witness(
                    [idx],
                    f"op {idx} (process {op['process']}) read {key} at offset {a} then at {b}: "
                    "backwards within one poll",
                    process=op["process"],
                    key=key,
                    offsets=[a, b],
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
                    f"op {idx} (process {op['process']}) read {key} at offset {a} then {b}, "
                    f"skipping offsets {show(skipped)} that hold values",
                    process=op["process"],
                    key=key,
                    offsets=[a, b],
                    skipped=skipped[:SKIP_LIST_LIMIT],
                    skipped_count=j - i,
                ),
            )
            skips.append(Skip(op["process"], key, skipped[:FRACTURE_SCAN_LIMIT], [idx]))


def _transition(
    ix: HistoryIndex,
    s: _Session,
    process: Any,
    key: str,
    prev: tuple[int, int],
    first: int,
    idx: int,
    out: Anomalies,
    skips: list[Skip],
) -> None:
    last, prev_idx = prev
    how = "subscribed" if s.subscribed else "assigned"
    if first <= last:
        add(
            out,
            "nonmonotonic-poll",
            witness(
                [prev_idx, idx],
                f"process {process} ({how}) read {key} up to offset {last} in op {prev_idx}, "
                f"then from offset {first} in op {idx}: backwards",
                process=process,
                key=key,
                offsets=[last, first],
                subscribed=s.subscribed,
            ),
        )
        return
    i, j = ix.live_between(key, last, first)
    if j > i:
        skipped = ix.live_offsets(key)[i:j]
        add(
            out,
            "poll-skip",
            witness(
                [prev_idx, idx],
                f"process {process} ({how}) read {key} up to offset {last} in op {prev_idx}, "
                f"then from offset {first} in op {idx}, skipping offsets {show(skipped)}",
                process=process,
                key=key,
                offsets=[last, first],
                skipped=skipped[:SKIP_LIST_LIMIT],
                skipped_count=j - i,
                subscribed=s.subscribed,
            ),
        )
        if not s.subscribed:
            skips.append(Skip(process, key, skipped[:FRACTURE_SCAN_LIMIT], [prev_idx, idx]))
