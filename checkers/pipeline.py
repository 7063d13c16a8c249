"""End-to-end processing checks: duplicate-delivery, pipeline-duplicate, pipeline-loss,
external-duplicate.

Rules:

- duplicate-delivery: ops carrying ``"group"`` (polls completed ``ok``, txns that committed)
  delivered one key/offset to that group more than once: redelivery after a crash, rebalance or
  seek. At-least-once consumption allows it; it is reported so runs can be compared.
- pipeline-duplicate: consume-transform-produce ops carry ``"lineage": [[in_key, in_offset,
  out_key, out_value], ...]`` (a fifth element, when present, numbers the input's outputs: a
  user transform may give several). One input (per group) with more than one *committed* output
  (per output number):
  an output sent by an ``ok`` op, or by an op that did not fail and whose output was read.
- pipeline-loss: the group committed a position P on an input key (``commit-offsets`` completed
  ``ok`` with ``{key: next_offset}``, or an ``ok`` txn carrying ``"offsets"``), so it claimed
  every input below P processed; an input offset below P that holds a live value in the final-log
  view yet has no committed output is lost. An ``info`` output nobody read counts as failed only
  if a consumer read past where it must be (checkers.visibility); otherwise its fate is unknown
  and the input is not flagged: the output may exist unread.
- external-duplicate: ``sink-write`` ops completed ``ok`` whose ``applied`` is true (default
  true, except for ``"sink": "idempotent"``, an upsert keyed by input) applied one input to one
  sink more than once.
"""

from __future__ import annotations

from typing import Any

from checkers.index import HistoryIndex
from checkers.micro import hashable, reads, writes
from checkers.reads import Coverage
from checkers.visibility import Visibility
from checkers.witness import Anomalies, add, and_list, show, witness

DELIVERY_OPS_SHOWN = 5


def check_pipelines(ix: HistoryIndex, coverage: Coverage) -> Anomalies:
    out: Anomalies = {}
    _deliveries(ix, out)
    _lineage(ix, Visibility(ix, coverage), out)
    _sinks(ix, out)
    return out


def _deliveries(ix: HistoryIndex, out: Anomalies) -> None:
    first: dict[tuple[Any, Any, Any], int] = {}
    again: dict[tuple[Any, Any, Any], list[int]] = {}
    for op in ix.completions:
        group = op.get("group")
        if group is None:
            continue
        if not (op["type"] == "ok" or (op["f"] == "txn" and op["index"] in ix.committed)):
            continue
        idx = op["index"]
        for key, off, _ in reads(op):
            if off is None:
                continue
            k = (group, key, off)
            prev = first.setdefault(k, idx)
            if prev != idx:
                again.setdefault(k, []).append(idx)
    for (group, key, off), more in sorted(again.items(), key=lambda kv: repr(kv[0])):
        ops = [first[(group, key, off)], *more]
        value = ix.log.get(key, {}).get(off)
        add(
            out,
            "duplicate-delivery",
            witness(
                ops[:DELIVERY_OPS_SHOWN],
                f"group {group} received {key} offset {off} (value {value}) {len(ops)} times: "
                f"ops {show(ops)}",
                group=group,
                key=key,
                offset=off,
                value=value,
                deliveries=len(ops),
            ),
        )


def _output_fate(vis: Visibility, op: dict[str, Any], out_key: str, out_value: Any) -> str:
    """committed, unknown or failed: whether the output made it into the final log. An ``info``
    output nobody read failed if a consumer read past where it must be (see visibility)."""
    if op["type"] == "fail":
        return "failed"
    if op["type"] == "ok" or vis.ix.was_read(out_key, out_value):
        return "committed"
    off = next((o for k, o, v in writes(op) if k == out_key and v == out_value), None)
    if vis.reader_past(out_key, off, op["index"]) is not None:
        return "failed"
    return "unknown"


def _lineage(ix: HistoryIndex, vis: Visibility, out: Anomalies) -> None:
    outputs: dict[tuple[Any, Any, Any], list[tuple[Any, Any, int, Any]]] = {}
    unknown: set[tuple[Any, Any, Any]] = set()
    attempts: dict[tuple[Any, Any, Any], list[int]] = {}  # inputs whose outputs failed
    committed_pos: dict[tuple[Any, Any], tuple[int, int]] = {}
    pipeline_groups: set[Any] = set()
    for op in ix.completions:
        group = op.get("group")
        lineage = op.get("lineage")
        if isinstance(lineage, list):
            pipeline_groups.add(group)
            for entry in lineage:
                if not (isinstance(entry, list) and len(entry) in (4, 5)):
                    continue
                # frozen: entries are dict keys and compared with frozen send values
                in_key, in_off, out_key, out_value = (hashable(x) for x in entry[:4])
                nth = hashable(entry[4]) if len(entry) == 5 else 0  # which of the input's outputs
                if out_key is None:  # processed, with no output (a user transform's filter)
                    unknown.add((group, in_key, in_off))
                    continue
                fate = _output_fate(vis, op, out_key, out_value)
                k = (group, in_key, in_off)
                if fate == "committed":
                    outputs.setdefault(k, []).append((out_key, out_value, op["index"], nth))
                elif fate == "unknown":
                    unknown.add(k)
                else:
                    attempts.setdefault(k, []).append(op["index"])
        if op["type"] != "ok":
            continue
        offsets = None
        if op["f"] == "commit-offsets" and isinstance(op["value"], dict):
            offsets = op["value"]
        elif op["f"] == "txn" and isinstance(op.get("offsets"), dict):
            offsets = op["offsets"]
        for key, pos in (offsets or {}).items():
            if isinstance(pos, int):
                prev = committed_pos.get((group, key))
                if prev is None or pos > prev[0]:
                    committed_pos[(group, key)] = (pos, op["index"])
    for (group, in_key, in_off), outs in sorted(outputs.items(), key=lambda kv: repr(kv[0])):
        per_output: dict[Any, dict[tuple[Any, Any], int]] = {}
        # (not ``k``: that name holds an input's key above, and mypyc keeps a name's first type)
        for out_key, out_value, i, nth in outs:
            per_output.setdefault(nth, {})[(out_key, out_value)] = i
        distinct = next((d for _, d in sorted(per_output.items(), key=repr) if len(d) > 1), {})
        if len(distinct) < 2:
            continue
        shown = [f"{v} on {k} (op {i})" for (k, v), i in distinct.items()]
        add(
            out,
            "pipeline-duplicate",
            witness(
                distinct.values(),
                f"group {group}: input {in_key} offset {in_off} has {len(distinct)} committed "
                f"outputs: {and_list(shown)}",
                group=group,
                key=in_key,
                offset=in_off,
                outputs=[[k, v] for k, v in distinct],
            ),
        )
    for (group, in_key), (pos, commit_idx) in sorted(committed_pos.items(), key=repr):
        if group not in pipeline_groups:
            continue
        kl = ix.log.get(in_key, {})
        live = ix.live_offsets(in_key)
        for off in live:
            if off >= pos:
                break
            k = (group, in_key, off)
            if k in outputs or k in unknown:
                continue
            src = ix.log_src.get(in_key, {}).get(off)
            tried = attempts.get(k, [])
            how = f"; its output by op(s) {show(tried)} never landed" if tried else ""
            add(
                out,
                "pipeline-loss",
                witness(
                    [commit_idx, src, *tried[:5]],
                    f"group {group} committed {in_key} up to offset {pos} (op {commit_idx}), "
                    f"but input offset {off} (value {kl.get(off)}) has no committed output{how}",
                    group=group,
                    key=in_key,
                    offset=off,
                    value=kl.get(off),
                    committed_position=pos,
                ),
            )


def _sinks(ix: HistoryIndex, out: Anomalies) -> None:
    for op in ix.history:
        if op["f"] == "sink-read" and op["type"] == "ok" and isinstance(op["value"], dict):
            _stored(ix, op, out)
    applied: dict[tuple[Any, Any, Any, Any], list[int]] = {}
    for op in ix.history:
        if op["f"] != "sink-write" or op["type"] != "ok" or not isinstance(op["value"], dict):
            continue
        sink = op.get("sink")
        if not op.get("applied", sink != "idempotent"):
            continue
        inp = op["value"].get("input")
        if not (isinstance(inp, list) and len(inp) == 2):
            continue
        k = (sink, hashable(op["value"].get("key")), hashable(inp[0]), hashable(inp[1]))
        applied.setdefault(k, []).append(op["index"])
    for (sink, table, in_key, in_off), ops in sorted(applied.items(), key=lambda kv: repr(kv[0])):
        if len(ops) < 2:
            continue
        add(
            out,
            "external-duplicate",
            witness(
                ops,
                f"{sink or 'external'} sink {table}: input {in_key} offset {in_off} was applied "
                f"{len(ops)} times (ops {show(ops)})",
                sink=sink,
                table=table,
                key=in_key,
                offset=in_off,
                applied=len(ops),
            ),
        )


def _stored(ix: HistoryIndex, final: dict[str, Any], out: Anomalies) -> None:
    """A user pipeline's sink, judged on what it stored (the final ``sink-read``): each row
    names the input record whose processing wrote it, ``expected`` gives the transform's output
    count per input. More rows from one input than outputs: external-duplicate. Fewer, for an
    input below a position the pipeline claimed (the group's committed offsets, or the offsets
    the sink keeps itself): pipeline-loss."""
    value = final["value"]
    sink = value.get("sink")
    rows: dict[tuple[Any, Any], list[tuple[Any, Any]]] = {}
    for row in value.get("rows") or []:
        if isinstance(row, list) and len(row) == 6 and row[3] is not None:
            rows.setdefault((row[3], row[4]), []).append((row[0], row[5]))
    expected = {
        (e[0], e[1]): e[2]
        for e in value.get("expected") or []
        if isinstance(e, list) and len(e) == 3 and isinstance(e[2], int)
    }
    ops = {op["index"]: op for op in ix.history}
    commits: dict[Any, list[dict[str, Any]]] = {}
    for op in ix.history:
        if op["f"] == "commit-offsets" and op["type"] != "invoke":
            commits.setdefault(op["process"], []).append(op)

    def by(i: Any) -> str:
        op = ops.get(i)
        if op is None:
            return f"op {i}"
        v = op["value"] if isinstance(op["value"], dict) else {}
        after = next((c for c in commits.get(op["process"], []) if c["index"] > i), None)
        then = (
            f"offsets then committed {after['type']} at op {after['index']}"
            if after is not None
            else "no offset commit followed"
        )
        return f"op {i} ({v.get('op', op['f'])} by process {op['process']}, {then})"

    for (key, off), got in sorted(rows.items(), key=lambda kv: repr(kv[0])):
        n = expected.get((key, off))
        if n is None or len(got) <= n:
            continue
        shown = [f"row {show_key(k)} by {by(i)}" for k, i in got[:3]]
        if len(got) > 3:
            shown.append(f"{len(got) - 3} more")
        add(
            out,
            "external-duplicate",
            witness(
                [i for _, i in got if isinstance(i, int) and i >= 0],
                f"sink {sink}: input {key} offset {off} (value {ix.log.get(key, {}).get(off)}) "
                f"gave {n} output(s) but the store holds {len(got)} rows from it: "
                f"{and_list(shown)}",
                sink=sink,
                key=key,
                offset=off,
                applied=len(got),
                expected=n,
            ),
        )
    claims: dict[Any, tuple[int, Any]] = {}
    for op in ix.history:
        if op["f"] == "commit-offsets" and op["type"] == "ok" and isinstance(op["value"], dict):
            for key, pos in op["value"].items():
                if isinstance(pos, int) and pos > claims.get(key, (-1, None))[0]:
                    claims[key] = (pos, f"the group's commit (op {op['index']})")
    for key, pos in (value.get("offsets") or {}).items():
        if isinstance(pos, int) and pos > claims.get(key, (-1, None))[0]:
            claims[key] = (pos, f"the offsets kept in the sink (op {final['index']})")
    for (key, off), n in sorted(expected.items(), key=repr):
        pos, how = claims.get(key, (-1, None))
        have = len(rows.get((key, off), []))
        if not (isinstance(off, int) and off < pos and have < n):
            continue
        if off not in ix.log.get(key, {}):
            continue  # not in the final log (e.g. aborted input)
        tried = sorted(
            op["index"]
            for op in ix.history
            if op["f"] == "store"
            and op["type"] != "invoke"
            and isinstance(op["value"], dict)
            and op["value"].get("input") == [key, off]
        )
        how_tried = f"; its store ops: {show(tried)}" if tried else "; no store op wrote it"
        add(
            out,
            "pipeline-loss",
            witness(
                [final["index"], *tried[:5]],
                f"sink {sink}: {how} claims {key} up to offset {pos}, but input offset {off} "
                f"(value {ix.log.get(key, {}).get(off)}) has {have} of its {n} output(s) in the "
                f"store{how_tried}",
                sink=sink,
                key=key,
                offset=off,
                committed_position=pos,
            ),
        )


def show_key(key: Any) -> str:
    if isinstance(key, list):
        return "[" + ", ".join(str(k) for k in key) + "]"
    return str(key)
