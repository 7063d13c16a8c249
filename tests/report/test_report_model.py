"""The rules the report draws by: op pairing and, above all, nemesis windows (the simulator
emits ops that must match them)."""

from __future__ import annotations

from typing import Any

from sim.report.model import Window, nemesis_phase, nemesis_windows, pair_ops, witnesses


def nem(index: int, time: float, f: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    return {"index": index, "time": time, "process": "nemesis", "type": "info", "f": f,
            "value": value, **extra}  # fmt: skip


def spans(history: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    return [(w.start, w.end, w.label) for w in nemesis_windows(history)]


def test_phase_in_value_pairs_by_fault_id_even_when_interleaved() -> None:
    history = [
        nem(0, 1.0, "drop-acks", {"fault": 0, "phase": "start", "target": "p3", "until": 9.0}),
        nem(1, 2.0, "drop-acks", {"fault": 1, "phase": "start", "target": "p3", "until": 9.0}),
        nem(2, 3.0, "drop-acks", {"fault": 1, "phase": "stop", "target": "p3"}),
        nem(3, 4.0, "drop-acks", {"fault": 0, "phase": "stop", "target": "p3"}),
    ]
    assert spans(history) == [(1.0, 4.0, "drop-acks p3"), (2.0, 3.0, "drop-acks p3")]
    assert nemesis_windows(history)[0].indices == (0, 3)


def test_f_affixes_pair_start_and_stop() -> None:
    history = [
        nem(0, 1.0, "start-partition", {"target": "b1"}),
        nem(1, 1.5, "kill-start"),
        nem(2, 2.0, "stop-partition", {"target": "b1"}),
        nem(3, 2.5, "kill-stop"),
        nem(4, 3.0, "pause-start"),
        nem(5, 3.5, "pause-heal"),
    ]
    assert spans(history) == [
        (1.0, 2.0, "partition b1"), (1.5, 2.5, "kill"), (3.0, 3.5, "pause")
    ]  # fmt: skip


def test_top_level_phase_field_and_explicit_phase_keeps_name() -> None:
    history = [
        nem(0, 1.0, "start-zombie", {"target": "p1"}, phase="start"),
        nem(1, 2.0, "start-zombie", {"target": "p1"}, phase="stop"),
    ]
    assert spans(history) == [(1.0, 2.0, "start-zombie p1")]
    assert nemesis_phase(history[0]) == ("start", "start-zombie")


def test_until_alone_makes_a_window_and_bare_op_is_an_instant() -> None:
    history = [nem(0, 1.0, "drop-acks", {"target": "p3", "until": 1.4}), nem(1, 2.0, "kill")]
    assert spans(history) == [(1.0, 1.4, "drop-acks p3"), (2.0, 2.0, "kill")]


def test_unclosed_start_ends_at_until_or_end_of_history() -> None:
    history = [
        nem(0, 1.0, "delay", {"fault": 0, "phase": "start", "until": 2.5}),
        nem(1, 1.0, "start-partition"),
        {"index": 2, "time": 7.0, "process": 0, "type": "invoke", "f": "poll", "value": None},
    ]
    windows = nemesis_windows(history)
    assert [(w.start, w.end, w.open_ended) for w in windows] == [
        (1.0, 2.5, False), (1.0, 7.0, True)
    ]  # fmt: skip


def test_jepsen_style_doubled_ops_make_one_window() -> None:
    history = [
        nem(0, 1.0, "start-partition"),
        nem(1, 1.1, "start-partition", "partitioned"),
        nem(2, 3.0, "stop-partition"),
        nem(3, 3.1, "stop-partition", "healed"),
    ]
    assert spans(history) == [(1.0, 3.0, "partition")]


def test_pair_ops_by_process_with_pending_and_orphans() -> None:
    history = [
        {"index": 0, "time": 0.0, "process": 0, "type": "invoke", "f": "send", "value": 1},
        {"index": 1, "time": 0.1, "process": 1, "type": "invoke", "f": "poll", "value": None},
        nem(2, 0.15, "kill"),
        {"index": 3, "time": 0.2, "process": 0, "type": "info", "f": "send", "value": 1},
        {"index": 4, "time": 0.3, "process": 2, "type": "ok", "f": "poll", "value": []},
    ]
    ops = {o.process: o for o in pair_ops(history)}
    assert (ops[0].type, ops[0].indices, ops[0].latency) == ("info", [0, 3], 0.2)
    assert (ops[1].type, ops[1].indices, ops[1].end) == ("pending", [1], None)
    assert (ops[2].type, ops[2].indices) == ("ok", [4])


def test_witnesses_are_flattened_and_capped() -> None:
    results = {"anomalies": {"duplicate": [{"ops": [1, 2], "key": "k"}] * 5, "bad": "x"}}
    got = witnesses(results, per_anomaly=3)
    assert len(got) == 3 and got[0].ops == (1, 2) and got[0].details == {"key": "k"}
    assert witnesses({}) == []


def test_window_name_is_the_nemesis() -> None:
    assert Window(0.0, 1.0, "drop-acks p3").name == "drop-acks"
