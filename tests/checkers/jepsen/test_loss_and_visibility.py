"""Jepsen's ``kafka_test.clj``: lost-write-test, unseen-test, empty-history-test, g1a-test,
precommitted-read-test. Each test names the deftest it translates and asserts what it asserts.
"""

from __future__ import annotations

import subprocess
import sys

from tests.checkers.jepsen.jepsen_ops import J, errors, pick

LOST = ("key", "value", "index", "max_read_index", "writer", "reader")


def test_lost_write_test_consistent():
    """lost-write-test / "consistent": a read of c at offset 2 means a (0) and b (1) should
    have been read; d at 3 is above what anyone read, so it is not lost."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x :a]]")
    send_a = j.o(0, "ok", "send", "[[:send :x [0 :a]]]")
    j.o(0, "invoke", "send", "[[:send :x :b] [:send :x :d]]")
    send_bd = j.o(0, "ok", "send", "[[:send :x [1 :b]] [:send :x [3 :d]]]")
    j.o(1, "invoke", "send", "[[:send :x :c]]")
    j.o(1, "info", "send", "[[:send :x :c]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    poll = j.o(0, "ok", "poll", "[[:poll {:x [[2 :c]]}]]")
    res = j.check()
    assert pick(errors(res, "lost-write"), *LOST) == [
        {
            "key": "x",
            "value": "a",
            "index": 0,
            "max_read_index": 2,
            "writer": send_a,
            "reader": poll,
        },
        {
            "key": "x",
            "value": "b",
            "index": 1,
            "max_read_index": 2,
            "writer": send_bd,
            "reader": poll,
        },
    ]
    explanation = errors(res, "lost-write")[0]["explanation"]
    assert explanation == (
        "value a on x was acknowledged at offset 0 by op 1 (process 0, at 0.000 s); consumers "
        "read x up to offset 2 (op 7 (process 0, at 0.000 s) read c there) and never saw it"
    )
    assert res["valid"] is False


def test_lost_write_test_inconsistent():
    """lost-write-test / "inconsistent": b overwrote a at offset 0; reading b and c still means
    a should have been read (max-read-index 1: there is no offset 1)."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x :a]]")
    send_a = j.o(0, "ok", "send", "[[:send :x [0 :a]]]")
    j.o(0, "invoke", "send", "[[:send :x :b] [:send :x :c]]")
    j.o(0, "ok", "send", "[[:send :x [0 :b]] [:send :x [2 :c]]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    read_bc = j.o(0, "ok", "poll", "[[:poll {:x [[0 :b] [2 :c]]}]]")
    assert pick(errors(j.check(), "lost-write"), *LOST) == [
        {
            "key": "x",
            "value": "a",
            "index": 0,
            "max_read_index": 1,
            "writer": send_a,
            "reader": read_bc,
        }
    ]


def _atomic(j: J, with_poll_a: bool) -> tuple[int, int]:
    j.o(0, "invoke", "send", "[[:send :x :a] [:send :y :b]]")
    send_ab = j.o(0, "info", "send", "[[:send :x :a] [:send :y [0 :b]]]")
    j.o(1, "invoke", "send", "[[:send :y :c]]")
    j.o(1, "info", "send", "[[:send :y :c]]")
    if with_poll_a:
        j.o(2, "invoke", "poll", "[[:poll]]")
        j.o(2, "ok", "poll", "[[:poll {:x [[0 :a]]}]]")
    j.o(3, "invoke", "poll", "[[:poll]]")
    poll_c = j.o(3, "ok", "poll", "[[:poll {:y [[1 :c]]}]]")
    return send_ab, poll_c


def test_lost_write_test_atomic():
    """lost-write-test / "atomic": a crashed multi-send op is all or nothing; once a read of a
    proves it committed, its b at y/0 is lost under the read of c at y/1."""
    without = J()
    _atomic(without, with_poll_a=False)
    assert errors(without.check(), "lost-write") == []
    j = J()
    send_ab, poll_c = _atomic(j, with_poll_a=True)
    assert pick(errors(j.check(), "lost-write"), *LOST) == [
        {
            "key": "y",
            "value": "b",
            "index": 0,
            "max_read_index": 1,
            "writer": send_ab,
            "reader": poll_c,
        }
    ]


def test_unseen_test():
    """unseen-test: Jepsen's unseen series is {}, {x 2}, {x 1}, {x 0}. eosim reports the count
    at the end of a history, so each prefix of the history is checked."""
    j = J()
    j.o(0, "invoke", "poll", "[[:poll]]")
    j.o(0, "ok", "poll", "[[:poll {}]]")
    j.o(0, "invoke", "send", "[[:send :x :a] [:send :x :b]]")
    j.o(0, "ok", "send", "[[:send :x [0 :a]] [:send :x [1 :b]]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    j.o(0, "ok", "poll", "[[:poll {:x [[0 :a]]}]]")
    j.o(0, "invoke", "poll", "[[:poll]]")
    j.o(0, "ok", "poll", "[[:poll {:x [[1 :b]]}]]")
    ops = j.ops()

    def unseen(n: int) -> dict[str, int]:
        import checkers

        return {
            w["key"]: w["count"] for w in errors(checkers.check(ops[:n], "idempotent"), "unseen")
        }

    assert [unseen(n) for n in (2, 4, 6, 8)] == [{}, {"x": 2}, {"x": 1}, {}]
    import checkers

    assert checkers.check(ops, "idempotent")["valid"] is True


def test_empty_history_test(tmp_path):
    """empty-history-test: an assign and nothing else is not valid. eosim's verdict is
    "unknown" with the reason, and ``eosim check`` exits 4, never 0."""
    j = J()
    j.o(0, "invoke", "assign", "[:x]")
    j.o(0, "ok", "assign", "[:x]")
    res = j.check()
    assert res["valid"] == "unknown"
    assert res["unknown_reason"] == (
        "empty history: no send, poll or txn completed, so there is nothing to judge"
    )
    path = tmp_path / "history.edn"
    path.write_text(j.text())
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "check", str(path), "--format", "jepsen-edn"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 4, proc.stderr
    assert "UNKNOWN" in proc.stdout and "empty history" in proc.stdout


def test_g1a_test():
    """g1a-test: a failed send's value read by an ok poll."""
    j = J()
    j.o(0, "invoke", "send", "[[:send :x 2] [:send :y 3]]")
    send = j.o(0, "fail", "send", "[[:send :x 2] [:send :y 3]]")
    j.o(1, "invoke", "poll", "[[:poll]]")
    poll = j.o(1, "ok", "poll", "[[:poll {:x [[0 2]]}]]")
    assert pick(errors(j.check(), "G1a"), "reader", "writer", "key", "value") == [
        {"reader": poll, "writer": send, "key": "x", "value": 2}
    ]


def test_precommitted_read_test():
    """precommitted-read-test: a transaction polls its own write."""
    j = J()
    j.o(0, "invoke", "txn", "[[:send :x :a] [:poll]]")
    t1 = j.o(0, "ok", "txn", "[[:send :x [0 :a]] [:poll {:x [[0 :a]]}]]")
    assert pick(errors(j.check(), "precommitted-read"), "ops", "key", "values") == [
        {"ops": [t1], "key": "x", "values": ["a"]}
    ]
