"""Your own pipeline inside the simulation: user callables, a simulated external store, policies.

A :class:`Pipeline` is plain Python handed to :func:`sim.run_pipeline` (callables cannot go in a
TOML file): ``transform(record) -> outputs`` (pure), an optional ``sink(db, record, outputs)``
that writes the outputs to a simulated external store through ``db`` (a :class:`StoreHandle`:
write, upsert, conditional write on a version, begin/commit), an optional
``offsets(db, partitions)`` that reads back offsets the sink keeps itself, the commit choice
(``transactional``, ``manual`` or ``auto``) and :class:`Policies` for client errors.

The store has faults of its own (:class:`StoreFaults`): a write that times out after taking
effect (or before: the caller cannot tell), a slow commit, a crash of the processor right after
a write, before its offsets are committed. So the Two Generals problem applies to it too.

A sink call runs synchronously at one simulated instant: each store operation takes effect when
it is called and adds its latency to the call; the processor then waits that long (a crash in
the wait finds the writes done and the offsets not committed). ``sim.now()`` inside user code
includes the latency so far; ``sim.random()`` is the run's seeded stream for user code.
"""

from __future__ import annotations

import json
import os
import random as _random
import time as _time
import uuid as _uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.errors import UsageError, UserCodeError

if TYPE_CHECKING:
    from sim.cluster.world import World

COMMITS = ("transactional", "manual", "auto")
DECISIONS = ("retry", "resend", "abort", "restart", "ignore")
RESTART_DELAY = 0.2  # a processor that restarts itself (policy, store crash) is back after this


@dataclass(frozen=True)
class Record:
    """One input record as user code sees it. The model's input producers write keyless
    records without headers, so ``key`` is None and ``headers`` empty."""

    partition: str
    offset: int
    value: int
    key: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def where(self) -> str:
        return f"record {self.partition} offset {self.offset} (value {self.value})"


@dataclass(frozen=True)
class StoreFaults:
    """The external store's own faults, each a probability per operation (drawn from the run's
    seeded ``store`` stream). ``timeout``: the call raises :class:`StoreTimeout`; with
    probability ``applied_on_timeout`` the write had taken effect first. ``slow_commit``: a
    commit takes ``slow_commit_ms``. ``crash``: the processor dies right after a write took
    effect, before anything else (its offsets uncommitted)."""

    latency_ms: float = 2.0
    timeout: float = 0.0
    applied_on_timeout: float = 0.5
    slow_commit: float = 0.0
    slow_commit_ms: float = 600.0
    crash: float = 0.0

    def validate(self) -> StoreFaults:
        for name in ("timeout", "applied_on_timeout", "slow_commit", "crash"):
            p = getattr(self, name)
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
                raise UsageError(f"StoreFaults.{name} must be a probability in [0, 1], got {p!r}")
        for name in ("latency_ms", "slow_commit_ms"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 3_600_000:
                raise UsageError(f"StoreFaults.{name} must be a number of ms >= 0, got {v!r}")
        return self

    def to_dict(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Incident:
    """What a policy is asked about: ``kind`` is ``timeout`` (a send's outcome is unknown),
    ``fenced`` (ProducerFenced), ``abortable`` (the transaction failed and must be aborted),
    ``commit-failed`` (a consumer offset commit failed or timed out) or ``sink-error`` (a
    StoreTimeout/StoreConflict escaped the sink)."""

    kind: str
    error: str
    record: Record | None = None
    attempt: int = 1


@dataclass(frozen=True)
class Policies:
    """User error policies: each callable gets an :class:`Incident` and returns one of
    ``retry``, ``resend``, ``abort``, ``restart``, ``ignore``. Defaults are what Kafka's
    documentation prescribes: leave a timed-out send to the producer's own retries, restart on
    ProducerFenced, abort (rewind to the committed offsets) on an abortable error, carry on
    after a failed offset commit (the next one covers it), restart when the sink fails."""

    on_timeout: Callable[[Incident], str] | None = None
    on_fenced: Callable[[Incident], str] | None = None
    on_abortable: Callable[[Incident], str] | None = None
    on_commit_failed: Callable[[Incident], str] | None = None
    on_sink_error: Callable[[Incident], str] | None = None


DEFAULT_DECISIONS = {
    "timeout": ("on_timeout", "retry", ("retry", "resend", "restart")),
    "fenced": ("on_fenced", "restart", ("restart", "ignore")),
    "abortable": ("on_abortable", "abort", ("abort", "restart", "ignore")),
    "commit-failed": ("on_commit_failed", "ignore", ("ignore", "retry", "restart")),
    "sink-error": ("on_sink_error", "restart", ("restart", "ignore")),
}


@dataclass(frozen=True)
class Pipeline:
    """A pipeline of user callables, run inside the simulation by :func:`sim.run_pipeline`."""

    transform: Callable[[Record], list[Any]]
    sink: Callable[[StoreHandle, Record, list[Any]], Any] | None = None
    commit: str = "transactional"
    offsets: Callable[[StoreHandle, list[str]], dict[str, int]] | None = None
    store: StoreFaults = field(default_factory=StoreFaults)
    policies: Policies = field(default_factory=Policies)
    name: str | None = None

    def validate(self) -> Pipeline:
        if not callable(self.transform):
            raise UsageError(f"Pipeline.transform must be callable, got {self.transform!r}")
        for what in ("sink", "offsets"):
            fn = getattr(self, what)
            if fn is not None and not callable(fn):
                raise UsageError(f"Pipeline.{what} must be callable or None, got {fn!r}")
        if self.commit not in COMMITS:
            raise UsageError(
                f"Pipeline.commit must be one of {', '.join(COMMITS)}, got {self.commit!r}"
            )
        if self.offsets is not None and self.sink is None:
            raise UsageError("Pipeline.offsets reads offsets kept in the sink: it needs a sink")
        self.store.validate()
        return self

    def qualified_names(self) -> str:
        """What ran, for the store's config: user code cannot be rebuilt from a store."""
        parts = [f"transform={qualname(self.transform)}"]
        if self.sink is not None:
            parts.append(f"sink={qualname(self.sink)}")
        if self.offsets is not None:
            parts.append(f"offsets={qualname(self.offsets)}")
        parts.append(f"commit={self.commit}")
        return " ".join(parts)


def qualname(fn: Any) -> str:
    target = getattr(fn, "__func__", fn)
    module = getattr(target, "__module__", None) or type(target).__module__
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}:{name}"


# --- the simulated external store ------------------------------------------------------------
class StoreTimeout(Exception):
    """The store did not answer in time: the operation may or may not have taken effect."""


class StoreConflict(Exception):
    """A transaction's conditional write lost to a concurrent change; nothing was applied."""


class ProcessorCrash(BaseException):
    """Internal: the processor died inside user code (a store fault). A BaseException so that
    ``except Exception`` in user code does not swallow the crash."""


@dataclass
class Row:
    value: Any
    version: int
    source: tuple[str, int] | None  # the input record whose processing wrote it
    op: int  # history index of the operation that wrote it


def _freeze(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(_freeze(k) for k in key)
    return key


def _json_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return [_json_key(k) for k in key]
    return key


class Store:
    """The external database, shared by every processor of a run. Rows are keyed by the user's
    keys (``write`` makes a fresh ``[table, n]`` key per call); each row remembers the input
    record whose processing wrote it, so the checkers can count rows per input."""

    def __init__(self, world: World, faults: StoreFaults) -> None:
        self.world = world
        self.faults = faults
        self.rng = world.rng("store")
        self.rows: dict[Any, Row] = {}
        self.inserts = 0
        self.offset_keys: set[Any] = set()  # rows the pipeline's offsets reader reads

    def apply(self, writes: list[tuple[str, Any, Any, Any]], source: Any, op: int) -> bool:
        """Apply (kind, key, value, version) writes atomically; False (nothing applied) if a
        conditional write's version does not match."""
        for kind, key, _value, version in writes:
            if kind == "write-if" and self.version(key) != version:
                return False
        for kind, key, value, _version in writes:
            if kind == "write":
                key = (key, self.inserts)
                self.inserts += 1
            old = self.rows.get(key)
            self.rows[key] = Row(value, (old.version if old else 0) + 1, source, op)
        return True

    def version(self, key: Any) -> int:
        row = self.rows.get(key)
        return row.version if row else 0

    def dump(self) -> list[list[Any]]:
        """Every row as [key, value, version, input partition, input offset, op], in key order;
        rows the offsets reader reads are the sink's own offsets and carry no input."""
        out = []
        for key in sorted(self.rows, key=lambda k: json.dumps(_json_key(k), sort_keys=True)):
            row = self.rows[key]
            src = list(row.source) if row.source and key not in self.offset_keys else [None, None]
            out.append([_json_key(key), row.value, row.version, *src, row.op])
        return out


class StoreHandle:
    """What user code gets as ``db``: the store's operations, bound to the processor and the
    record it is processing. Every write is recorded in the history as a ``store`` op with the
    input record and, on its completion, whether the store applied it (``stored``)."""

    def __init__(
        self,
        runtime: UserRuntime,
        session: Any,
        process: int,
        record: Record | None,
        readonly: bool = False,
    ) -> None:
        self._rt = runtime
        self._readonly = readonly
        self._store = runtime.store
        self._session = session
        self._process = process
        self._record = record
        self._txn: list[tuple[str, Any, Any, Any]] | None = None
        self.delay = 0.0  # simulated seconds the calls so far took

    # reads
    def get(self, key: Any) -> tuple[Any, int] | None:
        """(value, version) of a row, or None; sees this call's own uncommitted writes."""
        key = _freeze(key)
        if self._txn is not None:
            for kind, k, value, _ in reversed(self._txn):
                if k == key and kind != "write":
                    return value, -1
        row = self._store.rows.get(key)
        if self._readonly:  # the offsets reader's rows are the sink's bookkeeping, not outputs
            self._store.offset_keys.add(key)
        self.delay += self._store.faults.latency_ms / 1000.0
        return (row.value, row.version) if row else None

    # writes
    def write(self, table: str, value: Any) -> None:
        """A blind insert: a new row in ``table`` every call."""
        self._write("write", table, value, None)

    def upsert(self, key: Any, value: Any) -> None:
        """Insert or replace the row at ``key``."""
        self._write("upsert", key, value, None)

    def write_if(self, key: Any, value: Any, version: int) -> bool:
        """Write ``key`` only if its current version is ``version`` (0: absent). True if it
        was written (in a transaction: checked again at commit)."""
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"write_if: version must be an int, got {version!r}")
        return self._write("write-if", key, value, version)

    # transactions
    def begin(self) -> None:
        if self._txn is not None:
            raise RuntimeError("begin: a transaction is already open")
        self._txn = []

    def commit(self) -> None:
        if self._txn is None:
            raise RuntimeError("commit: no transaction is open (call begin first)")
        writes, self._txn = self._txn, None
        slow = self._store.rng.random() < self._store.faults.slow_commit
        extra = self._store.faults.slow_commit_ms / 1000.0 if slow else 0.0
        self._op("commit", None, [[k, _json_key(key), v] for k, key, v, _ in writes], writes, extra)

    def rollback(self) -> None:
        self._txn = None

    # --- machinery -------------------------------------------------------------------------
    def _write(self, kind: str, key: Any, value: Any, version: int | None) -> bool:
        if self._readonly or self._record is None:
            raise RuntimeError(f"{kind}: this store handle is read-only (offsets are read here)")
        self._rt.check_json(value, "value")
        key = _freeze(key)
        self._rt.check_json(key, "key")
        if self._txn is not None:
            if kind == "write-if" and self._store.version(key) != version:
                return False
            self._txn.append((kind, key, value, version))
            return True
        return self._op(kind, key, value, [(kind, key, value, version)], 0.0)

    def _op(
        self,
        kind: str,
        key: Any,
        value: Any,
        writes: list[tuple[str, Any, Any, Any]],
        extra_delay: float,
    ) -> bool:
        store, faults, rt = self._store, self._store.faults, self._rt
        rec = self._record
        assert rec is not None
        source = (rec.partition, rec.offset)
        body: dict[str, Any] = {"op": kind, "input": list(source)}
        if kind != "commit":
            body["key"] = _json_key(key)
        body["value"] = value
        self.delay += faults.latency_ms / 1000.0 + extra_delay
        history = rt.world.history
        inv = None
        if self._session.alive:
            inv = history.invoke(self._process, "store", body, sink=rt.sink_name)
        index = inv["index"] if inv is not None else -1
        timeout = store.rng.random() < faults.timeout
        applied_first = store.rng.random() < faults.applied_on_timeout
        stored = False
        if not timeout or applied_first:
            stored = store.apply(writes, source, index)
        if timeout:
            self._complete("info", body, stored, error="timeout")
            raise StoreTimeout(f"store {kind} timed out (it may have taken effect)")
        if not stored:
            self._complete("fail", body, stored, error="version-conflict")
            if kind == "commit":
                raise StoreConflict("commit: a conditional write's version changed")
            return False
        self._complete("ok", body, stored)
        if store.rng.random() < faults.crash:
            raise ProcessorCrash("the processor crashed after a store write")
        return True

    def _complete(self, type_: str, body: dict[str, Any], stored: bool, **extra: Any) -> None:
        if self._session.alive and self._rt.world.history.pending(self._process) is not None:
            self._rt.world.history.complete(
                self._process, type_, body, sink=self._rt.sink_name, stored=stored, **extra
            )


# --- determinism guard ------------------------------------------------------------------------
_CLOCKS = ("time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns")
_RANDOMS = (
    "random",
    "randint",
    "randrange",
    "choice",
    "choices",
    "uniform",
    "shuffle",
    "sample",
    "getrandbits",
    "gauss",
)


class Guard:
    """Watches user callbacks for wall-clock time and unseeded randomness: while one runs, the
    module-level ``time.*`` clocks, ``random.*`` functions, ``uuid.uuid4`` and ``os.urandom``
    are wrapped to note the first call (they still work). Patching costs a few microseconds
    per callback; nothing is patched outside them."""

    def __init__(self) -> None:
        self.offenses: list[str] = []
        self.where = ""

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if len(self.offenses) < 10:
                self.offenses.append(f"{self.where} called {name}()")
            return real(*args, **kwargs)

        return wrapped

    @contextmanager
    def watching(self, where: str) -> Iterator[None]:
        self.where = where
        saved: list[tuple[Any, str, Any]] = []
        targets = [(_time, "time", n) for n in _CLOCKS] + [(_random, "random", n) for n in _RANDOMS]
        targets += [(_uuid, "uuid", "uuid4"), (os, "os", "urandom")]
        for module, mname, attr in targets:
            real = getattr(module, attr, None)
            if real is None:
                continue
            saved.append((module, attr, real))
            setattr(module, attr, self._wrap(f"{mname}.{attr}", real))
        try:
            yield
        finally:
            for module, attr, real in saved:
                setattr(module, attr, real)


# --- what user code sees of the simulation ------------------------------------------------------
_CURRENT: list[UserRuntime] = []


def now() -> float:
    """The simulated clock, in seconds (inside a sink call: including the store latency so
    far). Only meaningful inside user code run by :func:`sim.run_pipeline`."""
    rt = _current("sim.now()")
    return rt.world.env.now + (rt.handle.delay if rt.handle is not None else 0.0)


def random() -> _random.Random:
    """The run's seeded random stream for user code (``random.Random``)."""
    return _current("sim.random()").rng


def _current(what: str) -> UserRuntime:
    if not _CURRENT:
        raise UsageError(f"{what} is for user code running inside sim.run_pipeline")
    return _CURRENT[-1]


class UserRuntime:
    """One run's user pipeline: the store, the guard, and every call into user code."""

    def __init__(self, world: World, pipeline: Pipeline) -> None:
        self.world = world
        self.pipeline = pipeline
        self.store = Store(world, pipeline.store)
        self.rng = world.rng("user")
        self.guard = Guard()
        self.handle: StoreHandle | None = None
        self.sink_name = qualname(pipeline.sink) if pipeline.sink is not None else "kafka"
        self.expected: dict[tuple[str, int], int] = {}

    def check_json(self, value: Any, what: str) -> None:
        try:
            json.dumps(_json_key(value))
        except (TypeError, ValueError):
            raise TypeError(f"the store keeps JSON data; {what} {value!r} is not") from None

    def call(self, name: str, fn: Callable[..., Any], record: Record | None, *args: Any) -> Any:
        """Run one user callable; its exception becomes one UserCodeError line (store faults and
        the internal crash pass through for the processor to handle)."""
        where = f"{name} {qualname(fn)}" + (f" on {record.where()}" if record else "")
        _CURRENT.append(self)
        try:
            with self.guard.watching(where):
                return fn(*args)
        except (StoreTimeout, StoreConflict, ProcessorCrash):
            raise
        except Exception as exc:
            raise UserCodeError(
                f"user code raised: {where}: {type(exc).__name__}: {' '.join(str(exc).split())}"
            ) from exc
        finally:
            _CURRENT.pop()

    def transform(self, record: Record) -> list[Any]:
        outs = self.call("transform", self.pipeline.transform, record, record)
        if outs is None or isinstance(outs, (str, bytes, dict)) or not hasattr(outs, "__iter__"):
            raise UserCodeError(
                f"user code: transform {qualname(self.pipeline.transform)} on {record.where()} "
                f"returned {outs!r}, expected a list of output records"
            )
        outs = list(outs)
        self.expected[(record.partition, record.offset)] = len(outs)
        return outs

    def sink(self, handle: StoreHandle, record: Record, outputs: list[Any]) -> None:
        assert self.pipeline.sink is not None
        self.handle = handle
        try:
            self.call("sink", self.pipeline.sink, record, handle, record, outputs)
        finally:
            self.handle = None

    def stored_offsets(self, handle: StoreHandle, partitions: list[str]) -> dict[str, int]:
        assert self.pipeline.offsets is not None
        got = self.call("offsets", self.pipeline.offsets, None, handle, list(partitions))
        if not isinstance(got, dict) or not all(
            isinstance(k, str) and (v is None or (isinstance(v, int) and v >= 0))
            for k, v in got.items()
        ):
            raise UserCodeError(
                f"user code: offsets {qualname(self.pipeline.offsets)} returned {got!r}, "
                "expected {partition: next offset to read}"
            )
        return {k: v for k, v in got.items() if v is not None and k in partitions}

    def decide(self, incident: Incident) -> str:
        attr, default, allowed = DEFAULT_DECISIONS[incident.kind]
        fn = getattr(self.pipeline.policies, attr)
        if fn is None:
            return default
        decision = self.call(f"policy {attr}", fn, incident.record, incident)
        if decision not in allowed:
            raise UserCodeError(
                f"user code: policy {attr} {qualname(fn)} returned {decision!r} for "
                f"{incident.kind} ({incident.error}); expected one of {', '.join(allowed)}"
            )
        return str(decision)
