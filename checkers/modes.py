"""What each delivery mode promises: which anomalies make a run invalid.

F = forbidden (found => ``valid: false``), A = allowed (reported, run stays valid),
W = warning (never invalidates), S = forbidden only within one producer session,
R = forbidden unless the consumer session was subscribed (a rebalance can legally move it),
P = forbidden only for cycles of wr edges alone.

| anomaly               | at-least-once | idempotent | transactional |
|-----------------------|:-------------:|:----------:|:-------------:|
| lost-write            | F | F | F |
| inconsistent-offsets  | F | F | F |
| duplicate             | A | S | F |
| nonmonotonic-poll     | R | R | R |
| poll-skip             | R | R | R |
| int-poll-skip         | F | F | F |
| int-nonmonotonic-poll | F | F | F |
| nonmonotonic-send     | A | F | F |
| int-nonmonotonic-send | A | F | F |
| int-send-skip         | A | A | A |
| precommitted-read     | F | F | F |
| G1a                   | F | F | F |
| uncommitted-read      | F | F | F |
| fractured-read        | A | A | F |
| zombie-write          | A | A | F |
| duplicate-delivery    | A | A | A |
| pipeline-duplicate    | A | A | F |
| pipeline-loss         | F | F | F |
| external-duplicate    | A | A | A |
| G0                    | A | A | A |
| G1c                   | A | A | P |
| unseen                | W | W | W |
| stalled               | F | F | F |

Why:
- at-least-once retries whatever was not acknowledged, so copies (duplicate) and, with more than
  one request in flight, reordering (nonmonotonic-send) are the price of no loss.
- idempotent dedups retries by (producer id, sequence), so copies from one session are a bug;
  a restarted producer is a new session and may legally write a value again.
- transactional: exactly-once inside Kafka (consume-transform-produce, fencing by epoch, atomic
  visibility of a transaction to read_committed consumers). It does not order concurrent
  transactions' appends, so write cycles (G0) and cycles closed by them are legal (as in Jepsen).
- int-send-skip: no mode keeps one op's sends adjacent; other producers interleave.
- duplicate-delivery and external-duplicate: redelivery to a consumer and side effects outside
  Kafka are outside every mode's boundary (exactly-once ends at Kafka's edge).
- stalled: after every fault healed, each mode promises progress within the convergence window.
- pipeline-loss: an input whose offset was committed without its output breaks even
  at-least-once processing.
"""

from __future__ import annotations

from typing import Any

MODES = ("at-least-once", "idempotent", "transactional")

ANOMALY_NAMES = (
    "lost-write",
    "duplicate",
    "inconsistent-offsets",
    "nonmonotonic-poll",
    "poll-skip",
    "nonmonotonic-send",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    "int-send-skip",
    "int-nonmonotonic-send",
    "precommitted-read",
    "G1a",
    "uncommitted-read",
    "fractured-read",
    "zombie-write",
    "duplicate-delivery",
    "pipeline-duplicate",
    "pipeline-loss",
    "external-duplicate",
    "G0",
    "G1c",
    "unseen",
    "stalled",
)

_COLUMNS = {m: i for i, m in enumerate(MODES)}

TABLE: dict[str, str] = {
    "lost-write": "FFF",
    "inconsistent-offsets": "FFF",
    "duplicate": "ASF",
    "nonmonotonic-poll": "RRR",
    "poll-skip": "RRR",
    "int-poll-skip": "FFF",
    "int-nonmonotonic-poll": "FFF",
    "nonmonotonic-send": "AFF",
    "int-nonmonotonic-send": "AFF",
    "int-send-skip": "AAA",
    "precommitted-read": "FFF",
    "G1a": "FFF",
    "uncommitted-read": "FFF",
    "fractured-read": "AAF",
    "zombie-write": "AAF",
    "duplicate-delivery": "AAA",
    "pipeline-duplicate": "AAF",
    "pipeline-loss": "FFF",
    "external-duplicate": "AAA",
    "G0": "AAA",
    "G1c": "AAP",
    "unseen": "WWW",
    "stalled": "FFF",
}

assert set(TABLE) == set(ANOMALY_NAMES)


def check_mode(mode: str) -> None:
    if mode not in _COLUMNS:
        raise ValueError(f"unknown mode {mode!r} (expected one of: {', '.join(MODES)})")


def rule(mode: str, name: str) -> str:
    """The table letter for one anomaly; names we do not know (e.g. from a sim's liveness
    checks) are forbidden: an unknown failure should not pass silently."""
    check_mode(mode)
    return TABLE.get(name, "FFF")[_COLUMNS[mode]]


def violates(mode: str, name: str, w: dict[str, Any]) -> bool:
    """Whether one witness breaks the mode's promise."""
    r = rule(mode, name)
    if r == "F":
        return True
    if r == "S":
        return not w.get("cross_session", False)
    if r == "R":
        return not w.get("subscribed", False)
    if r == "P":
        return bool(w.get("wr_only", False))
    return False


def promises(mode: str) -> dict[str, str]:
    """anomaly name -> "forbidden" | "allowed" | "warning", plus the conditional rules spelled
    out ("forbidden within one producer session", ...), for docs and reports."""
    words = {
        "F": "forbidden",
        "A": "allowed",
        "W": "warning",
        "S": "forbidden within one producer session",
        "R": "forbidden unless subscribed",
        "P": "forbidden for wr-only cycles",
    }
    return {name: words[rule(mode, name)] for name in ANOMALY_NAMES}


def promised(mode: str) -> list[str]:
    """Names the mode forbids, wholly or under a condition."""
    return sorted(n for n in ANOMALY_NAMES if rule(mode, n) not in ("A", "W"))
