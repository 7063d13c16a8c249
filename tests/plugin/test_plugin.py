"""The pytest plugin (``pytest11`` entry point ``eosim = sim.pytest_plugin``) as a user meets it:
a test file using the ``eosim`` fixture, run by a fresh pytest in a subprocess."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sim.errors import UsageError
from sim.pytest_plugin import DeliveryInvariantError, Eosim

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
SMALL: dict[str, Any] = {"time-limit": 3, "convergence": 2}

USER_TESTS = """
def test_idempotent_producer_never_duplicates(eosim):
    result = eosim.run(mode="idempotent", nemesis="drop-acks", seeds=range(2), **{"time-limit": 3})
    result.assert_absent("duplicate", "lost-write")
    result.assert_valid()


def test_at_least_once_never_duplicates(eosim):
    result = eosim.run(mode="at-least-once", nemesis="drop-acks", seeds=range(2), **{"time-limit": 3})
    result.assert_valid()  # duplicates are allowed under at-least-once: this holds
    result.assert_absent("duplicate")  # ... and this does not


def test_at_least_once_duplicates_are_found(eosim):
    result = eosim.run(mode="at-least-once", nemesis="drop-acks", seeds=2, **{"time-limit": 3})
    result.assert_found("duplicate")


def test_the_two_generals_claim_holds(eosim):
    eosim.scenario("two-generals", seeds=2).assert_confirmed()
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_user_tests_pass_fail_and_explain(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    run.assert_outcomes(passed=3, failed=1)
    out = run.stdout.str()
    assert "FAILED test_user.py::test_at_least_once_never_duplicates" in out
    for name in (
        "test_idempotent_producer_never_duplicates",
        "test_at_least_once_duplicates_are_found",
        "test_the_two_generals_claim_holds",
    ):
        assert f"PASSED test_user.py::{name}" in out, name

    # the failure explains its witness: which value, where, sent by which op
    assert "DeliveryInvariantError: duplicate found in" in out
    assert re.search(r"value \d+ on k\d+ at offsets \d+", out), out
    assert "sent once, by op" in out
    assert "reproduce: eosim run" in out
    # the helpers' frames are hidden (__tracebackhide__): the traceback ends in the user's line
    assert "def assert_absent" not in out

    # ... and the reproduce line is a real command that shows the same anomaly
    line = next(x for x in run.stdout.lines if "reproduce: eosim run" in x)
    args = shlex.split(line.split("reproduce: eosim ", 1)[1])
    assert "--seed" in args and "--mode at-least-once" in " ".join(args)
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", *args, "--store", str(tmp_path / "r"), "--no-report"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr  # at-least-once allows duplicates
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert "duplicate" in results["anomaly_types"]


def test_pytester_sees_the_fixture_through_the_entry_point(pytester: pytest.Pytester) -> None:
    """The fixture comes from the installed entry point: no conftest, no -p flag."""
    pytester.makepyfile(
        test_small="""
        def test_small(eosim):
            result = eosim.run(mode="idempotent", seeds=1, **{"time-limit": 2, "convergence": 1})
            result.assert_valid()
            assert list(result.per_seed) == [0]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    fixtures = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--fixtures")
    fixtures.stdout.fnmatch_lines(["*eosim*", "*Run eosim simulations*"])


def test_importing_the_plugin_does_not_import_the_simulator() -> None:
    heavy = (
        "simpy",
        "networkx",
        "matplotlib",
        "hypothesis",
        "rich",
        "sim.cluster.world",
        "checkers",
    )
    code = (
        "import sys, sim.pytest_plugin\n"
        f"print('simpy' in sys.modules, [m for m in {heavy!r} if m in sys.modules])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_env()
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False []"


# --- the fixture's helpers, in process ----------------------------------------------------------
def test_fixture_seeds_accept_a_count_or_an_iterable(eosim: Eosim) -> None:
    assert sorted(eosim.run(mode="idempotent", seeds=2, **SMALL).per_seed) == [0, 1]
    assert sorted(eosim.run(mode="idempotent", seeds=[5], **SMALL).per_seed) == [5]


def test_fixture_rejects_unknown_names_with_one_line(eosim: Eosim) -> None:
    with pytest.raises(UsageError, match="unknown nemesis 'drop-ack'"):
        eosim.run(mode="idempotent", nemesis="drop-ack", seeds=1, **SMALL)
    with pytest.raises(UsageError, match="unknown bug 'no-such-bug'"):
        eosim.run(mode="idempotent", bugs="no-such-bug", seeds=1, **SMALL)
    with pytest.raises(UsageError, match="unknown mode"):
        eosim.run(mode="exactly-once", seeds=1, **SMALL)
    with pytest.raises(pytest.UsageError, match="unknown eosim scenario"):
        eosim.scenario("no-such-scenario")
    result = eosim.run(mode="idempotent", seeds=1, **SMALL)
    # a misspelt anomaly would make assert_absent pass vacuously
    with pytest.raises(UsageError, match="unknown anomaly 'dupliate'"):
        result.assert_absent("dupliate")
    with pytest.raises(UsageError, match="unknown anomaly"):
        result.assert_found("lost_write")


def test_assert_valid_names_the_broken_promise(eosim: Eosim) -> None:
    result = eosim.run(mode="idempotent", nemesis="drop-acks", bugs="no-dedup", seeds=2, **SMALL)
    assert result.seeds_with("duplicate")
    with pytest.raises(DeliveryInvariantError) as info:
        result.assert_valid()
    message = str(info.value)
    assert message.startswith("mode idempotent broke its promise in seeds")
    assert "duplicate" in message and "one producer session" in message
    assert "reproduce: eosim run" in message and "--bug no-dedup" in message


def test_a_custom_schedule_is_part_of_the_reproduction(eosim: Eosim) -> None:
    schedule = [{"at": 0.5, "nemesis": "drop-acks", "duration": 1.0, "target": "producers"}]
    result = eosim.run(mode="at-least-once", schedule=schedule, seeds=1, **SMALL)
    assert result.schedules[0][0]["nemesis"] == "drop-acks"
    with pytest.raises(DeliveryInvariantError) as info:
        result.assert_absent("duplicate")
    message = str(info.value)
    assert "reproduce: eosim run" in message
    assert "with fault schedule (faults.json):" in message
    assert json.loads(message.split("faults.json): ", 1)[1]) == result.schedules[0]
    # a schedule that heals after the time limit is refused up front
    with pytest.raises(UsageError, match="after the time limit"):
        eosim.run(
            mode="at-least-once",
            schedule=[{"at": 2.5, "nemesis": "drop-acks", "duration": 1.0}],
            seeds=1,
            **SMALL,
        )
