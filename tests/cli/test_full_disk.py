"""A full disk in the middle of writing a store: one line naming the file, no temporary file
left behind, the store marked incomplete, store/latest not moved to it."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from sim.config import Config
from sim.errors import UsageError
from sim.runs.runner import run
from sim.runs.store import INCOMPLETE, read_store, write_store


def test_a_full_disk_leaves_an_incomplete_store_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = run(Config(time_limit=1.0, convergence=0.5), 1)
    real_write = Path.write_text

    def write_text(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if self.name == ".history.jsonl.tmp":
            real_write(self, data[:10], *args, **kwargs)  # part of it landed, then the disk filled
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", write_text)
    store = tmp_path / "store"
    with pytest.raises(UsageError, match=r"store/history\.jsonl: No space left on device"):
        write_store(
            store, outcome.config, 1, outcome.schedule, outcome.history_text, outcome.results
        )
    monkeypatch.undo()
    assert sorted(p.name for p in store.iterdir()) == [INCOMPLETE, "config.toml", "faults.json"]
    with pytest.raises(UsageError, match="incomplete store"):
        read_store(store)
