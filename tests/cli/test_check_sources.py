"""`eosim check` reads where a history came from: a store's own mode, the evidence of a bare
history (with the assumption said out loud), and EDN by extension or content."""

from __future__ import annotations

import json
from pathlib import Path

from checkers.sources import detect_format, infer_mode
from tests.cli.test_bad_input import eosim


def ops(*lines: dict) -> str:
    return "".join(json.dumps(o) + "\n" for o in lines)


def send(index: int, process: int, kind: str, value: object, **extra: object) -> dict:
    return {"index": index, "time": index / 10, "process": process, "type": kind, "f": "send",
            "value": value, **extra}  # fmt: skip


# One value written twice (a retried send): a duplicate, allowed at-least-once, forbidden
# transactional; read back by a poll so the history is checkable.
DUPLICATE = ops(
    send(0, 1, "invoke", [["send", "k", 7]]),
    send(1, 1, "ok", [["send", "k", [0, 7]]]),
    {"index": 2, "time": 0.2, "process": 2, "type": "invoke", "f": "poll", "value": [["poll"]]},
    {"index": 3, "time": 0.3, "process": 2, "type": "ok", "f": "poll",
     "value": [["poll", {"k": [[0, 7], [1, 7]]}]]},
)  # fmt: skip


def test_a_bare_history_is_judged_by_its_evidence_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(DUPLICATE)
    proc = eosim("check", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr  # at-least-once allows duplicates
    assert "judged as at-least-once (assumed: it has no transactions" in proc.stdout
    assert "pass --mode to choose" in proc.stdout
    strict = eosim("check", str(path), "--mode", "transactional")
    assert strict.returncode == 1 and "judged as transactional (--mode)" in strict.stdout


def test_a_store_directory_is_checked_by_the_store_mode(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "history.jsonl").write_text(DUPLICATE)
    (store / "config.toml").write_text('seed = 1\nmode = "transactional"\n')
    for target in (store, store / "history.jsonl"):
        proc = eosim("check", str(target), "--json")
        assert proc.returncode == 1, proc.stderr
        assert json.loads(proc.stdout)["mode"] == "transactional"
    (store / "config.toml").write_text('seed = 1\nmode = "at-least-once"\n')
    assert eosim("check", str(store)).returncode == 0


def test_a_directory_without_history_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = eosim("check", str(tmp_path))
    assert proc.returncode == 2
    assert "is not a store directory: history.jsonl is missing" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_edn_is_detected_by_extension_or_content(tmp_path: Path) -> None:
    edn = (
        "{:index 0 :time 0 :process 1 :type :invoke :f :send :value [[:send 1 7]]}\n"
        "{:index 1 :time 1 :process 1 :type :ok :f :send :value [[:send 1 [0 7]]]}\n"
        "{:index 2 :time 2 :process 2 :type :invoke :f :poll :value [[:poll]]}\n"
        "{:index 3 :time 3 :process 2 :type :ok :f :poll :value [[:poll {1 [[0 7]]}]]}\n"
    )
    for name in ("history.edn", "history.txt"):
        path = tmp_path / name
        path.write_text(edn)
        assert detect_format(path) == "jepsen-edn"
        proc = eosim("check", str(path))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    json_path = tmp_path / "h.txt"
    json_path.write_text(DUPLICATE)
    assert detect_format(json_path) == "jsonl"


def test_infer_mode_reads_transactions_then_producer_ids() -> None:
    txn = [{"f": "txn", "type": "ok", "process": 0}]
    pid = [send(0, 1, "invoke", [["send", "k", 1]], pid=3, epoch=0)]
    assert infer_mode(txn)[0] == "transactional"
    assert infer_mode(pid)[0] == "idempotent"
    assert infer_mode([send(0, 1, "invoke", [["send", "k", 1]])])[0] == "at-least-once"
