"""What protocol behaviour one run reached, as a set of small features (for guided search).

A feature is a string such as ``msg:ProduceResponse:out_of_order_sequence``,
``decision:txn-state:Ongoing -> PrepareAbort`` or ``stat:isr_shrinks:4+``. Guided campaigns keep
the runs that reached a feature no earlier run reached and mutate their fault schedules, as
coverage-guided fuzzers keep inputs that reach new edges. Counts are bucketed (1, 2, 4+, 16+,
...) the way AFL buckets hit counts, so doing a thing much more often is news, a little more is
not.

Collected through the message trace's recording hooks (``sim.cluster.trace``): nothing is
stored per message, and like a trace it draws no randomness and schedules nothing, so a run's
history is the same with or without it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from sim.cluster.trace import HAZARDS, MessageTrace, Sent
from sim.runs.runner import sites_fired

BROKER_NAME = re.compile(r"b[0-9]+")
_COUNTED_STATS = (
    "retries",
    "deduplicated",
    "fenced",
    "txn_commits",
    "txn_aborts",
    "txn_timeouts",
    "elections",
    "isr_shrinks",
    "sends_info",
    "sends_fail",
)


def decision_kind(feature: str) -> str:
    """The kind of a decision feature (``offline`` for ``decision:offline:...``); "" for a
    feature that is not a decision."""
    head, _, rest = feature.partition(":")
    return rest.split(":", 1)[0] if head == "decision" else ""


def is_hazard(feature: str) -> bool:
    """A decision feature of a hazard kind (``sim.cluster.trace.HAZARDS``): an offset moving
    back, an election from outside the ISR."""
    return decision_kind(feature) in HAZARDS


def bucket(n: int) -> str:
    """AFL-style hit-count buckets: 1, 2, 3, 4+, 8+, 16+, 32+, 128+."""
    for floor in (128, 32, 16, 8, 4):
        if n >= floor:
            return f"{floor}+"
    return str(n)


class Coverage(MessageTrace):
    """A trace that keeps no messages, only what kinds of thing happened and how often."""

    def __init__(self) -> None:
        super().__init__()
        self.hits: Counter[str] = Counter()
        # requests a fault held back, by (sender, receiver, correlation id): their answers are
        # news of their own (a late TxnOffsetCommit or marker accepted or fenced)
        self._held: set[tuple[str, str, int]] = set()
        # when each decision, error answer and late answer first happened (simulated time):
        # guided search adds faults just after a parent's rarest one
        self.first_at: dict[str, float] = {}
        # the brokers each hazard named when first reached (the last ISR member fenced, the
        # replica elected from outside the ISR): guided search may aim faults at them
        self.named: dict[str, list[str]] = {}

    def _hit(self, name: str, at: float) -> None:
        if name not in self.hits:
            self.first_at[name] = round(at, 6)
        self.hits[name] += 1

    @property
    def live(self) -> bool:  # nodes format their notes only when a trace is live
        return True

    def _keep(self, entry: Sent) -> None:
        body = entry.body if isinstance(entry.body, dict) else {}
        name = f"{entry.api}Response" if entry.response else entry.api
        error = body.get("error") if entry.response else None
        if error:
            self._hit(f"msg:{name}:{error}", entry.sent)
        else:
            self.hits[f"msg:{name}:ok"] += 1
        if entry.fate == "dropped":
            reason = entry.reason.split(" ", 1)[0] if entry.reason else "lost"
            self.hits[f"dropped:{name}:{reason}"] += 1
        if entry.delayed:
            self.hits[f"delayed:{name}"] += 1
            if not entry.response:
                self._held.add((entry.src, entry.dst, entry.corr))
        if entry.response and (entry.dst, entry.src, entry.corr) in self._held:
            self._held.discard((entry.dst, entry.src, entry.corr))
            self._hit(f"late-answer:{name}:{error or 'ok'}", entry.sent)
        if entry.duplicate:
            self.hits[f"duplicated:{name}"] += 1
        if entry.reordered:
            self.hits[f"reordered:{name}"] += 1

    def held_request(self, msg: Any) -> None:
        self._held.add((msg.src, msg.dst, msg.corr))

    def arrived(self, entry: Sent, node_up: bool, node_known: bool) -> None:
        if not node_up:
            name = f"{entry.api}Response" if entry.response else entry.api
            self.hits[f"dropped:{name}:node-down"] += 1

    def note(self, node: str, kind: str, text: str) -> None:
        words = [w for w in text.split() if not any(c.isdigit() for c in w)]
        detail = " ".join(words[:4]) if kind not in ("append", "lso-advanced") else ""
        name = f"decision:{kind}:{detail}" if detail else f"decision:{kind}"
        if kind in HAZARDS and name not in self.hits:
            self.named[name] = [w for w in text.split() if BROKER_NAME.fullmatch(w)]
        self._hit(name, self.now)

    def features(self, results: Mapping[str, Any] | None = None) -> set[str]:
        """Every feature this run reached, with its count bucket; plus the verdict's anomaly
        types and bucketed protocol counters when ``results`` is given."""
        out = set(self.hits)
        # How often counts only where it is news: decisions, error answers and answers to held
        # requests. Routine traffic and drops vary with every schedule; bucketing them would
        # keep nearly every run.
        out |= {
            f"{name}#{bucket(n)}"
            for name, n in self.hits.items()
            if name.startswith(("decision:", "late-answer:"))
            or (name.startswith("msg:") and not name.endswith(":ok"))
        }
        if results is not None:
            out |= result_features(results)
        return out


def result_features(results: Mapping[str, Any]) -> set[str]:
    out = {f"anomaly:{name}" for name in results.get("anomaly_types") or []}
    stats = results.get("stats") if isinstance(results.get("stats"), dict) else {}
    assert isinstance(stats, dict)
    for name in _COUNTED_STATS:
        value = stats.get(name)
        if isinstance(value, int) and value > 0:
            out.add(f"stat:{name}:{bucket(value)}")
    out |= {f"buggify:{site}" for site in sites_fired(results)}  # rare paths taken
    errors = stats.get("producer_errors")
    if isinstance(errors, dict):
        out |= {f"producer-error:{code}" for code in errors}
    return out
