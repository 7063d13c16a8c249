"""Run configuration: Kafka-named knobs, validated up front.

Times are in simulated milliseconds where Kafka's knob is in ms, so the names mean what Kafka's mean.
Defaults are scaled down from Kafka's (a run lasts seconds, not hours) and documented in README.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MODES = ("at-least-once", "idempotent", "transactional")
# Kafka releases whose behaviour the model can follow (kafka.version); the newest is the default.
KAFKA_VERSIONS = ("3.5", "3.6", "3.7", "3.8", "3.9", "4.0", "4.1", "4.2")
TXN_PROTOCOLS = ("v1", "v2")
WORKLOADS = ("produce-consume", "produce", "ctp", "sink")


@dataclass(frozen=True)
class Config:
    """Everything but the seed that determines a run. Field names map to Kafka's dotted knobs."""

    mode: str = "idempotent"
    workload: str = "produce-consume"
    time_limit: float = 10.0  # simulated seconds of workload (faults happen inside this)
    convergence: float = 5.0  # quiet period after the last fault heals
    rate: float = 200.0  # client ops per simulated second, all producers together
    brokers: int = 3
    partitions: int = 6
    producers: int = 2
    consumers: int = 2
    nemesis: tuple[str, ...] = ()
    nemesis_interval: float = 2.0
    swarm: bool = False
    bugs: tuple[str, ...] = ()
    # Kafka knobs (dotted names in TOML and --set)
    acks: str = "all"
    enable_idempotence: bool | None = None  # None: follows mode
    max_in_flight: int = 5
    retries: int = 2147483647
    delivery_timeout_ms: float = 4000.0
    request_timeout_ms: float = 800.0
    retry_backoff_ms: float = 50.0
    linger_ms: float = 5.0
    batch_size: int = 16
    transactional_id: str = "txn"
    transaction_timeout_ms: float = 5000.0
    isolation_level: str | None = None  # None: read_committed in transactional mode
    enable_auto_commit: bool = False
    auto_commit_interval_ms: float = 500.0
    replication_factor: int = 3
    min_insync_replicas: int = 2
    unclean_leader_election_enable: bool = False
    kafka_version: str = KAFKA_VERSIONS[-1]
    txn_protocol: str | None = None  # None: follows kafka.version (v2 from 4.0)
    replica_lag_time_max_ms: float = 1000.0
    broker_session_timeout_ms: float = 1000.0
    session_timeout_ms: float = 1000.0
    heartbeat_interval_ms: float = 100.0
    # Storage (None = Kafka's default Long.MAX_VALUE / null: never). Kafka never fsyncs by default;
    # the OS writes dirty pages back after os.dirty.expire.ms (an ``os.`` knob in ``external``).
    log_flush_interval_messages: int | None = None
    log_flush_interval_ms: float | None = None  # None: log.flush.scheduler.interval.ms
    log_flush_scheduler_interval_ms: float | None = None
    txn_ops: int = 3  # sends per transaction
    external: dict[str, Any] = field(default_factory=dict)

    # --- derived -----------------------------------------------------------------------
    @property
    def idempotent(self) -> bool:
        if self.enable_idempotence is not None:
            return self.enable_idempotence
        return self.mode in ("idempotent", "transactional")

    @property
    def transactional(self) -> bool:
        return self.mode == "transactional"

    @property
    def isolation(self) -> str:
        if self.isolation_level is not None:
            return self.isolation_level
        return "read_committed" if self.transactional else "read_uncommitted"

    # Release-dependent behaviour (kafka.version, with txn.protocol as a shorthand that can only
    # turn KIP-890 off: v1 = "before KIP-890", as with transaction.partition.verification.enable
    # = false and transaction.version 1).
    @property
    def release(self) -> tuple[int, int]:
        major, minor = self.kafka_version.split(".")
        return int(major), int(minor)

    @property
    def partition_verification(self) -> bool:
        """KIP-890 part 1 (3.6+): a leader verifies with the transaction coordinator before a
        producer's first transactional append to a partition."""
        return self.release >= (3, 6) and self.txn_protocol != "v1"

    @property
    def txn_v2(self) -> bool:
        """KIP-890 part 2, transaction version 2 (4.0+): the epoch is bumped at every EndTxn and
        TxnOffsetCommit is verified and epoch-checked like a produce."""
        return self.release >= (4, 0) and self.txn_protocol != "v1"

    @property
    def strict_marker_epoch(self) -> bool:
        """KAFKA-19446 (4.2): a transaction version 2 marker carries the epoch bumped at EndTxn,
        so a partition undoes the bump before its epoch check and fences a late marker of the
        previous transaction that arrives with the epoch the next one writes with; KAFKA-19999
        (same release) lets a retry of a marker already written through."""
        return self.release >= (4, 2) and self.txn_v2

    @property
    def hw_waits_for_joining(self) -> bool:
        """KAFKA-15021 (3.6+): the leader's high watermark also waits for a follower that is
        caught up but not yet in the ISR (it may join at any moment)."""
        return self.release >= (3, 6)

    @property
    def eligible_leader_replicas(self) -> bool:
        """KIP-966 part 1, Eligible Leader Replicas: the controller keeps the replicas that left
        an ISR smaller than min.insync.replicas as eligible leaders, lets the ISR empty, and
        drops a broker from every ISR and ELR when it registers after an unclean shutdown.
        Available from 4.0 with eligible.leader.replicas.version=1, the default on new clusters
        from 4.1 (a cluster upgraded from an older release keeps it off: set it to 0)."""
        value = self.external.get("eligible.leader.replicas.version")
        if value is not None:
            return bool(value)
        return self.release >= (4, 1)

    @property
    def hw_needs_min_isr(self) -> bool:
        """KAFKA-15583 (3.7+): the leader's high watermark does not advance while the ISR is
        smaller than min.insync.replicas."""
        return self.release >= (3, 7)

    @property
    def quorum_voters(self) -> int:
        """controller.quorum.voters (a count): 1 = the single healthy controller."""
        return int(self.external.get("controller.quorum.voters", 1))

    def quorum_ms(self, name: str) -> float:
        """A controller.quorum.*.ms knob, in seconds of simulated time."""
        return float(self.external.get(name, QUORUM_DEFAULTS_MS[name])) / 1000.0

    @property
    def keys(self) -> list[str]:
        return [f"k{i}" for i in range(self.partitions)]

    # --- validation --------------------------------------------------------------------
    def validate(self) -> Config:
        """Reject impossible configs with one line naming the problem."""
        if self.mode not in MODES:
            raise UsageError(
                f"unknown mode {self.mode!r}{did_you_mean(str(self.mode), MODES)}"
                f" (expected one of: {', '.join(MODES)})"
            )
        if self.workload not in WORKLOADS:
            raise UsageError(
                f"unknown workload {self.workload!r}{did_you_mean(str(self.workload), WORKLOADS)}"
                f" (expected one of: {', '.join(WORKLOADS)})"
            )
        self._validate_numbers()
        if self.replication_factor > self.brokers:
            raise UsageError(
                f"replication.factor {self.replication_factor} exceeds the number of brokers {self.brokers}"
            )
        if not 1 <= self.min_insync_replicas <= self.replication_factor:
            raise UsageError(
                f"min.insync.replicas {self.min_insync_replicas} must be between 1 and "
                f"replication.factor {self.replication_factor}"
            )
        if self.acks not in ("0", "1", "all"):
            raise UsageError(f"acks must be 0, 1 or all, got {self.acks!r}")
        if self.isolation_level not in (None, "read_committed", "read_uncommitted"):
            raise UsageError(
                f"isolation.level must be read_committed or read_uncommitted, got {self.isolation_level!r}"
            )
        if self.kafka_version not in KAFKA_VERSIONS:
            raise UsageError(
                f"unknown kafka.version {self.kafka_version!r}"
                f"{did_you_mean(str(self.kafka_version), KAFKA_VERSIONS)}"
                f" (modelled releases: {', '.join(KAFKA_VERSIONS)})"
            )
        self._validate_flush_knobs()
        if self.external.get("eligible.leader.replicas.version") and self.release < (4, 0):
            raise UsageError(
                "eligible.leader.replicas.version=1 needs kafka.version 4.0 or later (KIP-966), "
                f"got {self.kafka_version}"
            )
        if self.txn_protocol not in (None, *TXN_PROTOCOLS):
            raise UsageError(f"txn.protocol must be v1 or v2, got {self.txn_protocol!r}")
        if self.txn_protocol == "v2" and self.release < (4, 0):
            raise UsageError(
                f"txn.protocol=v2 (KIP-890 part 2) first shipped in Kafka 4.0; "
                f"kafka.version {self.kafka_version} has no such release"
            )
        if self.idempotent:
            if self.acks != "all":
                raise UsageError("enable.idempotence requires acks=all (as in Kafka)")
            if self.max_in_flight > 5:
                raise UsageError(
                    "enable.idempotence requires max.in.flight.requests.per.connection <= 5"
                )
        if self.transactional and not self.idempotent:
            raise UsageError("transactional mode requires enable.idempotence=true")
        if self.workload in ("ctp", "sink") and not self.consumers:
            raise UsageError(f"workload {self.workload} needs at least one consumer")
        validate_external(self.external)
        if self.external.get("workload.arrivals") == "open":
            for name in ("workload.threads", "workload.resend-on-timeout"):
                if self.external.get(name):
                    raise UsageError(
                        f"{name} is a closed-loop knob; workload.arrivals=open has none"
                    )
        return self

    def _validate_flush_knobs(self) -> None:
        """The log.flush.* knobs: unset (Kafka's Long.MAX_VALUE / null) or a number in range
        (LogConfig: flush.messages atLeast(1), flush.ms atLeast(0))."""
        for fname, (low, integer) in FLUSH_KNOBS.items():
            value = getattr(self, fname)
            if value is None:
                continue
            name = KNOB_NAMES[fname]
            ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok_type:
                kind = "an integer" if integer else "a number of ms"
                raise UsageError(f"{name} must be {kind}, got {value!r}")
            if not math.isfinite(value) or value < low:
                raise UsageError(f"{name} must be at least {low:g}, got {value!r}")

    @property
    def dirty_expire_ms(self) -> float | None:
        """os.dirty.expire.ms: how long the OS keeps written data in the page cache before its
        writeback makes it durable (Linux vm.dirty_expire_centisecs = 3000, 30 s, scaled down
        like replica.lag.time.max.ms to 1000); 0 turns writeback off (nothing reaches the disk
        but what Kafka flushes)."""
        value = self.external.get("os.dirty.expire.ms", DIRTY_EXPIRE_MS)
        return float(value) if value else None

    def _validate_numbers(self) -> None:
        """Every number finite and in its range: NaN or infinity for a time hangs the run, a
        zero backoff retries in zero simulated time for ever, and a million brokers runs for
        minutes in gigabytes, so each is refused up front."""
        for fname, (low, high, strict) in NUMBER_RANGES.items():
            value = getattr(self, fname)
            name = KNOB_NAMES.get(fname, fname.replace("_", "-"))
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise UsageError(f"{name} must be a finite number, got {value}")
            if value < low or (strict and value == low):
                bound = "positive" if strict and low == 0 else f"at least {low}"
                if not strict and low == 0:
                    bound = "not negative"
                raise UsageError(f"{name} must be {bound}, got {value}")
            if high is not None and value > high:
                raise UsageError(f"{name} must be at most {high:g} in the model, got {value}")

    # --- (de)serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, tuple):
                value = list(value)
            out[KNOB_NAMES.get(f.name, f.name.replace("_", "-"))] = value
        return out

    def to_toml(self) -> str:
        """TOML with Kafka's dotted names quoted, sorted for byte-stable stores."""
        lines = []
        for name, value in sorted(self.to_dict().items()):
            if isinstance(value, dict):
                continue
            lines.append(f'"{name}" = {_toml_value(value)}')
        for name, value in sorted(self.to_dict().items()):
            if isinstance(value, dict) and value:
                lines.append(f'\n["{name}"]')
                for k, v in sorted(value.items()):
                    lines.append(f'"{k}" = {_toml_value(v)}')
        return "\n".join(lines) + "\n"

    @property
    def buggify_on(self) -> bool:
        """BUGGIFY's rare legal paths (sim.cluster.buggify) run when ``sim.buggify`` or
        ``sim.buggify-all`` says so; with ``sim.buggify`` unset, ``--swarm`` turns them on, since
        a swarm draws the whole fault space from the seed and the sites are part of it (as
        FoundationDB's simulator runs them in every simulation)."""
        ext = self.external
        if ext.get("sim.buggify-all") or "sim.buggify-sites" in ext:
            return True
        return bool(ext.get("sim.buggify", self.swarm))

    @property
    def buggify_sites(self) -> tuple[str, ...] | None:
        """The sites ``sim.buggify-sites`` enables (all others off), or None: the seed draws
        them. Guided search sets it so a child keeps its parent's sites under a new seed."""
        text = self.external.get("sim.buggify-sites")
        return None if text is None else parse_sites(str(text))

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


# Field name -> Kafka's knob name where Kafka has one (DESIGN: names as in Kafka).
KNOB_NAMES = {
    "enable_idempotence": "enable.idempotence",
    "max_in_flight": "max.in.flight.requests.per.connection",
    "delivery_timeout_ms": "delivery.timeout.ms",
    "request_timeout_ms": "request.timeout.ms",
    "retry_backoff_ms": "retry.backoff.ms",
    "linger_ms": "linger.ms",
    "batch_size": "batch.size",
    "transactional_id": "transactional.id",
    "transaction_timeout_ms": "transaction.timeout.ms",
    "isolation_level": "isolation.level",
    "enable_auto_commit": "enable.auto.commit",
    "auto_commit_interval_ms": "auto.commit.interval.ms",
    "replication_factor": "replication.factor",
    "min_insync_replicas": "min.insync.replicas",
    "unclean_leader_election_enable": "unclean.leader.election.enable",
    "txn_protocol": "txn.protocol",
    "kafka_version": "kafka.version",
    "replica_lag_time_max_ms": "replica.lag.time.max.ms",
    "broker_session_timeout_ms": "broker.session.timeout.ms",
    "session_timeout_ms": "session.timeout.ms",
    "heartbeat_interval_ms": "heartbeat.interval.ms",
    "log_flush_interval_messages": "log.flush.interval.messages",
    "log_flush_interval_ms": "log.flush.interval.ms",
    "log_flush_scheduler_interval_ms": "log.flush.scheduler.interval.ms",
    "nemesis_interval": "nemesis-interval",
    "time_limit": "time-limit",
    "txn_ops": "txn-ops",
}
FIELD_BY_NAME = {v: k for k, v in KNOB_NAMES.items()}
_FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def field_for(name: str) -> str:
    """Map a Kafka knob or CLI name (dotted, dashed or underscored) to a Config field."""
    if name in FIELD_BY_NAME:
        return FIELD_BY_NAME[name]
    candidate = name.replace("-", "_").replace(".", "_")
    if candidate in _FIELDS:
        return candidate
    known = sorted({*FIELD_BY_NAME, *(f.replace("_", "-") for f in _FIELDS), *EXTERNAL_KNOBS})
    raise UsageError(f"unknown config knob {name!r}{did_you_mean(name, known)}")


def coerce(name: str, raw: Any) -> Any:
    """Convert a raw value (a --set string or a TOML value) to the field's type."""
    fname = field_for(name)
    default = _FIELDS[fname].default
    kind = type(default) if default is not None and default is not dataclasses.MISSING else None
    if fname == "enable_idempotence":
        kind = bool
    if fname in ("isolation_level", "txn_protocol"):
        kind = str
    if fname in FLUSH_KNOBS:
        kind = int if FLUSH_KNOBS[fname][1] else float
    if fname == "kafka_version":
        return _version_text(raw)
    if fname in ("nemesis", "bugs"):
        if isinstance(raw, str):
            return tuple(x for x in raw.split(",") if x)
        if isinstance(raw, (list, tuple)) and all(isinstance(x, str) for x in raw):
            return tuple(raw)
        raise UsageError(f"{name} expects names (a comma list or a list of strings), got {raw!r}")
    if fname == "acks":
        return str(raw)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "1", "yes"):
                return True
            if str(raw).lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return int(raw)
        if kind is float:
            return float(raw)
        return raw
    except (TypeError, ValueError):
        raise UsageError(
            f"{name} expects a {kind.__name__ if kind else 'value'}, got {raw!r}"
        ) from None


# field -> (lowest, highest or None, lowest excluded). Sizes are bounded so that a typo cannot
# start a run that takes minutes and gigabytes; times are bounded only by being finite.
HOUR_MS = 3_600_000.0
NUMBER_RANGES: dict[str, tuple[float, float | None, bool]] = {
    "time_limit": (0, None, True),
    "convergence": (0, None, False),
    "rate": (0, 1_000_000, True),
    "brokers": (1, 64, False),
    "partitions": (1, 1024, False),
    "producers": (0, 256, False),
    "consumers": (0, 256, False),
    "nemesis_interval": (0, None, True),
    "max_in_flight": (1, 100, False),
    "retries": (0, None, False),
    "delivery_timeout_ms": (0, None, True),
    "request_timeout_ms": (0, None, True),
    "retry_backoff_ms": (0, None, True),
    "linger_ms": (0, HOUR_MS, False),
    "batch_size": (1, 1_000_000, False),
    "transaction_timeout_ms": (0, None, True),
    "auto_commit_interval_ms": (0, None, True),
    "replication_factor": (1, 64, False),
    "min_insync_replicas": (1, 64, False),
    "replica_lag_time_max_ms": (0, None, True),
    "broker_session_timeout_ms": (0, None, True),
    "session_timeout_ms": (0, None, True),
    "heartbeat_interval_ms": (0, None, True),
    "txn_ops": (1, 10_000, False),
}

# The log.flush.* knobs, unset by default: field -> (lowest, integer?)
FLUSH_KNOBS: dict[str, tuple[float, bool]] = {
    "log_flush_interval_messages": (1, True),
    "log_flush_interval_ms": (0, False),
    "log_flush_scheduler_interval_ms": (1, False),
}
DIRTY_EXPIRE_MS = 1000.0  # os.dirty.expire.ms default: vm.dirty_expire_centisecs 3000, scaled

# Behaviour knobs with a fixed set of values (the first is the default).
EXTERNAL_CHOICES: dict[str, tuple[str, ...]] = {
    "client.oos": ("java", "bump-and-retry"),
    "sink": ("blind", "idempotent"),
    "workload.arrivals": ("closed", "open"),
    "workload.partitioner": ("random", "sticky"),
}
EXTERNAL_FLAGS = (
    # BUGGIFY (sim/cluster/buggify.py): rare legal paths; "all" sites with sim.buggify-all
    "sim.buggify",
    "sim.buggify-all",
    "client.commit-leader-epoch",
    "client.ignore-fenced",
    "client.new-txn-id-on-restart",
    "client.offsets-via-auto-commit",
    "client.reinit-on-fenced",
    "client.send-offsets-without-generation",
    "workload.shared-txn-id",
)
# name -> (lowest, highest, integer?)
EXTERNAL_NUMBERS: dict[str, tuple[float, float, bool]] = {
    "workload.abort-probability": (0.0, 1.0, False),
    "workload.resend-on-timeout": (0, 10, True),  # times a timed-out send is sent again
    "workload.threads": (1, 64, True),
    "workload.txn-think-ms": (0.0, HOUR_MS, False),
    "os.dirty.expire.ms": (0.0, HOUR_MS, False),  # 0: no writeback
    # The KRaft controller quorum (sim/cluster/quorum.py). controller.quorum.voters is a list of
    # id@host:port in Kafka; here its length. 1 (the default) is one always-healthy controller
    # that stands for a healthy quorum; 3 or 5 run the Raft model.
    "controller.quorum.voters": (1, 7, True),
    # KIP-966's feature level (Config.eligible_leader_replicas): 1 on new 4.1+ clusters
    "eligible.leader.replicas.version": (0, 1, True),
    "controller.quorum.election.timeout.ms": (1.0, HOUR_MS, False),
    "controller.quorum.fetch.timeout.ms": (1.0, HOUR_MS, False),
    "controller.quorum.election.backoff.max.ms": (1.0, HOUR_MS, False),
}
# Kafka's defaults (RaftConfig.DEFAULT_QUORUM_*, 3.5-3.7; QuorumConfig later) are 1000 / 2000 /
# 1000 ms against broker.session.timeout.ms 9000; scaled down here about as much as
# broker.session.timeout.ms (9000 -> 1000), rounded up (1/9 would be 111 / 222 / 111).
QUORUM_DEFAULTS_MS = {
    "controller.quorum.election.timeout.ms": 150.0,
    "controller.quorum.fetch.timeout.ms": 300.0,
    "controller.quorum.election.backoff.max.ms": 150.0,
}
# Free text: ``user.pipeline`` names the user code a run_pipeline run ran (it cannot be stored).
EXTERNAL_TEXT = ("user.pipeline",)
# Site lists: ``sim.buggify-sites`` names the BUGGIFY sites a run enables (sim.buggify_sites)
EXTERNAL_SITE_LISTS = ("sim.buggify-sites",)
EXTERNAL_KNOBS = sorted(
    [*EXTERNAL_CHOICES, *EXTERNAL_FLAGS, *EXTERNAL_NUMBERS, *EXTERNAL_TEXT, *EXTERNAL_SITE_LISTS]
)


def parse_sites(text: str) -> tuple[str, ...]:
    """``sim.buggify-sites``: comma-separated BUGGIFY site names; an empty text enables none.
    Returned in ``SITES`` order, each once, so two spellings of one set are one set; a typo is
    refused with the nearest name."""
    from sim.buggify_sites import SITES

    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in SITES:
            raise UsageError(
                f"sim.buggify-sites: unknown site {name!r}{did_you_mean(name, SITES)} "
                f"(sites: {', '.join(SITES)})"
            )
    return tuple(site for site in SITES if site in names)


def validate_external(external: dict[str, Any]) -> None:
    """The model's own knobs (client.*, workload.*, sink): known names, values of the right
    kind and range; a typo is refused with the nearest name rather than silently ignored."""
    for name, value in sorted(external.items()):
        if name in EXTERNAL_CHOICES:
            choices = EXTERNAL_CHOICES[name]
            if value not in choices:
                raise UsageError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        elif name in EXTERNAL_FLAGS:
            if not isinstance(value, bool):
                raise UsageError(f"{name} expects true or false, got {value!r}")
        elif name in EXTERNAL_TEXT:
            if not isinstance(value, str):
                raise UsageError(f"{name} expects text, got {value!r}")
        elif name in EXTERNAL_SITE_LISTS:
            if not isinstance(value, str):
                raise UsageError(f"{name} expects comma-separated site names, got {value!r}")
            parse_sites(value)
            # it names the sites to enable: BUGGIFY off, or every site on, contradicts it
            for flag, contradiction in (("sim.buggify", False), ("sim.buggify-all", True)):
                if external.get(flag, not contradiction) is contradiction:
                    raise UsageError(
                        f"{name} contradicts {flag}={str(contradiction).lower()}: "
                        "it names the sites to enable"
                    )
        elif name in EXTERNAL_NUMBERS:
            low, high, integer = EXTERNAL_NUMBERS[name]
            kind = "an integer" if integer else "a number"
            ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok_type:
                raise UsageError(f"{name} expects {kind}, got {value!r}")
            if not (math.isfinite(value) and low <= value <= high):
                raise UsageError(f"{name} must be between {low:g} and {high:g}, got {value!r}")
        else:
            raise UsageError(f"unknown knob {name!r}{did_you_mean(name, EXTERNAL_KNOBS)}")


EXTERNAL_PREFIXES = (
    "client.",
    "workload.",
    "os.",
    "user.",
    "controller.quorum.",
    "eligible.leader.replicas.",  # a feature level in Kafka (kafka-features), not a config
    "sim.",
)  # model knobs beyond Kafka's own, kept in ``external``


def from_mapping(data: dict[str, Any], base: Config | None = None) -> Config:
    changes: dict[str, Any] = {}
    external = dict((base or Config()).external)
    for name, raw in data.items():
        if name.startswith(EXTERNAL_PREFIXES) or name == "sink":
            external[name] = parse_scalar(raw)
            continue
        fname = field_for(name)
        if fname == "external":
            if not isinstance(raw, dict):
                raise UsageError(
                    f"external expects a table of client.*/workload.* knobs, got {raw!r}"
                )
            external.update(raw)
        else:
            changes[fname] = coerce(name, raw)
    return dataclasses.replace(base or Config(), external=external, **changes)


def _version_text(raw: Any) -> str:
    """``kafka.version`` as text: TOML and --set may spell 4.0 as a float."""
    if isinstance(raw, float):
        return f"{raw:.1f}"
    return str(raw)


def did_you_mean(word: str, choices: Any) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_scalar(raw: Any) -> Any:
    """A --set string as the bool, int or float it spells, else the string itself."""
    if not isinstance(raw, str):
        return raw
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def read_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"config file not found: {p}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{p}: not UTF-8 text") from None


def load_toml(path: str | Path, base: Config | None = None) -> Config:
    """Knobs from a TOML file. A store's own config.toml is one too: its ``seed`` (the run's,
    not a knob) is left to ``toml_seed``."""
    data = read_toml(path)
    data.pop("seed", None)
    return from_mapping(data, base)


def toml_seed(path: str | Path) -> int | None:
    """The seed a store's config.toml records, if any."""
    seed = read_toml(path).get("seed")
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"{path}: seed must be an integer, got {seed!r}")
    return seed
