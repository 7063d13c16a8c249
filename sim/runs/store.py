"""Store directories: everything needed to reproduce and explain one run.

Files are written to a temporary name and renamed into place, so an interrupted or failed run
never leaves a half-written file where a good one was.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sim.config import Config, from_mapping
from sim.errors import UsageError

FILES = ("config.toml", "faults.json", "history.jsonl", "results.json")
# Present while a store is being written: a store a crash interrupted says so instead of being
# judged on half of its files.
INCOMPLETE = ".incomplete"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name to write ``path`` under, renamed into place when the block ends: a
    reader sees the old file or the new one, and a failed write (a full disk) leaves no
    temporary file behind and names ``path``, not the temporary name."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def refuse_incomplete(directory: Path) -> None:
    if (directory / INCOMPLETE).exists():
        raise UsageError(f"incomplete store: {directory} was interrupted while being written")


def default_dir(
    root: Path, config: Config, seed: int, schedule: list[dict[str, Any]] | None = None
) -> Path:
    """``store/<mode>-<nemeses>-<seed>-<timestamp>``, named for the faults that ran (a swarm
    run's drawn mix, a ``--faults`` file's kinds); the timestamp only names the folder."""
    kinds = list(config.nemesis)
    if schedule is not None:
        kinds = list(dict.fromkeys(str(f.get("nemesis")) for f in schedule))
    if len(kinds) > 4:
        kinds = [*kinds[:4], f"{len(kinds) - 4}more"]
    nemeses = "+".join(kinds) or "none"
    if config.swarm:
        nemeses = f"swarm-{nemeses}"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    return root / f"{config.mode}-{nemeses}-{seed}-{stamp}"


def write_store(
    directory: Path,
    config: Config,
    seed: int,
    schedule: list[dict[str, Any]],
    history_text: str,
    results: dict[str, Any],
    then: Callable[[Path], object] | None = None,
) -> Path:
    """Write the four store files, mark the store complete, then run ``then`` (the report).

    The marker guards the data a verdict rests on; the report is derived from it (and may
    re-run the store to draw message diagrams, which needs a complete store), and ``eosim
    report`` can always draw it again."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"cannot write the store at {directory}: it is a file, not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        marker = directory / INCOMPLETE
        marker.write_text("this store is being written, or its writing was interrupted\n")
        write_atomic(directory / "config.toml", f"seed = {seed}\n" + config.to_toml())
        write_atomic(directory / "faults.json", json.dumps(schedule, indent=1) + "\n")
        write_atomic(directory / "history.jsonl", history_text)
        write_atomic(directory / "results.json", json.dumps(results, indent=1) + "\n")
        marker.unlink()
        if then is not None:
            then(directory)
    except OSError as exc:
        where = exc.filename or directory
        raise UsageError(f"cannot write the store at {where}: {exc.strerror or exc}") from None
    return directory


def claim_numbered_dir(base: Path) -> Path:
    """Create and return the first free ``<base>-1``, ``<base>-2``, ...: never an existing
    directory (``mkdir`` without ``exist_ok`` claims it, so two writers never share one). The
    claimed directory is marked incomplete at once."""
    parent, stem = base.parent, base.name
    try:
        parent.mkdir(parents=True, exist_ok=True)
        n = 1
        while True:
            candidate = parent / f"{stem}-{n}"
            try:
                candidate.mkdir()
            except FileExistsError:
                n += 1
                continue
            (candidate / INCOMPLETE).write_text(
                "this store is being written, or its writing was interrupted\n"
            )
            return candidate
    except OSError as exc:
        raise UsageError(f"cannot create a store next to {base}: {exc.strerror or exc}") from None


def write_new_store(
    base: Path,
    config: Config,
    seed: int,
    schedule: list[dict[str, Any]],
    history_text: str,
    results: dict[str, Any],
    then: Callable[[Path], object] | None = None,
) -> Path:
    """A fresh, complete store at the first free ``<base>-N`` (nothing is overwritten). If the
    writing is interrupted (Ctrl-C) or fails, the half-written directory is removed; if the
    process is killed outright, it stays marked incomplete and readers refuse it."""
    directory = claim_numbered_dir(base)
    try:
        return write_store(directory, config, seed, schedule, history_text, results, then)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def link_latest(root: Path, directory: Path) -> None:
    latest = root / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(directory.resolve(), target_is_directory=True)
    except OSError:
        pass  # a filesystem without symlinks still has the run itself


def read_store(directory: Path) -> tuple[Config, int, list[dict[str, Any]], dict[str, Any]]:
    """Config, seed, fault schedule and stored results of a store directory."""
    if not directory.is_dir():
        raise UsageError(f"store directory not found: {directory}")
    refuse_incomplete(directory)
    for name in ("config.toml", "faults.json"):
        if not (directory / name).is_file():
            raise UsageError(f"{directory} is not a store directory: {name} is missing")
    import tomllib

    try:
        raw = tomllib.loads((directory / "config.toml").read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{directory / 'config.toml'}: invalid TOML: {exc}") from None
    seed = raw.get("seed")
    if not isinstance(seed, int):
        raise UsageError(f"{directory / 'config.toml'}: no integer seed")
    config = from_mapping({k: v for k, v in raw.items() if k != "seed"})
    try:
        schedule = json.loads((directory / "faults.json").read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{directory / 'faults.json'}: invalid JSON: {exc}") from None
    results: dict[str, Any] = {}
    if (directory / "results.json").is_file():
        try:
            results = json.loads((directory / "results.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise UsageError(f"{directory / 'results.json'}: invalid JSON: {exc}") from None
        if not isinstance(results, dict):
            raise UsageError(f"{directory / 'results.json'}: expected an object")
    return config, seed, schedule, results
