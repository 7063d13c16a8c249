"""Log-level checks on what producers wrote: lost-write, duplicate, inconsistent-offsets,
unseen, nonmonotonic-send and the in-op int-send-skip / int-nonmonotonic-send.

Rules (all sound with respect to ``info``: an info send may or may not have happened, so it is
never lost, and one copy of it in the log is fine; only a second copy is a duplicate):

- duplicate: one value at more than one offset of the final-log view. The witness lists the
  producer sessions (``pid`` when recorded, else process) of the ops that sent the value, and
  ``cross_session`` says whether more than one session did: idempotence only dedups within one.
- inconsistent-offsets: two values at one key/offset.
- lost-write: an ``ok`` send (or a send inside an ``ok`` txn, or inside an atomic ``info`` op
  another of whose values was read, so it committed) no read ever saw, although
  (a) Jepsen's rule: its last known offset is at or below the highest offset anyone read on its
  key (taking each read value at its first offset), so some consumer should have read it; or
  (b) its offset is unknown but a consumer read contiguously from the start of the log past a
  value whose send was invoked only after this one was acknowledged (so it landed before it).
- unseen (warning): ``ok`` sends nobody read and that are not lost-writes: no read got there. A
  history whose only doubt is unseen values gets the verdict "unknown" (see ``checkers.verdict``).
"""

from __future__ import annotations

from typing import Any

from checkers.index import HistoryIndex
from checkers.micro import session_of, writes
from checkers.reads import Coverage
from checkers.visibility import Visibility
from checkers.witness import Anomalies, add, and_list, show, who, witness

UNSEEN_VALUES_SHOWN = 10


def check_writes(ix: HistoryIndex, coverage: Coverage) -> Anomalies:
    out: Anomalies = {}
    _inconsistent(ix, out)
    _duplicates(ix, out)
    _lost_and_unseen(ix, coverage, out)
    _send_order(ix, out)
    return out


def _inconsistent(ix: HistoryIndex, out: Anomalies) -> None:
    for (key, off), vals in sorted(ix.conflicts.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        values = sorted(vals, key=repr)
        add(
            out,
            "inconsistent-offsets",
            witness(
                vals.values(),
                f"{key} offset {off} holds {and_list(values)} according to ops "
                f"{and_list(sorted(vals.values()))}",
                key=key,
                offset=off,
                index=ix.dense_index(key, off),
                values=values,
            ),
        )


def _duplicates(ix: HistoryIndex, out: Anomalies) -> None:
    for (key, v), where in sorted(ix.more_pos.items(), key=lambda kv: (kv[0][0], repr(kv[0][1]))):
        offsets = sorted(where)
        ws = ix.writer_ops(key, v)
        sessions = sorted({session_of(w) for w in ws}, key=repr)
        processes = sorted({w["process"] for w in ws}, key=repr)
        cross = len(sessions) > 1
        if not ws:
            origin = "no op in the history sent it"
        elif len(ws) == 1:
            w = ws[0]
            origin = f"sent once, by op {w['index']} ({w['type']}, process {w['process']})"
        else:
            parts = [f"op {w['index']} ({w['type']}, process {w['process']})" for w in ws]
            origin = f"sent by {and_list(parts)}"
        scope = "different producer sessions" if cross else "one producer session"
        add(
            out,
            "duplicate",
            witness(
                [w["index"] for w in ws] + list(where.values()),
                f"value {v} on {key} at offsets {and_list(offsets)}: {origin}; {scope}",
                key=key,
                value=v,
                offsets=offsets,
                count=len(offsets),
                sessions=sessions,
                processes=processes,
                cross_session=cross,
            ),
        )


def _read_bound(ix: HistoryIndex, key: str) -> tuple[int, Any, int] | None:
    """(offset, value, reader): the highest offset anyone read on ``key``, each value taken at
    its first offset (Jepsen's ``bound``), with the value there and the first op that read it."""
    best: tuple[int, Any, int] | None = None
    for v, reader in ix.first_read.get(key, {}).items():
        offs = ix.offsets_of(key, v)
        if offs and (best is None or offs[0] > best[0]):
            best = (offs[0], v, reader)
    return best


def _lost_and_unseen(ix: HistoryIndex, coverage: Coverage, out: Anomalies) -> None:
    vis = Visibility(ix, coverage)
    for key in sorted(ix.must_exist, key=repr):
        read = ix.first_read.get(key, {})
        bound: tuple[int, Any, int] | None = None
        bound_known = False
        unseen: list[tuple[Any, int]] = []
        for v, (off, w) in ix.must_exist[key].items():
            if v in read:
                continue
            if not bound_known:  # only keys with unread values pay for it
                bound, bound_known = _read_bound(ix, key), True
            offs = ix.offsets_of(key, v)
            last = max([*offs, off] if off is not None else offs, default=None)
            if last is not None and bound is not None and last <= bound[0]:
                _lost(ix, out, key, v, off, last, w, bound)
                continue
            reader = vis.reader_past(key, off, w)
            if reader is None:
                unseen.append((v, w))
                continue
            where = f"at offset {off}" if off is not None else "(offset unknown)"
            add(
                out,
                "lost-write",
                witness(
                    [w, reader],
                    f"value {v} on {key} was acknowledged {where} by {who(ix.op_at(w))}; "
                    f"{who(ix.op_at(reader))} read {key} contiguously past where it must be, "
                    f"and nobody ever read {v}",
                    key=key,
                    value=v,
                    offset=off,
                    writer=w,
                    reader=reader,
                ),
            )
        if unseen:
            unseen.sort(key=lambda t: t[1])
            values = [v for v, _ in unseen]
            add(
                out,
                "unseen",
                witness(
                    [i for _, i in unseen[:UNSEEN_VALUES_SHOWN]],
                    f"{len(unseen)} acknowledged value(s) on {key} never read, and no read "
                    f"reached them: {show(values)}",
                    key=key,
                    count=len(unseen),
                    values=values[:UNSEEN_VALUES_SHOWN],
                ),
            )


def _lost(
    ix: HistoryIndex,
    out: Anomalies,
    key: str,
    v: Any,
    off: int | None,
    last: int,
    w: int,
    bound: tuple[int, Any, int],
) -> None:
    top, top_v, reader = bound
    how = "acknowledged" if off is not None else "proven committed"
    add(
        out,
        "lost-write",
        witness(
            [w, reader],
            f"value {v} on {key} was {how} at offset {last} by {who(ix.op_at(w))}; consumers "
            f"read {key} up to offset {top} ({who(ix.op_at(reader))} read {top_v} there) and "
            f"never saw it",
            key=key,
            value=v,
            offset=last,
            index=ix.dense_index(key, last),
            max_read_offset=top,
            max_read_index=ix.dense_index(key, top),
            writer=w,
            reader=reader,
        ),
    )


def _send_order(ix: HistoryIndex, out: Anomalies) -> None:
    """Per producer process and key, acknowledged positions must move forward; within one op,
    consecutive sends to a key must land in order and (reported, rarely promised) adjacently.

    A send's position is the offset its own completion reports, ``ok`` or ``info``; only when it
    reports none, the offset where its value was first seen. Only ``ok`` ops are compared across
    ops: an ``info`` op's placement is no promise the producer made."""
    last: dict[tuple[Any, str], tuple[int, int, Any]] = {}
    for op in ix.completions:
        if op["type"] == "fail":
            continue
        per_key: dict[str, list[tuple[int, Any]]] = {}
        for key, off, v in writes(op):
            p = off if off is not None else ix.position(key, v)
            if p is not None:
                per_key.setdefault(key, []).append((p, v))
        if not per_key:
            continue
        idx = op["index"]
        process = op["process"]
        ok = op["type"] == "ok"
        for key, sends in per_key.items():
            prev = last.get((process, key))
            if prev is not None and ok and sends[0][0] <= prev[0]:
                add(
                    out,
                    "nonmonotonic-send",
                    witness(
                        [prev[1], idx],
                        f"process {process} sent {prev[2]} to {key} at offset {prev[0]} in "
                        f"{who(ix.op_at(prev[1]))}, then {sends[0][1]} at offset {sends[0][0]} "
                        f"in {who(op)}: backwards",
                        process=process,
                        key=key,
                        offsets=[prev[0], sends[0][0]],
                        values=[prev[2], sends[0][1]],
                        delta=ix.dense_delta(key, prev[0], sends[0][0]),
                    ),
                )
            if ok:
                last[(process, key)] = (sends[-1][0], idx, sends[-1][1])
            _within_op(ix, op, key, sends, out)


def _within_op(
    ix: HistoryIndex, op: dict[str, Any], key: str, sends: list[tuple[int, Any]], out: Anomalies
) -> None:
    idx = op["index"]
    for (a, va), (b, vb) in zip(sends, sends[1:], strict=False):
        if b <= a:
            add(
                out,
                "int-nonmonotonic-send",
                witness(
                    [idx],
                    f"{who(op)} sent {va} then {vb} to {key}, but they landed at offsets "
                    f"{a} and {b}: backwards",
                    key=key,
                    values=[va, vb],
                    offsets=[a, b],
                    delta=ix.dense_delta(key, a, b),
                ),
            )
            continue
        i, j = ix.live_between(key, a, b)
        if j > i:
            between = ix.live_offsets(key)[i:j]
            shown = between[:UNSEEN_VALUES_SHOWN]
            add(
                out,
                "int-send-skip",
                witness(
                    [idx],
                    f"{who(op)} sent {va} then {vb} to {key}; they landed at offsets {a} "
                    f"and {b} with other records between (offsets {show(between)}, values "
                    f"{show(ix.values_at(key, shown))})",
                    key=key,
                    values=[va, vb],
                    offsets=[a, b],
                    delta=ix.dense_delta(key, a, b),
                    skipped_values=ix.values_at(key, shown),
                    between_count=j - i,
                ),
            )
