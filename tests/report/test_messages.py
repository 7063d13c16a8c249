"""Message diagrams: the opt-in trace, re-running a store with it, the HTML, and the CLI."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from sim.cli import main
from sim.cluster.build import build_world
from sim.cluster.trace import DEDUPLICATED, DROPPED, MessageTrace
from sim.config import Config
from sim.errors import UsageError
from sim.report.messages import (
    APPEND_RE,
    default_window,
    render_messages,
    write_messages,
    write_witness_messages,
)
from sim.runs.runner import run, trace_store
from sim.runs.store import write_store
from sim.scenarios import SCENARIOS

SEED = 0
WINDOW = (1.0, 1.9)  # the first lost acks (from 1.0 s) and their retries after request.timeout.ms


def make_store(directory: Path, scenario: str, seed: int = SEED) -> Path:
    case = SCENARIOS[scenario].cases[0]
    assert case.schedule is not None
    outcome = run(case.config, seed, case.schedule(seed))
    return write_store(
        directory, outcome.config, seed, outcome.schedule, outcome.history_text, outcome.results
    )


@pytest.fixture(scope="module")
def two_generals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("tg") / "store", "two-generals")


@pytest.fixture(scope="module")
def dedup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("idem") / "store", "idempotent-dedup")


def appended(trace: MessageTrace) -> list[tuple[str, int, str, str]]:
    """(partition, first offset, values, node) of every append decision."""
    out = []
    for d in trace.decisions:
        m = APPEND_RE.match(d.text) if d.kind == "append" else None
        if m:
            out.append((m.group(1), int(m.group(2)), m.group(3), d.node))
    return out


def test_tracing_is_off_by_default() -> None:
    world = build_world(Config(mode="idempotent", time_limit=1.0), 1)
    assert world.net.trace is None


@pytest.mark.parametrize(
    ("mode", "nemesis"),
    [("at-least-once", ("drop-acks",)), ("transactional", ("kill-coordinator", "duplicate"))],
)
def test_tracing_does_not_change_the_history(mode: str, nemesis: tuple[str, ...]) -> None:
    """Recording draws no randomness and schedules nothing: same seed, same bytes."""
    config = Config(mode=mode, nemesis=nemesis, time_limit=4.0, convergence=2.0)
    plain = run(config, 3)
    trace = MessageTrace()
    traced = run(config, 3, trace=trace)
    assert traced.digest == plain.digest
    assert traced.history_text == plain.history_text
    assert trace.messages and trace.decisions


def test_two_generals_ack_dropped_then_retry_appended_again(two_generals: Path) -> None:
    """At-least-once: the leader appends a Produce (UnifiedLog.append), its response is lost
    (drop-acks), the client's request times out after request.timeout.ms (NetworkClient /
    Sender.completeBatch: retriable) and it sends the same batch again; without
    enable.idempotence nothing identifies the retry, so the leader appends it a second time."""
    trace, _ = trace_store(two_generals, *WINDOW)
    lost = [
        m
        for m in trace.messages
        if m.api == "Produce" and m.response and m.fate == DROPPED and "drop-acks" in m.reason
    ]
    assert lost, "a produce ack should be lost on the wire"
    by_id = {m.id: m for m in trace.messages}
    retries = [m for m in trace.messages if m.api == "Produce" and not m.response and m.attempt > 1]
    assert retries
    # the retry repeats a request whose ack was lost, from the same client to the same leader
    lost_requests = {(by_id[m.reply_to].src, by_id[m.reply_to].summary) for m in lost}
    assert any((r.src, r.summary) in lost_requests for r in retries)
    # ... and the same values land at two offsets of the same partition: a duplicate
    seen: dict[tuple[str, str], list[int]] = {}
    for key, first, values, _node in appended(trace):
        seen.setdefault((key, values), []).append(first)
    twice = {kv: offs for kv, offs in seen.items() if len(offs) > 1}
    assert twice, "the retried batch should be appended again"

    page = render_messages(trace, *WINDOW)
    assert re.search(r'<g class="msg response produce dropped"', page)
    assert "dropped: drop-acks nemesis" in page
    assert re.search(r'<g class="msg request produce retry"', page)
    assert "retry 1: Produce" in page
    assert 'class="dec append again"' in page and "AGAIN (already @" in page


def test_idempotent_drop_acks_shows_deduplicated(dedup: Path) -> None:
    """With enable.idempotence the retried batch carries its producer id, epoch and sequence;
    the leader finds it among the producer's last five batches (ProducerStateManager,
    ProducerAppendInfo.checkSequence -> DUPLICATE_SEQUENCE) and answers with the original
    offset instead of appending it again."""
    trace, _ = trace_store(dedup, 0.95, 2.0)
    dups = [d for d in trace.decisions if d.kind == DEDUPLICATED]
    assert dups and "not appended" in dups[0].text
    assert any("DUPLICATE_SEQUENCE" in m.summary for m in trace.messages if m.response)
    values = [(key, values) for key, _f, values, _n in appended(trace)]
    assert len(values) == len(set(values)), "no batch is appended twice"
    page = render_messages(trace, 0.95, 2.0)
    assert 'class="dec deduplicated"' in page and "DEDUPLICATED" in page


def test_write_messages_default_window_and_file(two_generals: Path) -> None:
    path = write_messages(two_generals)
    assert path.parent == two_generals and path.name == "messages-0.950-2.000.html"
    page = path.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    widths = [int(w) for w in re.findall(r'<svg xmlns="[^"]+" width="(\d+)"', page)]
    assert widths and max(widths) <= 1400
    assert len(re.findall(r'<g class="msg ', page)) <= 400


def test_cap_note_says_what_was_left_out(two_generals: Path) -> None:
    trace, _ = trace_store(two_generals, *WINDOW)
    page = render_messages(trace, *WINDOW, cap=10, background=True)
    assert len(re.findall(r'<g class="msg ', page)) == 10
    assert re.search(r"<b>\d+ of \d+ messages left out</b>", page)
    assert "narrow" in page
    # dropped messages are kept first
    assert 'produce dropped"' in page


def test_focus_nodes_keep_their_messages_only(two_generals: Path) -> None:
    trace, _ = trace_store(two_generals, *WINDOW)
    page = render_messages(trace, *WINDOW, focus_nodes=["c0"])
    heads = re.findall(r'<g class="node" data-node="([^"]+)"', page)
    assert "c0" in heads and "c1" not in heads


def test_witness_diagram(two_generals: Path) -> None:
    results = json.loads((two_generals / "results.json").read_text())
    witness = results["anomalies"]["duplicate"][0]
    path = write_witness_messages(two_generals, witness["ops"], two_generals / "w.html")
    assert "<svg" in path.read_text()


def test_digest_mismatch_is_one_clear_error(two_generals: Path, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    copy.mkdir()
    for f in ("config.toml", "faults.json", "history.jsonl"):
        (copy / f).write_bytes((two_generals / f).read_bytes())
    results: dict[str, Any] = json.loads((two_generals / "results.json").read_text())
    results["digest"] = "0" * 64
    (copy / "results.json").write_text(json.dumps(results))
    with pytest.raises(UsageError, match="re-running the store gave digest"):
        write_messages(copy, 1.0, 1.1)


def test_default_window() -> None:
    faults = [{"at": 3.5, "duration": 1.5}, {"at": 1.0, "duration": 0.2}]
    assert default_window(faults, None, None) == (0.95, 1.2)
    assert default_window([], None, None) == (0.0, 1.0)
    assert default_window(faults, 2.0, None) == (2.0, 3.0)
    assert default_window(faults, None, 0.5) == (0.0, 0.5)


def cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    code = exc.value.code
    return code if isinstance(code, int) else 0


def test_cli_writes_a_diagram(two_generals: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli("report", str(two_generals), "--messages", "--from", "1", "--to", "1.9",
               "--nodes", "c0")  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "messages-1.000-1.900.html" in out
    assert (two_generals / "messages-1.000-1.900.html").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--from", "2", "--to", "1"), "after --to"),
        (("--from", "nan"), "finite"),
        (("--to", "inf"), "finite"),
        (("--from", "-1"), "negative"),
        (("--from", "500"), "after the end of the run"),
        (("--nodes", "nobody"), "no node named nobody"),
    ],
)
def test_cli_bad_window_exit_2(
    two_generals: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    needle: str,
) -> None:
    assert cli("report", str(two_generals), "--messages", *args) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and needle in err[0], err


def test_cli_missing_store_and_stray_flags(tmp_path: Path, two_generals: Path) -> None:
    assert cli("report", str(tmp_path / "nope"), "--messages") == 2
    assert cli("report", str(two_generals), "--from", "1") == 2


def test_window_numbers_are_finite() -> None:
    assert all(math.isfinite(x) for x in default_window([{"at": 0.0, "duration": 0.0}], None, None))
