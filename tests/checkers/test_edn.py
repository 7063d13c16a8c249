"""Jepsen history.edn reader, on hand-written histories in Jepsen's Kafka workload shape."""

from __future__ import annotations

import pytest

import checkers
from checkers import HistoryError, load_edn

JEPSEN = """\
{:type :invoke, :f :assign, :value [3], :time 1000000, :process 1, :index 0}
{:type :ok, :f :assign, :value [3], :time 2000000, :process 1, :index 1}
{:type :invoke, :f :send, :value [[:send 3 12]], :time 3000000, :process 0, :index 2}
{:type :ok, :f :send, :value [[:send 3 [0 12]]], :time 4000000, :process 0, :index 3}
{:type :invoke, :f :send, :value [[:send 3 13]], :time 5000000, :process 0, :index 4}
{:type :info, :f :send, :value [[:send 3 13]], :time 6000000, :process 0, :index 5, :error :timeout}
{:type :info, :f :kill, :value nil, :time 6500000, :process :nemesis, :index 6}
{:type :invoke, :f :poll, :value [[:poll]], :time 7000000, :process 1, :index 7}
{:type :ok, :f :poll, :value [[:poll {3 [[0 12] [1 13] [2 13]]}]], :time 8000000, :process 1, :index 8, :rebalance-log [{:keys [4 5]}]}
{:type :invoke, :f :debug-topic-partitions, :value [3], :time 9000000, :process 2, :index 9}
{:type :ok, :f :debug-topic-partitions, :value {3 {:leader "n1"}}, :time 9500000, :process 2, :index 10}
"""


def write(tmp_path, text, name="history.edn"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_jepsen_ops(tmp_path):
    ops = load_edn(write(tmp_path, JEPSEN))
    assert len(ops) == 11
    send_ok = ops[3]
    assert send_ok["type"] == "ok" and send_ok["f"] == "send" and send_ok["process"] == 0
    assert send_ok["value"] == [["send", "3", [0, 12]]]
    assert send_ok["time"] == pytest.approx(0.004)
    assert ops[2]["value"] == [["send", "3", 12]]  # invokes keep the bare value
    assert ops[5]["value"] == [["send", "3", [None, 13]]]  # unknown offset on completion
    assert ops[5]["error"] == "timeout"
    assert ops[6]["process"] == "nemesis" and ops[6]["f"] == "kill"
    assert ops[8]["value"] == [["poll", {"3": [[0, 12], [1, 13], [2, 13]]}]]
    assert ops[8]["rebalance_log"] == ["4", "5"]
    assert ops[0]["value"] == ["3"]
    assert ops[10]["f"] == "debug-topic-partitions"  # unknown f kept
    assert ops[10]["value"] == {"3": {"leader": "n1"}}


def test_checks_a_jepsen_history(tmp_path):
    res = checkers.check(load_edn(write(tmp_path, JEPSEN)), "at-least-once")
    d = res["anomalies"]["duplicate"][0]
    assert d["key"] == "3" and d["value"] == 13 and d["offsets"] == [1, 2] and 5 in d["ops"]
    assert res["valid"] is True


def test_vector_of_maps_and_missing_indices(tmp_path):
    text = """[{:type :invoke, :f :send, :value [[:send 1 5]], :time 10, :process 0}
 {:type :ok, :f :send, :value [[:send 1 [0 5]]], :time 20, :process 0}]"""
    ops = load_edn(write(tmp_path, text))
    assert [op["index"] for op in ops] == [0, 1]
    assert ops[1]["time"] == pytest.approx(2e-8)


def test_tagged_op_records(tmp_path):
    text = (
        "#jepsen.history.Op{:index 0, :time 5, :type :invoke, :process 0, :f :txn, "
        ":value [[:send 1 5] [:poll]]}\n"
        "#jepsen.history.Op{:index 1, :time 6, :type :fail, :process 0, :f :txn, "
        ":value [[:send 1 5] [:poll]]}\n"
    )
    ops = load_edn(write(tmp_path, text))
    assert ops[1]["type"] == "fail" and ops[1]["value"] == [["send", "1", [None, 5]], ["poll"]]


def test_malformed_edn_names_the_line(tmp_path):
    lines = JEPSEN.splitlines()
    lines[4] = "{:type :invoke, :f :send, :value [[:send 3 13]], :time 5000000 :process 0]"
    with pytest.raises(HistoryError, match=r"^history\.edn line 5: malformed EDN"):
        load_edn(write(tmp_path, "\n".join(lines)))


def test_unbalanced_edn_at_end(tmp_path):
    text = JEPSEN + "{:type :invoke, :f :poll, :value [[:poll]]"
    with pytest.raises(HistoryError, match=r"^history\.edn line 12: malformed EDN"):
        load_edn(write(tmp_path, text))


def test_pairing_errors_in_edn(tmp_path):
    text = (
        "{:type :invoke, :f :poll, :value [[:poll]], :time 1, :process 4, :index 0}\n"
        "{:type :invoke, :f :poll, :value [[:poll]], :time 2, :process 4, :index 1}\n"
    )
    with pytest.raises(HistoryError, match="line 2: second invoke for process 4"):
        load_edn(write(tmp_path, text))


def test_lone_completion_in_edn_is_accepted(tmp_path):
    text = "{:type :ok, :f :send, :value [[:send 3 [0 1]]], :time 1, :process 4, :index 0}\n"
    ops = load_edn(write(tmp_path, text))
    assert ops[0]["value"] == [["send", "3", [0, 1]]]


def test_non_map_op(tmp_path):
    with pytest.raises(HistoryError, match="line 1: expected an op map"):
        load_edn(write(tmp_path, "[1 2 3]\n"))
