"""What `eosim run` tells its user besides the verdict: the faults that fired (what --swarm
drew), what the protocol did, where the report is, and a reproduce line in the user's flags."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.cli.test_bad_input import eosim

SMALL = ["--time-limit", "3", "--set", "convergence=2", "--no-report"]


def test_swarm_run_names_its_store_and_lists_the_faults_that_fired(tmp_path: Path) -> None:
    proc = eosim("run", "--mode", "idempotent", "--swarm", "--seed", "5", *SMALL, cwd=tmp_path)
    assert proc.returncode in (0, 1, 4), proc.stderr
    fired = re.search(r"^faults: (\d+) fired: (.*)$", proc.stdout, re.M)
    assert fired, proc.stdout
    kinds = re.findall(r"([a-z-]+) x\d+ \(", fired.group(2))
    assert kinds and sum(int(n) for n in re.findall(r" x(\d+) \(", fired.group(2))) == int(
        fired.group(1)
    )
    [store] = [p for p in (tmp_path / "store").iterdir() if p.is_dir() and not p.is_symlink()]
    assert store.name.startswith("idempotent-swarm-" + "+".join(kinds[:4]))
    assert re.search(r"^protocol: ", proc.stdout, re.M)


def test_protocol_counters_show_retries_and_deduplication(tmp_path: Path) -> None:
    """Lost acks make the idempotent producer retry, and the broker answers the retried
    batches as duplicates (Kafka: ProducerStateManager / ProducerAppendInfo.checkSequence,
    DUPLICATE_SEQUENCE_NUMBER)."""
    proc = eosim(
        "run", "--mode", "idempotent", "--nemesis", "drop-acks", "--seed", "7",
        "--store", str(tmp_path / "r"), *SMALL,
    )  # fmt: skip
    line = next(x for x in proc.stdout.splitlines() if x.startswith("protocol:"))
    retries = re.search(r"producer retries (\d+)", line)
    deduped = re.search(r"retries deduplicated by the broker (\d+)", line)
    assert retries and deduped and int(deduped.group(1)) >= 1, line
    assert re.search(r"^faults: \d+ fired: drop-acks x\d+ \(", proc.stdout, re.M)


def test_reproduce_line_uses_the_users_flags_and_reproduces(tmp_path: Path) -> None:
    args = ["run", "--mode", "at-least-once", "--nemesis", "drop-acks", "--acks", "1",
            "--seed", "3", "--store", str(tmp_path / "a"), *SMALL]  # fmt: skip
    proc = eosim(*args)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("reproduce: "))
    assert "--mode at-least-once" in line and "--nemesis drop-acks" in line
    assert "--acks 1" in line and "--set mode=" not in line
    again = shlex.split(line.removeprefix("reproduce: eosim "))
    rerun = eosim(*again, "--store", str(tmp_path / "b"), "--no-report")
    digest = re.compile(r"digest: ([0-9a-f]{16})")
    assert digest.search(proc.stdout).group(1) == digest.search(rerun.stdout).group(1)  # type: ignore[union-attr]


def test_a_quiet_campaign_prints_nothing(tmp_path: Path) -> None:
    proc = eosim(
        "campaign", "--mode", "idempotent", "--seeds", "0..1", "--time-limit", "2",
        "--store", str(tmp_path / "c"), "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
