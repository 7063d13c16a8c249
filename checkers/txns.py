"""Transaction visibility checks: G1a, uncommitted-read, precommitted-read, fractured-read,
zombie-write.

Rules:

- G1a: any read (ok, info or fail poll) returned a value every sender of which completed
  ``fail``: aborted data was visible. ``info`` txns may have committed, so they never count.
- uncommitted-read: the same, seen by a poll that carries ``"isolation": "read_committed"``:
  that consumer promised to see committed data only. We do NOT flag a read that merely
  completed before the writer's ``ok``: Kafka's coordinator answers EndTxn once the commit is
  prepared and writes the markers afterwards, so a consumer can legitimately see a commit before
  the producer hears of it; such a rule would report healthy runs.
- precommitted-read: one op's poll returned a value the same op sent (Kafka never shows a
  transaction its own uncommitted writes through the consumer).
- fractured-read: a consumer session jumped (a forbidden poll-skip or int-poll-skip) over a
  write of a committed transaction of which it read another write to that key.
- zombie-write: sends carrying ``txn_id`` and ``epoch``. A value in the log written by epoch e
  is a zombie write if (a) some write of a higher epoch of the same txn_id landed at a lower
  offset of the same key, or (b) its op was invoked after an ``init`` of that txn_id completed
  ``ok`` with a higher epoch. Either way it got in after the newer epoch fenced it.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from checkers.index import HistoryIndex
from checkers.micro import hashable, reads, reads_by_key, writes
from checkers.reads import Skip
from checkers.witness import Anomalies, add, show, who, witness


def check_txns(ix: HistoryIndex, skips: list[Skip]) -> Anomalies:
    out: Anomalies = {}
    _aborted_reads(ix, out)
    _precommitted(ix, out)
    _fractured(ix, skips, out)
    _zombies(ix, out)
    return out


def _aborted_reads(ix: HistoryIndex, out: Anomalies) -> None:
    aborted: dict[str, set[Any]] = {}
    for key, vals in ix.writers.items():
        bad = {v for v in vals if v in ix.first_read.get(key, ()) and ix.aborted(key, v)}
        if bad:
            aborted[key] = bad
    if not aborted:
        return
    g1a: set[tuple[str, Any]] = set()
    uncommitted: set[tuple[str, Any]] = set()
    for op in ix.completions:
        rc = op.get("isolation") == "read_committed"
        for key, off, v in reads(op):
            if v not in aborted.get(key, ()):
                continue
            writer = ix.writer_ops(key, v)[0]
            w = writer["index"]
            r = op["index"]
            if (key, v) not in g1a:
                g1a.add((key, v))
                add(
                    out,
                    "G1a",
                    witness(
                        [w, r],
                        f"{who(op)} read {v} on {key} at offset {off}, written by "
                        f"{who(writer)}, which failed ({_why_failed(writer)})",
                        key=key,
                        value=v,
                        offset=off,
                        writer=w,
                        reader=r,
                    ),
                )
            if rc and (key, v) not in uncommitted:
                uncommitted.add((key, v))
                add(
                    out,
                    "uncommitted-read",
                    witness(
                        [w, r],
                        f"read_committed {who(op)} read {v} on {key}, which {who(writer)} "
                        "wrote in a transaction that never committed",
                        key=key,
                        value=v,
                        offset=off,
                        writer=w,
                        reader=r,
                    ),
                )


def _why_failed(op: dict[str, Any]) -> str:
    if op.get("aborted"):
        return "aborted"
    return "completed fail"


def _precommitted(ix: HistoryIndex, out: Anomalies) -> None:
    for op in ix.completions:
        sent: dict[str, set[Any]] = {}
        for key, _, v in writes(op):
            sent.setdefault(key, set()).add(v)
        if not sent:
            continue
        for key, pairs in reads_by_key(op).items():
            own = sorted((v for _, v in pairs if v in sent.get(key, ())), key=repr)
            if own:
                idx = op["index"]
                add(
                    out,
                    "precommitted-read",
                    witness(
                        [idx],
                        f"{who(op)} read its own uncommitted write(s) {show(own)} on {key}",
                        key=key,
                        values=own,
                    ),
                )


def _fractured(ix: HistoryIndex, skips: list[Skip], out: Anomalies) -> None:
    if not skips:
        return
    # candidates: skipped values written by committed txns
    cands: list[tuple[Skip, int, Any, dict[str, Any]]] = []
    for sk in skips:
        kl = ix.log.get(sk.key, {})
        for off in sk.skipped:
            v = kl.get(off)
            for w in ix.writer_ops(sk.key, v):
                if w["f"] == "txn" and ix.is_committed_txn(w):
                    cands.append((sk, off, v, w))
                    break
    if not cands:
        return
    wanted = {(sk.process, sk.key) for sk, _, _, _ in cands}
    seen: dict[tuple[Any, str], dict[Any, int]] = {}
    for op in ix.completions:
        for key, _, v in reads(op):
            pk = (op["process"], key)
            if pk in wanted:
                seen.setdefault(pk, {}).setdefault(v, op["index"])
    reported: set[tuple[Any, str, int]] = set()
    for sk, off, v, w in cands:
        got = seen.get((sk.process, sk.key), {})
        others = [x for k, _, x in writes(w) if k == sk.key and x != v and x in got]
        if not others or (sk.process, sk.key, w["index"]) in reported:
            continue
        reported.add((sk.process, sk.key, w["index"]))
        add(
            out,
            "fractured-read",
            witness(
                [w["index"], *sk.ops, *(got[x] for x in others)],
                f"process {sk.process} read {show(others)} of committed txn op {w['index']} on "
                f"{sk.key} but skipped its write {v} at offset {off}",
                process=sk.process,
                key=sk.key,
                txn=w["index"],
                missing=v,
                missing_offset=off,
                read=others,
            ),
        )


def _zombies(ix: HistoryIndex, out: Anomalies) -> None:
    inits: dict[Any, list[tuple[int, int]]] = {}  # txn_id -> [(completion index, epoch)]
    groups: dict[tuple[Any, str], list[tuple[int, int, Any, dict[str, Any]]]] = {}
    for op in ix.completions:
        if op["f"] == "init" and op["type"] == "ok" and isinstance(op["value"], dict):
            tid, ep = hashable(op["value"].get("txn_id")), op["value"].get("epoch")
            if tid is not None and isinstance(ep, int):
                inits.setdefault(tid, []).append((op["index"], ep))
            continue
        tid, ep = op.get("txn_id"), op.get("epoch")
        if tid is None or not isinstance(ep, int):
            continue
        for key, _, v in writes(op):
            p = ix.position(key, v)
            if p is not None:
                groups.setdefault((tid, key), []).append((ep, p, v, op))
    flagged: set[tuple[str, Any]] = set()
    for (tid, key), entries in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        entries.sort(key=lambda e: -e[0])
        best: tuple[int, int, Any, dict[str, Any]] | None = None  # lowest offset, higher epoch
        i = 0
        while i < len(entries):
            j = i
            while j < len(entries) and entries[j][0] == entries[i][0]:
                j += 1
            for ep, p, v, op in entries[i:j]:
                if best is not None and p > best[1] and (key, v) not in flagged:
                    flagged.add((key, v))
                    add(
                        out,
                        "zombie-write",
                        witness(
                            [op["index"], best[3]["index"]],
                            f"{v} on {key} by {tid} epoch {ep} (op {op['index']}) is at offset "
                            f"{p}, after {best[2]} of the newer epoch {best[0]} (op "
                            f"{best[3]['index']}) at offset {best[1]}",
                            key=key,
                            value=v,
                            offset=p,
                            txn_id=tid,
                            epoch=ep,
                            newer_epoch=best[0],
                        ),
                    )
            for e in entries[i:j]:
                if best is None or e[1] < best[1]:
                    best = e
            i = j
    _fenced_by_init(ix, inits, groups, flagged, out)


def _fenced_by_init(
    ix: HistoryIndex,
    inits: dict[Any, list[tuple[int, int]]],
    groups: dict[tuple[Any, str], list[tuple[int, int, Any, dict[str, Any]]]],
    flagged: set[tuple[str, Any]],
    out: Anomalies,
) -> None:
    if not inits:
        return
    fence: dict[Any, tuple[list[int], list[tuple[int, int]]]] = {}
    for tid, xs in inits.items():
        xs.sort()
        running: list[tuple[int, int]] = []
        best = (-1, -1)
        for idx, ep in xs:
            if ep > best[0]:
                best = (ep, idx)
            running.append(best)
        fence[tid] = ([i for i, _ in xs], running)
    for (tid, key), entries in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        if tid not in fence:
            continue
        idxs, running = fence[tid]
        for ep, p, v, op in entries:
            invoked = ix.invoke_of.get(op["index"], op["index"])
            k = bisect_left(idxs, invoked) - 1
            if k < 0:
                continue
            newer, init_idx = running[k]
            if newer > ep and (key, v) not in flagged:
                flagged.add((key, v))
                add(
                    out,
                    "zombie-write",
                    witness(
                        [init_idx, op["index"]],
                        f"{v} on {key} by {tid} epoch {ep} (op {op['index']}) reached the log at "
                        f"offset {p}, though op {init_idx} had initialised epoch {newer} first",
                        key=key,
                        value=v,
                        offset=p,
                        txn_id=tid,
                        epoch=ep,
                        newer_epoch=newer,
                    ),
                )
