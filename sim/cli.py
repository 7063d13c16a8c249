"""The ``eosim`` command line. Exit codes: 0 valid, 1 anomalies, 2 usage/input error, 3 internal,
4 verdict "unknown" (nothing to judge; the reason is printed)."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from sim.errors import UsageError

EXIT_VALID, EXIT_ANOMALY, EXIT_USAGE, EXIT_INTERNAL, EXIT_UNKNOWN = 0, 1, 2, 3, 4

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def fail_usage(message: str) -> None:
    err.print(f"eosim: error: {message}", markup=False, soft_wrap=True)
    sys.exit(EXIT_USAGE)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input becomes one clear line and exit 2; a bug becomes one line and exit 3."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from checkers.history import HistoryError

        try:
            return fn(*args, **kwargs)
        except (UsageError, HistoryError) as exc:
            fail_usage(str(exc))
        except KeyboardInterrupt:
            err.print("eosim: interrupted")
            sys.exit(130)
        except (SystemExit, click.exceptions.Exit):
            raise
        except Exception as exc:  # pragma: no cover - reported, not hidden
            import os
            import traceback

            if os.environ.get("EOSIM_DEBUG"):
                traceback.print_exc()
            err.print(
                f"eosim: internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
                "(set EOSIM_DEBUG=1 for a traceback)",
                markup=False,
                soft_wrap=True,
            )
            sys.exit(EXIT_INTERNAL)

    return wrapper


@contextlib.contextmanager
def run_progress(enabled: bool) -> Iterator[Callable[[float, float], None] | None]:
    """A progress bar of simulated time on a terminal (a long run says where it is, and Ctrl-C
    stops it at once); nothing when the output is not a terminal."""
    if not (enabled and err.is_terminal):
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("simulated"),
        BarColumn(),
        TextColumn("{task.completed:.1f}/{task.total:.1f} s"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task("run", total=1.0)

    def tick(now: float, end: float) -> None:
        bar.update(task, completed=min(now, end), total=end)

    with bar:
        yield tick


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a campaign the way Ctrl-C does: workers stopped, what finished kept and
    written, the campaign marked interrupted. Ctrl-C itself works even if SIGINT was ignored
    when the process started."""
    import signal

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    # Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored when it started;
    # a parent that ignores it (a shell's background job, some CI runners) would leave Ctrl-C
    # and kill -INT doing nothing
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def exit_for(results: dict[str, Any]) -> int:
    """0 only for ``valid: true``; 1 for anomalies; 4 for "unknown" (nothing to judge: the
    reason is in ``unknown_reason`` and on the verdict line), so no doubt exits 0."""
    valid = results.get("valid")
    if valid is True:
        return EXIT_VALID
    return EXIT_ANOMALY if valid is False else EXIT_UNKNOWN


# --- options shared by run and campaign -----------------------------------------------------
def config_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--mode", default=None, help="at-least-once | idempotent | transactional"),
        click.option("--workload", default=None, help="produce-consume | produce | ctp | sink"),
        click.option("--nemesis", default=None, help="comma-separated nemeses, or 'list'"),
        click.option(
            "--nemesis-interval", type=float, default=None, help="mean seconds between faults"
        ),
        click.option(
            "--time-limit", type=float, default=None, help="simulated seconds of workload"
        ),
        click.option("--rate", type=float, default=None, help="ops per simulated second"),
        click.option("--acks", default=None, help="0 | 1 | all"),
        click.option(
            "--bug", "bugs", multiple=True, help="enable a known bug (repeatable), or 'list'"
        ),
        click.option(
            "--set",
            "sets",
            multiple=True,
            metavar="KNOB=VALUE",
            help="any Kafka knob, e.g. --set min.insync.replicas=1",
        ),
        click.option(
            "--config", "config_file", type=click.Path(), default=None, help="TOML file of knobs"
        ),
        click.option(
            "--swarm",
            is_flag=True,
            default=False,
            help="draw fault kinds and probabilities from the seed",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def printed_a_list(kw: dict[str, Any]) -> bool:
    """``--nemesis list`` and ``--bug list``, which every command taking them offers."""
    if kw.get("nemesis") == "list":
        from faults.catalog import print_catalog

        print_catalog(out)
        return True
    if kw.get("bugs") == ("list",):
        from sim.bugs import print_bugs

        print_bugs(out)
        return True
    return False


def build_config(
    mode: str | None,
    workload: str | None,
    nemesis: str | None,
    nemesis_interval: float | None,
    time_limit: float | None,
    rate: float | None,
    acks: str | None,
    bugs: tuple[str, ...],
    sets: tuple[str, ...],
    config_file: str | None,
    swarm: bool,
) -> Any:
    from sim.config import Config, from_mapping, load_toml

    config = load_toml(config_file) if config_file else Config()
    changes: dict[str, Any] = {}
    for item in sets:
        if "=" not in item:
            raise UsageError(f"--set expects KNOB=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        changes[name.strip()] = value.strip()
    flags = {
        "mode": mode,
        "workload": workload,
        "nemesis": nemesis,
        "nemesis-interval": nemesis_interval,
        "time-limit": time_limit,
        "rate": rate,
        "acks": acks,
        "bugs": ",".join(bugs) if bugs else None,
        "swarm": True if swarm else None,
    }
    changes.update({k: v for k, v in flags.items() if v is not None})
    config = from_mapping(changes, config)
    from faults.catalog import validate_names
    from sim.bugs import validate_bugs

    validate_names(config.nemesis)
    validate_bugs(config.bugs)
    return config.validate()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eosim")
def cli() -> None:
    """eosim: a deterministic Jepsen-style simulator for Kafka's delivery guarantees.

    \b
    Examples:
      eosim run --mode idempotent --seed 1
      eosim run --mode at-least-once --nemesis drop-acks --seed 7
      eosim check store/latest/history.jsonl
      eosim campaign --mode idempotent --nemesis drop-acks,kill-broker --seeds 0..99
      eosim scenario run two-generals
    """


@cli.command()
@config_options
@click.option("--seed", type=int, default=None, help="[default: the --config file's seed, else 0]")
@click.option(
    "--store",
    "store_dir",
    type=click.Path(),
    default=None,
    help="store directory (default store/<mode>-<nemeses>-<seed>-<time>)",
)
@click.option(
    "--check-determinism", is_flag=True, help="run twice and compare digests (exit 3 on mismatch)"
)
@click.option(
    "--faults",
    "faults_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="run this fault schedule (faults.json format, or TOML) instead of planning one",
)
@click.option("--no-report", is_flag=True, help="skip timeline.html and its plots")
@click.option("--json", "as_json", is_flag=True, help="print results.json to stdout")
@click.option("--quiet", "-q", is_flag=True)
@guarded
def run(
    seed: int | None,
    store_dir: str | None,
    faults_path: str | None,
    check_determinism: bool,
    no_report: bool,
    as_json: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Run one seeded simulation, check its history and write a store directory.

    \b
    Examples:
      eosim run --mode idempotent --seed 1
      eosim run --mode at-least-once --nemesis drop-acks --seed 3 --store /tmp/run3
      eosim run --mode transactional --faults store/latest/faults.json --seed 7
      eosim run --nemesis list        # every nemesis with a one-line description
      eosim run --bug list            # every known-bug switch
    """
    if printed_a_list(kw):
        return
    config = build_config(**kw)
    if seed is None:
        from sim.config import toml_seed

        seed = (toml_seed(kw["config_file"]) if kw.get("config_file") else None) or 0
    from sim.runs.runner import run as run_sim
    from sim.runs.store import default_dir, link_latest, write_store

    schedule = None
    if faults_path is not None:
        from faults.schedule import load_schedule

        schedule = load_schedule(faults_path)
    with run_progress(enabled=not (quiet or as_json)) as progress:
        outcome = run_sim(config, seed, schedule, progress)
    if check_determinism:
        again = run_sim(config, seed, schedule)
        if again.digest != outcome.digest:
            err.print(
                f"eosim: determinism violated: digests {outcome.digest[:12]} and {again.digest[:12]} differ for seed {seed}"
            )
            sys.exit(EXIT_INTERNAL)
    root = Path("store")
    directory = Path(store_dir) if store_dir else default_dir(root, config, seed, outcome.schedule)
    write_store(directory, config, seed, outcome.schedule, outcome.history_text, outcome.results)
    if not store_dir:
        link_latest(root, directory)
    if not no_report:
        write_report_quietly(directory, outcome.ops, outcome.results)
    refresh_store_index(directory)
    if as_json:
        click.echo(json.dumps(outcome.results, indent=1))
    elif not quiet:
        from checkers.report_text import render_results

        render_results(outcome.results, out)
        out.print(f"faults: {faults_line(outcome.ops)}", markup=False, soft_wrap=True)
        out.print(
            f"protocol: {protocol_line(outcome.results.get('stats', {}))}",
            markup=False,
            soft_wrap=True,
        )
        out.print(
            f"store: {directory}   digest: {outcome.digest[:16]}   determinism: {'checked' if check_determinism else 'not checked'}",
            markup=False,
            soft_wrap=True,
        )
        if not no_report:
            out.print(f"report: {directory / 'timeline.html'}", markup=False, soft_wrap=True)
        faults_arg = f" --faults {faults_path}" if faults_path else ""
        out.print(
            f"reproduce: eosim run {reproduce_args(config, seed)}{faults_arg}",
            markup=False,
            soft_wrap=True,
        )
    teardown_skippable()  # every store file is written (atomically) and closed
    sys.exit(exit_for(outcome.results))


def faults_line(history: list[dict[str, Any]]) -> str:
    """The faults that fired, by kind, with when and whom they hit (read from the history's
    nemesis ops, so a ``--swarm`` or ``--faults`` run says what it really did)."""
    from sim.report.model import nemesis_windows

    windows = nemesis_windows(history)
    if not windows:
        return "none"
    kinds: dict[str, list[str]] = {}
    for w in windows:
        where = w.label.split(" ", 1)[1] if " " in w.label else ""
        span = f"{w.start:.2f}-{w.end:.2f} s" if w.end > w.start else f"{w.start:.2f} s"
        kinds.setdefault(w.name, []).append(f"{span} {where}".strip())
    parts = []
    for kind, spans in kinds.items():
        shown = ", ".join(spans[:3]) + (f", +{len(spans) - 3} more" if len(spans) > 3 else "")
        parts.append(f"{kind} x{len(spans)} ({shown})")
    return f"{len(windows)} fired: " + "; ".join(parts)


PROTOCOL_COUNTERS = (
    ("retries", "producer retries"),
    ("deduplicated", "retries deduplicated by the broker"),
    ("fenced", "requests fenced"),
    ("txn_commits", "txn commits"),
    ("txn_aborts", "txn aborts"),
    ("txn_timeouts", "txn timeouts"),
    ("elections", "leader elections"),
    ("isr_shrinks", "ISR shrinks"),
)


def protocol_line(stats: dict[str, Any]) -> str:
    """What the protocol did: retries, deduplications, fencings, transaction outcomes,
    elections and the error codes producers saw (zero counters left out)."""
    parts = [f"{label} {stats[key]}" for key, label in PROTOCOL_COUNTERS if stats.get(key)]
    errors = stats.get("producer_errors") or {}
    if errors:
        parts.append(
            "producer errors " + ", ".join(f"{code} {n}" for code, n in sorted(errors.items()))
        )
    return ", ".join(parts) or "no retries, fencings, aborts or elections"


def write_report_quietly(
    directory: Path,
    history: list[dict[str, Any]] | None = None,
    results: dict[str, Any] | None = None,
) -> None:
    """The store's report; a run passes the ops and results it has just written, so the report
    does not read history.jsonl and results.json back."""
    try:
        from sim.report import write_report

        write_report(directory, history=history, results=results)
    except ImportError:
        pass


# Knobs that have a flag of their own, in the order a person types them.
FLAG_KNOBS = (
    ("mode", "--mode"),
    ("workload", "--workload"),
    ("acks", "--acks"),
    ("nemesis", "--nemesis"),
    ("nemesis-interval", "--nemesis-interval"),
    ("time-limit", "--time-limit"),
    ("rate", "--rate"),
)


def reproduce_args(config: Any, seed: int) -> str:
    """The flags that rebuild ``config`` from defaults, as a person would type them: the
    command's own flags (--mode, --nemesis, --bug, --swarm, ...) first, ``--set`` only for
    knobs without one; a copy-pasteable command line."""
    import shlex

    from sim.config import Config

    default = Config().to_dict()
    current = config.to_dict()
    changed = {k: v for k, v in current.items() if default.get(k) != v or k == "mode"}
    parts: list[str] = []
    for name, flag in FLAG_KNOBS:
        if name in changed:
            parts += [flag, _flag_value(changed.pop(name))]
    for bug in changed.pop("bugs", []) or []:
        parts += ["--bug", str(bug)]
    if changed.pop("swarm", False):
        parts.append("--swarm")
    for name, value in sorted(changed.items()):
        if isinstance(value, dict):
            for key, inner in sorted(value.items()):
                parts += ["--set", f"{key}={_flag_value(inner)}"]
            continue
        parts += ["--set", f"{name}={_flag_value(value)}"]
    return " ".join([*(shlex.quote(p) for p in parts), "--seed", str(seed)])


def _flag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@cli.command()
@config_options
@click.option(
    "--seeds",
    "seed_spec",
    default="0..99",
    show_default=True,
    help="A..B (inclusive), or a comma list",
)
@click.option("--workers", type=int, default=None, help="parallel workers (default: CPU cores)")
@click.option("--backend", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address (default: a LocalCluster)")
@click.option(
    "--store",
    "store_root",
    type=click.Path(),
    default=None,
    help="campaign directory (default store/campaign-<mode>-<time>)",
)
@click.option("--keep-all", is_flag=True, help="keep full stores of passing seeds too")
@click.option(
    "--guided",
    is_flag=True,
    help="coverage-guided: as many runs as --seeds names, each mutating the fault schedule "
    "(and fault parameters) of a run that reached new protocol behaviour (the first seed "
    "seeds the search)",
)
@click.option("--json", "as_json", is_flag=True, help="print campaign.json to stdout")
@click.option("--quiet", "-q", is_flag=True)
@guarded
def campaign(
    seed_spec: str,
    workers: int | None,
    backend: str,
    scheduler: str | None,
    store_root: str | None,
    keep_all: bool,
    guided: bool,
    as_json: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Run many seeds of one configuration, check each, and summarise the failures.

    \b
    Examples:
      eosim campaign --mode at-least-once --nemesis drop-acks --seeds 0..199
      eosim campaign --mode idempotent --nemesis kill-broker,partition-halves --seeds 0..999 --workers 8
      eosim campaign --mode transactional --seeds 0..99 --backend dask --scheduler tcp://10.0.0.5:8786
      eosim campaign --mode transactional --set txn.protocol=v1 --guided --seeds 0..299
    """
    import datetime as _dt
    import os

    from sim.report.campaign_view import progress, render_summary
    from sim.runs.campaign import parse_seeds, run_campaign
    from sim.runs.store import write_atomic

    if printed_a_list(kw):
        return
    config = build_config(**kw)
    seeds = parse_seeds(seed_spec)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if store_root is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        store_root = str(
            Path("store") / f"campaign-{config.mode}-{'+'.join(config.nemesis) or 'none'}-{stamp}"
        )
    Path(store_root).mkdir(parents=True, exist_ok=True)
    if guided:
        if backend != "local":
            raise UsageError("--guided runs on the local backend (its rounds depend on each other)")
        guided_campaign(config, seeds, workers, store_root, as_json, quiet)
        return
    console = err if as_json else out
    bar = progress(console, disable=quiet)
    failures = 0
    with bar:
        task = bar.add_task("seeds", total=len(seeds), failures=0)

        def on_result(result: dict[str, Any]) -> None:
            nonlocal failures
            if result["valid"] is False:
                failures += 1
            bar.update(task, advance=1, failures=failures)

        with sigterm_as_interrupt():
            summary = run_campaign(
                config,
                seeds,
                workers=workers,
                backend=backend,
                scheduler=scheduler,
                store=store_root,
                keep_all=keep_all,
                on_result=on_result if not quiet else None,
            )
    data = summary.to_json()
    write_atomic(Path(store_root) / "campaign.json", json.dumps(data, indent=1) + "\n")
    from sim.report.campaign_page import finish_campaign

    page = finish_campaign(Path(store_root), data, reproduce_args, not summary.interrupted)
    if as_json:
        click.echo(json.dumps(data, indent=1))
    elif not quiet:
        render_summary(summary, out, reproduce_args)
        out.print(f"campaign store: {store_root}")
        out.print(f"campaign page: {page}")
    if summary.interrupted:
        sys.exit(130)
    sys.exit(EXIT_ANOMALY if summary.failing else EXIT_VALID)


def guided_campaign(
    config: Any, seeds: list[int], workers: int, store_root: str, as_json: bool, quiet: bool
) -> None:
    """``campaign --guided``: len(seeds) runs, seeded by the first seed; prints the coverage
    reached, which run first reached it, and each failing run with its reproduce line."""
    from sim.report.campaign_view import progress
    from sim.runs.guided import run_guided

    bar = progress(err if as_json else out, disable=quiet)
    failures = 0
    with bar:
        task = bar.add_task("guided runs", total=len(seeds), failures=0)

        def on_result(result: dict[str, Any]) -> None:
            nonlocal failures
            failures += result["valid"] is False
            bar.update(task, advance=1, failures=failures)

        with sigterm_as_interrupt():
            summary = run_guided(
                config, seeds[0], len(seeds), workers=workers, store=store_root, on_result=on_result
            )
    data = summary.to_json()
    if as_json:
        click.echo(json.dumps(data, indent=1))
    elif not quiet:
        curve = summary.growth()
        out.print(
            f"coverage: {len(summary.first_reached)} protocol features over {len(summary.runs)} "
            f"runs ({curve[len(curve) // 2] if curve else 0} by the halfway run); corpus "
            f"{len(summary.corpus)} runs",
            markup=False,
        )
        newest = sorted(summary.first_reached.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        for feature, index in newest:
            out.print(f"  run {index} first reached {feature}", markup=False, soft_wrap=True)
        for r in summary.failing[:10]:
            where = f" --faults {r['store']}/faults.json" if r["store"] else ""
            out.print(
                f"run {r['index']} (seed {r['seed']}; {r['origin']}): "
                f"{', '.join(r['forbidden'])}  ->  "
                f"eosim run {reproduce_args(summary.run_config(r), r['seed'])}{where}",
                markup=False,
                soft_wrap=True,
            )
        if not summary.failing:
            out.print("no failing run", markup=False)
        out.print(f"campaign store: {store_root} (guided.json)", markup=False)
    if summary.interrupted:
        sys.exit(130)
    sys.exit(EXIT_ANOMALY if summary.failing else EXIT_VALID)


@cli.group()
def scenario() -> None:
    """The scenario gallery: each claim of the exactly-once story, reproduced and checked.

    \b
    Examples:
      eosim scenario list
      eosim scenario run two-generals
      eosim scenario run delayed-endtxn-v1 --seeds 20 --json
    """


@scenario.command("list")
@click.option("--json", "as_json", is_flag=True)
@guarded
def scenario_list(as_json: bool) -> None:
    """List every scenario with its claim (and ticket, for real-world bugs).

    One block a scenario: the name whole on its own line (never cut, at any terminal width),
    the claim wrapped and indented below it.
    """
    import textwrap

    from rich.text import Text

    from sim.scenarios import SCENARIOS

    if as_json:
        click.echo(
            json.dumps(
                [
                    {"name": s.name, "claim": s.claim, "ticket": s.ticket}
                    for s in SCENARIOS.values()
                ],
                indent=1,
            )
        )
        return
    out.print("scenarios (eosim scenario run NAME):", soft_wrap=True)
    for s in SCENARIOS.values():
        out.print()
        heading = Text(s.name, style="bold")
        if s.ticket:
            heading.append(f"  [{s.ticket}]")
        out.print(heading, soft_wrap=True)
        claim = textwrap.fill(
            s.claim,
            width=max(out.width, 24),
            initial_indent="    ",
            subsequent_indent="    ",
            break_on_hyphens=False,
            break_long_words=False,
        )
        out.print(claim, markup=False, soft_wrap=True)


def case_dir_name(scenario_name: str, label: str, seed: int) -> str:
    """``<scenario>-<case>-seed<N>``, the case label made a file name (``acks=1`` -> ``acks-1``)."""
    import re

    slug = re.sub(r"[^A-Za-z0-9.]+", "-", label).strip("-").lower() or "case"
    return f"{scenario_name}-{slug}-seed{seed}"


@scenario.command("run")
@click.argument("name")
@click.option(
    "--seeds", type=int, default=None, help="seeds per case (default: the scenario's own)"
)
@click.option(
    "--keep",
    "keep_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="write a full store (with report) of each case's first failing seed under DIR",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="print {name, claim, expected, observed, seeds, failing_seeds, first_failing, confirmed}",
)
@guarded
def scenario_run(name: str, seeds: int | None, keep_dir: str | None, as_json: bool) -> None:
    """Run one scenario; exit 0 when the observed verdict confirms the claim, 1 when not.

    For each case's first failing seed it prints the `eosim run` command that reruns it and,
    with --keep DIR, writes that run's store to DIR/<scenario>-<case>-seed<N>.

    \b
    Examples:
      eosim scenario run two-generals --seeds 5
      eosim scenario run two-generals --seeds 3 --keep kept/
    """
    import shlex

    from sim.config import did_you_mean
    from sim.scenarios import SCENARIOS, run_scenario

    if name not in SCENARIOS:
        hint = did_you_mean(name, SCENARIOS) or " (see: eosim scenario list)"
        raise UsageError(f"unknown scenario {name!r}{hint}")
    if seeds is not None and seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {seeds}")
    keep = Path(keep_dir) if keep_dir is not None else None
    if keep is not None and keep.exists() and not keep.is_dir():
        raise UsageError(f"--keep {keep}: not a directory")
    s = SCENARIOS[name]

    def first_failing(case: Any, seed: int, outcome: Any) -> dict[str, Any]:
        from sim.runs.store import write_store

        store = None
        if keep is not None:
            store = write_store(
                keep / case_dir_name(name, case.label, seed),
                case.config,
                seed,
                outcome.schedule,
                outcome.history_text,
                outcome.results,
                then=write_report_quietly,
            )
        reproduce = None
        if case.schedule is None:
            reproduce = f"eosim run {reproduce_args(case.config, seed)}"
        elif store is not None:
            faults = shlex.quote(str(store / "faults.json"))
            reproduce = f"eosim run {reproduce_args(case.config, seed)} --faults {faults}"
        return {"reproduce": reproduce, "store": str(store) if store else None}

    result = run_scenario(s, seeds, first_failing)
    if as_json:
        click.echo(json.dumps(result, indent=1, default=str))
    else:
        from sim.scenarios.view import render_scenario

        render_scenario(s, result, out)
    sys.exit(EXIT_VALID if result["confirmed"] else EXIT_ANOMALY)


def _strict_json(results: dict[str, Any]) -> str:
    """Results as strict JSON (RFC 8259 has no NaN or Infinity): an overflowing float in a
    history (``1e999``) reads as infinity and may sit in a witness; it is written as a string."""
    from checkers.guards import finite_json

    try:
        return json.dumps(results, indent=1, allow_nan=False)
    except ValueError:
        return json.dumps(finite_json(results), indent=1, allow_nan=False)


@cli.command()
@click.argument("history", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "jepsen-edn"]),
    default=None,
    help="[default: jepsen-edn for .edn files or EDN text, else jsonl]",
)
@click.option(
    "--mode",
    default=None,
    help="which promises to judge by [default: a store's own mode; for a bare history, "
    "what it shows: transactions -> transactional, producer ids -> idempotent, "
    "else at-least-once]",
)
@click.option("--json", "as_json", is_flag=True, help="print results.json to stdout")
@click.option("--quiet", "-q", is_flag=True)
@guarded
def check(history: str, fmt: str | None, mode: str | None, as_json: bool, quiet: bool) -> None:
    """Check a history file or a store directory (eosim's JSON lines, or a Jepsen Kafka
    history.edn).

    \b
    Examples:
      eosim check store/latest                 # the store's history, by the store's mode
      eosim check store/latest/history.jsonl --mode idempotent
      eosim check jepsen/history.edn --json
    """
    import checkers
    from checkers.sources import detect_format, infer_mode

    path = Path(history)
    store_mode = None
    if path.is_dir():
        from sim.runs.store import refuse_incomplete

        refuse_incomplete(path)
        store_mode = _store_mode(path)
        path = path / "history.jsonl"
        if not path.is_file():
            raise UsageError(f"{path.parent} is not a store directory: history.jsonl is missing")
    elif not path.is_file():
        raise UsageError(f"history file not found: {path}")
    elif (path.parent / "config.toml").is_file():  # a history inside a store
        store_mode = _store_mode(path.parent)
    fmt = fmt or detect_format(path)
    ops = checkers.load_edn(path) if fmt == "jepsen-edn" else checkers.load_jsonl(path)
    if mode is None and store_mode is not None:
        mode, why = store_mode, f"the store's mode, from {path.parent / 'config.toml'}"
    elif mode is None:
        mode, why = infer_mode(ops)
        why = f"assumed: {why}; pass --mode to choose"
    else:
        why = "--mode"
    try:
        results = checkers.check(ops, mode)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        click.echo(_strict_json(results))
    elif not quiet:
        from checkers.report_text import render_results

        out.print(f"judged as {mode} ({why})", markup=False, soft_wrap=True)
        render_results(results, out)
    sys.exit(exit_for(results))


def _store_mode(directory: Path) -> str | None:
    """The mode a store's run promised: config.toml's, else results.json's."""
    from sim.report.model import load_config, load_results

    mode = load_config(directory / "config.toml").get("mode")
    if not isinstance(mode, str):
        try:
            mode = load_results(directory / "results.json").get("mode")
        except ValueError:
            mode = None
    return mode if isinstance(mode, str) else None


@cli.command()
@click.argument("store_dir", type=click.Path())
@click.option("--quiet", "-q", is_flag=True)
@guarded
def replay(store_dir: str, quiet: bool) -> None:
    """Re-run a stored run from its config, seed and faults.json; verify the digest.

    \b
    Example:
      eosim replay store/latest
    """
    from sim.runs.runner import run as run_sim
    from sim.runs.store import read_store

    directory = Path(store_dir)
    config, seed, schedule, results = read_store(directory)
    config.validate()
    from faults.schedule import validate_schedule

    validate_schedule(schedule)
    outcome = run_sim(config, seed, schedule)
    want = results.get("digest")
    if want is None and (directory / "history.jsonl").is_file():
        import hashlib

        want = hashlib.sha256((directory / "history.jsonl").read_bytes()).hexdigest()
    if want is None:
        raise UsageError(
            f"{directory}: results.json and history.jsonl are both missing: no digest to compare"
        )
    if want != outcome.digest:
        err.print(
            f"eosim: replay diverged: stored digest {str(want)[:16]}, replay digest {outcome.digest[:16]}"
        )
        sys.exit(EXIT_ANOMALY)
    if not quiet:
        out.print(
            f"replay matches: digest {outcome.digest[:16]} (seed {seed}, {len(schedule)} faults)"
        )


@cli.command()
@click.argument("store_dir", type=click.Path())
@click.option(
    "--anomaly",
    "anomalies",
    multiple=True,
    help="anomaly type to preserve (default: the forbidden ones found)",
)
@click.option("--max-runs", type=int, default=150, show_default=True, help="simulation budget")
@click.option("--no-report", is_flag=True, help="skip timeline.html and its plots")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="print {store, shrunk_store, schedule, reproduce, ...} to stdout",
)
@click.option("--quiet", "-q", is_flag=True)
@guarded
def shrink(
    store_dir: str,
    anomalies: tuple[str, ...],
    max_runs: int,
    no_report: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Minimise a failing run's fault schedule while the same anomaly type still appears.

    Writes the minimal run as a new complete store with its report next to the original
    (DIR-shrunk-1, then DIR-shrunk-2, ...: nothing is overwritten), prints the minimal
    schedule, one fault a line, and the `eosim run` command that reruns it.

    \b
    Examples:
      eosim shrink store/latest
      eosim shrink store/latest --max-runs 40 --json
    """
    import shlex

    from faults.schedule import validate_schedule
    from faults.shrink import shrink as shrink_schedule
    from sim.runs.runner import run as run_sim
    from sim.runs.runner import still_fails
    from sim.runs.store import read_store, write_new_store

    if max_runs < 1:
        raise UsageError(f"--max-runs must be at least 1, got {max_runs}")
    directory = Path(store_dir)
    config, seed, schedule, results = read_store(directory)
    schedule = validate_schedule(schedule)
    wanted = (
        set(anomalies) or set(results.get("forbidden", [])) or set(results.get("anomaly_types", []))
    )
    if not wanted:
        raise UsageError(f"{directory}: the stored run has no anomaly to preserve")
    result = shrink_schedule(config, schedule, still_fails(seed, wanted), max_runs=max_runs)
    if not result.reproduced:
        raise UsageError(
            f"{directory}: re-running the stored schedule does not show {', '.join(sorted(wanted))}; nothing to shrink"
        )
    outcome = run_sim(result.config, seed, result.schedule)
    # store/latest is a symlink: the shrunk store sits beside (and is named after) the real run
    named = (
        directory.resolve() if directory.is_symlink() or directory.name in ("", "..") else directory
    )
    base = named.with_name(named.name + "-shrunk")
    target = write_new_store(
        base,
        result.config,
        seed,
        outcome.schedule,
        outcome.history_text,
        outcome.results,
        then=None if no_report else write_report_quietly,
    )
    reproduce = (
        f"eosim run {reproduce_args(result.config, seed)} "
        f"--faults {shlex.quote(str(target / 'faults.json'))}"
    )
    before = shrink_sizes(config, schedule)
    after = shrink_sizes(result.config, outcome.schedule)
    if as_json:
        facts = {
            "store": str(directory),
            "shrunk_store": str(target),
            "preserving": sorted(wanted),
            "simulations": result.runs,
            "before": before,
            "after": after,
            "seed": seed,
            "digest": outcome.digest,
            "valid": outcome.results.get("valid"),
            "anomaly_types": outcome.results.get("anomaly_types", []),
            "schedule": outcome.schedule,
            "reproduce": reproduce,
        }
        click.echo(json.dumps(facts, indent=1))
    elif not quiet:
        out.print(f"preserving: {', '.join(sorted(wanted))}  ({result.runs} simulations)")
        out.print(
            f"faults {before['faults']} -> {after['faults']}, "
            f"fault-seconds {before['fault_seconds']:.2f} -> {after['fault_seconds']:.2f}, "
            f"clients {before['clients']} -> {after['clients']}, "
            f"time-limit {before['time_limit']} -> {after['time_limit']}",
            soft_wrap=True,
        )
        n = len(outcome.schedule)
        out.print(f"minimal schedule ({n} fault{'' if n == 1 else 's'}):")
        for line in schedule_lines(outcome.schedule):
            out.print(f"  {line}", markup=False, soft_wrap=True)
        verdict = ", ".join(outcome.results.get("anomaly_types", [])) or "no anomalies"
        out.print(
            f"minimal store: {target}   digest: {outcome.digest[:16]}   found: {verdict}",
            markup=False,
            soft_wrap=True,
        )
        out.print(f"reproduce: {reproduce}", markup=False, soft_wrap=True)
    sys.exit(exit_for(outcome.results))


def shrink_sizes(config: Any, schedule: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "faults": len(schedule),
        "fault_seconds": round(sum(op["duration"] for op in schedule), 6),
        "clients": config.producers + config.consumers,
        "time_limit": config.time_limit,
    }


def schedule_lines(schedule: list[dict[str, Any]]) -> list[str]:
    """One line a fault: at, nemesis, duration, target, params."""
    return [
        f"at={op['at']:g}s nemesis={op['nemesis']} duration={op['duration']:g}s "
        f"target={op.get('target', '-')} params={json.dumps(op.get('params', {}), sort_keys=True)}"
        for op in schedule
    ]


@cli.command()
@click.argument("store_dir", type=click.Path())
@click.option("--messages", is_flag=True, help="write a message diagram of a window instead")
@click.option("--from", "start", type=float, default=None, help="window start (simulated s)")
@click.option("--to", "end", type=float, default=None, help="window end (simulated s)")
@click.option("--nodes", default=None, help="only messages to or from these nodes, e.g. c0,b1")
@click.option("--all-messages", is_flag=True, help="also draw replication and heartbeats")
@guarded
def report(
    store_dir: str,
    messages: bool,
    start: float | None,
    end: float | None,
    nodes: str | None,
    all_messages: bool,
) -> None:
    """Write timeline.html (its plots drawn in the browser), latency.png and throughput.png
    (matplotlib) for a stored run; with --messages, a message diagram (messages-FROM-TO.html)
    of one window of it, re-run with tracing.

    \b
    Examples:
      eosim report store/latest
      eosim report store/latest --messages --from 1.0 --to 1.9 --nodes c0
    """
    from sim.runs.store import refuse_incomplete

    directory = Path(store_dir)
    if not messages and (start is not None or end is not None or nodes or all_messages):
        raise UsageError("--from, --to, --nodes and --all-messages go with --messages")
    refuse_incomplete(directory)
    if not (directory / "history.jsonl").is_file():
        raise UsageError(f"{directory} is not a store directory: history.jsonl is missing")
    if messages:
        from sim.report.messages import write_messages

        focus = [n.strip() for n in nodes.split(",") if n.strip()] if nodes else None
        path = write_messages(directory, start, end, focus_nodes=focus, background=all_messages)
        out.print(f"wrote {path}", markup=False, soft_wrap=True)
        return
    from sim.report import write_report

    for path in write_report(directory, pngs=True):
        out.print(f"wrote {path}", markup=False, soft_wrap=True)


def refresh_store_index(directory: Path) -> None:
    """After a run: rebuild the index of the store root holding it (see ``eosim serve``)."""
    from sim.report.store_index import refresh_index_near

    refresh_index_near(directory)


@cli.command()
@click.option(
    "--store",
    "store_root",
    type=click.Path(),
    default="store",
    show_default=True,
    help="store root: the directory holding run stores and campaigns",
)
@click.option(
    "--port", type=int, default=8080, show_default=True, help="0 picks a free port (printed)"
)
@click.option("--no-browser", is_flag=True, help="do not open a web browser")
@click.option("--once", is_flag=True, help="only (re)write index.html, print its path and exit")
@guarded
def serve(store_root: str, port: int, no_browser: bool, once: bool) -> None:
    """Browse the store: rebuild STORE/index.html (every run and campaign, newest first) and serve
    the store root on http://127.0.0.1:PORT/ until Ctrl-C. The index is rebuilt on every visit.

    \b
    Examples:
      eosim serve
      eosim serve --store /data/eosim --port 0 --no-browser
      eosim serve --once              # just write store/index.html
    """
    from sim.report.store_index import make_server, write_index

    root = Path(store_root)
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise UsageError(f"store directory {root} {what} (runs write to store/ by default)")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    try:
        index = write_index(root)
    except OSError as exc:
        raise UsageError(f"cannot write {root / 'index.html'}: {exc.strerror or exc}") from None
    if once:
        click.echo(str(index))
        return
    try:
        server = make_server(root, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    click.echo(f"serving {root} at {url}  (Ctrl-C to stop)")
    sys.stdout.flush()
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    with server, sigterm_as_interrupt():
        server.serve_forever()


@cli.command("compile")
@click.option("--force", is_flag=True, help="rebuild even if a build matches the sources")
@click.option("--status", is_flag=True, help="only say whether this process runs compiled")
@guarded
def compile_core(force: bool, status: bool) -> None:
    """Build the compiled core: the model's hot modules (sim/cluster, sim/clients) compiled with
    mypyc into a cache, used from then on by every run, campaign and worker while the sources
    match it. About twice as fast per seed; histories are byte-identical. Needs mypy
    (pip install 'eosim[fast]') and a C compiler; EOSIM_PURE_PYTHON=1 turns it off.

    \b
    Examples:
      eosim compile
      eosim compile --status
    """
    import os

    from sim import compiled

    if status:
        where = compiled.build_dir()
        state = "compiled" if compiled.active() else "plain Python"
        reason = "" if compiled.active() else (
            f" ({compiled.PURE_ENV} is set)" if os.environ.get(compiled.PURE_ENV)
            else f" (no build at {where})"
        )  # fmt: skip
        click.echo(f"{state}{reason}")
        return
    click.echo("compiling sim/cluster and sim/clients with mypyc (a minute or two) ...", err=True)
    where = compiled.build(force=force)
    click.echo(f"compiled core: {where}")


# Set by ``run`` once every file it writes is closed and only its exit code is left; read by
# ``console_main`` (a one-shot process), never by in-process callers of ``main``.
_teardown_skippable = False


def main(argv: list[str] | None = None) -> None:
    """The command line, for in-process callers too: click's usage errors become one line and
    exit 2; every outcome is a SystemExit."""
    global _teardown_skippable
    _teardown_skippable = False
    try:
        cli.main(args=argv, prog_name="eosim", standalone_mode=False)
    except click.exceptions.Abort:
        err.print("eosim: interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        fail_usage(exc.format_message())
    sys.exit(0)


def teardown_skippable() -> None:
    """Called by a command whose files are all written and closed, just before its exit."""
    global _teardown_skippable
    _teardown_skippable = True


def console_main() -> None:
    """The ``eosim`` console script and ``python -m sim.cli``: ``main``, and after ``eosim run``
    no interpreter teardown. A big run leaves millions of objects (its history, the report's
    ops) that the interpreter would free one by one on the way out; the process ends instead
    with ``os._exit`` once stdout and stderr are flushed and the atexit handlers have run.

    Only when it is safe: the ``run`` command said its files are written (it writes each one
    atomically, closed before the rename), no other thread is alive, and the exit code is an
    int; anything else (other commands, such as a campaign with its Dask client, or a flush
    that fails) exits the ordinary way."""
    try:
        main()
    except SystemExit as exc:
        if _teardown_skippable and isinstance(exc.code, int) and _only_thread():
            _exit_now(exc.code)
        raise


def _only_thread() -> bool:
    import threading

    return threading.active_count() == 1


def _exit_now(code: int) -> None:
    """Flush, run the atexit handlers, and end the process without tearing it down; returns
    only if stdout or stderr cannot be flushed (the caller then exits the ordinary way)."""
    import atexit
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    atexit._run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console_main()
