"""A traced run whose network duplicates messages: each second copy is recorded as a duplicate
of the first (it once crashed the trace: the copy's body was never assigned)."""

from __future__ import annotations

from sim.cluster.trace import MessageTrace
from sim.config import Config
from sim.runs.runner import simulate
from tests.faults.faultkit import fault


def test_a_traced_run_records_network_duplicates() -> None:
    config = Config(mode="idempotent", time_limit=3.0, convergence=1.0)
    trace = MessageTrace()
    simulate(config, 0, [fault(0.5, "duplicate", 1.5, "random-broker", p=0.9)], trace=trace)
    copies = [m for m in trace.messages if m.duplicate]
    assert copies, "no duplicated message was recorded"
    firsts = {m.id: m for m in trace.messages if not m.duplicate}
    linked = [c for c in copies if c.duplicate_of is not None]
    assert linked and all(firsts[c.duplicate_of].api == c.api for c in linked)
    assert all(c.body is firsts[c.duplicate_of].body for c in linked)
