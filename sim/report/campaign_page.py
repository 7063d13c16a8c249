"""``campaign.html``: one campaign's failures on a script-free page: by anomaly type, by the
nemeses that actually ran, and seed by seed with a reproduce command and a link to each failing
seed's kept store. Built from ``campaign.json`` and the seed directories alone."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sim.errors import UsageError
from sim.report.pages import (
    as_dict,
    badge,
    counts_of,
    esc,
    href,
    nemeses_that_ran,
    page,
    read_json,
)
from sim.report.store_index import (
    CAMPAIGN_PAGE,
    DEFAULT_ROOT,
    INDEX,
    failing_by_anomaly,
    index_root_for,
    refresh_index_near,
)
from sim.runs.store import INCOMPLETE, write_atomic

MAX_REPORTS = 20  # failing seeds whose timeline is drawn at the end of a campaign
MAX_LISTED = 500  # failing seeds listed one per row

NO_FAULT = "(no fault)"
Reproduce = Callable[[Any, int], str]


def seed_dir(directory: Path, seed: int) -> Path:
    return directory / f"seed-{seed}"


def write_failing_reports(
    directory: Path, data: Mapping[str, Any], limit: int = MAX_REPORTS
) -> list[int]:
    """Draw timeline.html and the plots for the first ``limit`` failing seeds whose full store
    the campaign kept (and that lack them); return the seeds drawn."""
    from sim.report.store_report import write_report

    drawn = []
    for seed in _failing(data)[:limit]:
        store = seed_dir(directory, seed)
        if (store / INCOMPLETE).exists() or not (store / "history.jsonl").is_file():
            continue
        if not (store / "timeline.html").is_file():
            write_report(store, diagrams=False)  # one re-run per diagram: on demand only
        drawn.append(seed)
    return drawn


def write_campaign_page(
    directory: Path,
    data: Mapping[str, Any],
    reproduce: Reproduce | None = None,
    index: Path | None = None,
) -> Path:
    """(Re)write ``directory/campaign.html`` atomically. ``reproduce(config, seed)`` gives the
    ``eosim run`` arguments of one seed; ``index`` is the store index to link back to."""
    path = directory / CAMPAIGN_PAGE
    write_atomic(path, render_campaign_page(directory, data, reproduce, index))
    return path


def finish_campaign(
    directory: Path,
    data: Mapping[str, Any],
    reproduce: Reproduce | None,
    draw_reports: bool = True,
    default_root: Path = DEFAULT_ROOT,
) -> Path:
    """At the end of a campaign (finished or interrupted): draw the first failing seeds'
    timelines (skipped for an interrupted one, which should stop promptly), write
    campaign.html, and rebuild the store index that lists the campaign. Returns the page."""
    if draw_reports:
        # on failure the page says "no timeline yet", with the command that draws one
        with contextlib.suppress(OSError, ValueError):
            write_failing_reports(directory, data)
    index = index_root_for(directory, default_root)
    try:
        page_path = write_campaign_page(directory, data, reproduce, index)
    except OSError as exc:
        where = exc.filename or directory / CAMPAIGN_PAGE
        raise UsageError(f"cannot write {where}: {exc.strerror or exc}") from None
    refresh_index_near(directory, default_root)
    return page_path


def _failing(data: Mapping[str, Any]) -> list[int]:
    return sorted(int(s) for s in data.get("failing_seeds", []) or [] if isinstance(s, int))


def _results_by_seed(data: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for r in data.get("results", []) or []:
        if isinstance(r, dict) and isinstance(r.get("seed"), int):
            out[r["seed"]] = r
    return out


def _ran(directory: Path, result: Mapping[str, Any]) -> list[str] | None:
    """The fault kinds that ran in one seed: campaign.json's ``nemeses``, else its faults.json."""
    kinds = result.get("nemeses")
    if isinstance(kinds, list):
        return [str(k) for k in kinds]
    seed = result.get("seed")
    if isinstance(seed, int):
        return nemeses_that_ran(read_json(seed_dir(directory, seed) / "faults.json"))
    return None


def render_campaign_page(
    directory: Path,
    data: Mapping[str, Any],
    reproduce: Reproduce | None = None,
    index: Path | None = None,
) -> str:
    config = as_dict(data.get("config"))
    by_seed = _results_by_seed(data)
    failing = _failing(data)
    done, total = data.get("done", len(by_seed)), data.get("seeds", "?")
    interrupted = bool(data.get("interrupted"))
    name = directory.resolve().name
    head = (
        badge("invalid", text=f"{len(failing)} failing")
        if failing
        else badge("valid", text="all valid")
    )
    if interrupted:
        head += " " + badge("interrupted", "stopped by Ctrl-C or SIGTERM")
    body = [f"<h1>eosim campaign: {esc(name)} {head}</h1>"]
    if index is not None:
        body.append(
            f'<p class="note"><a href="{href("..", INDEX)}">← all runs and campaigns</a></p>'
        )
    share = f" ({100 * len(failing) / done:.1f}%)" if isinstance(done, int) and done else ""
    nemeses = ", ".join(str(n) for n in config.get("nemesis", []) or []) or "none"
    if config.get("swarm"):
        nemeses = f"swarm over {nemeses if config.get('nemesis') else 'all'}"
    facts = [
        ("status", "interrupted" if interrupted else "finished"),
        ("seeds run", f"{done} of {total}"),
        ("failing seeds", f"{len(failing)}{share}"),
        ("mode", data.get("mode") or config.get("mode", "?")),
        ("workload", config.get("workload", "?")),
        ("nemeses (configured)", nemeses),
        ("kafka.version", config.get("kafka.version", "?")),
        ("bugs enabled", ", ".join(str(b) for b in config.get("bugs", []) or []) or "none"),
        ("time-limit", f"{config.get('time-limit', '?')} s simulated per seed"),
    ]
    body.append(
        "<table>"
        + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
        + "</table>"
    )
    if interrupted:
        body.append(
            '<p class="warn"><b>Interrupted</b> (Ctrl-C or SIGTERM) after '
            f"{esc(done)} of {esc(total)} seeds: every table below covers only the seeds that "
            "finished.</p>"
        )
    body.append(_anomaly_table(data, failing, by_seed))
    body.append(_nemesis_table(directory, failing, by_seed))
    body.append(_failing_list(directory, data, failing, by_seed, reproduce))
    return page(f"eosim campaign {name}", body)


def _seed_links(seeds: list[int], limit: int = 40) -> str:
    parts = []
    for seed in seeds[:limit]:
        parts.append(f'<a href="#seed-{seed}">{seed}</a>')
    more = f" … and {len(seeds) - limit} more" if len(seeds) > limit else ""
    return ", ".join(parts) + more


def _anomaly_table(
    data: Mapping[str, Any], failing: list[int], by_seed: Mapping[int, Mapping[str, Any]]
) -> str:
    by = failing_by_anomaly(data)
    seen = as_dict(data.get("anomaly_seed_counts"))
    out = ["<h2>Failures by anomaly type</h2>"]
    if not by and not seen:
        out.append('<p class="note">No anomaly of any kind in any seed that ran.</p>')
        return "".join(out)
    out.append(
        '<p class="note">A seed fails when it shows an anomaly its mode forbids. Allowed anomalies '
        "(e.g. duplicates under at-least-once) and warnings are counted but fail nothing.</p>"
    )
    rows = [
        '<tr><th>anomaly</th><th>forbidden by the mode?</th><th class="num">failing seeds</th>'
        '<th class="num">seeds where seen</th><th>failing seeds (jump to)</th></tr>'
    ]
    for name, seeds in by.items():
        rows.append(
            f'<tr><td class="forbidden">{esc(name)}</td><td>yes</td><td class="num">{len(seeds)}</td>'
            f'<td class="num">{esc(seen.get(name, len(seeds)))}</td>'
            f"<td>{_seed_links(sorted(seeds))}</td></tr>"
        )
    for name, n in sorted(seen.items()):
        if name in by:
            continue
        rows.append(
            f'<tr><td class="allowed">{esc(name)}</td><td>no (allowed, or a warning)</td>'
            f'<td class="num">0</td><td class="num">{esc(n)}</td><td></td></tr>'
        )
    out.append("<table>" + "".join(rows) + "</table>")
    return "".join(out)


def _nemesis_table(
    directory: Path, failing: list[int], by_seed: Mapping[int, Mapping[str, Any]]
) -> str:
    out = ["<h2>Failures by nemesis</h2>"]
    if not failing:
        out.append('<p class="note">No failing seed.</p>')
        return "".join(out)
    ran_in: dict[str, int] = {}
    all_known = all(isinstance(r.get("nemeses"), list) for r in by_seed.values())
    if all_known:
        for r in by_seed.values():
            for kind in r["nemeses"] or [NO_FAULT]:
                ran_in[kind] = ran_in.get(kind, 0) + 1
    fail_with: dict[str, list[int]] = {}
    unknown: list[int] = []
    for seed in failing:
        kinds = _ran(directory, by_seed.get(seed, {"seed": seed}))
        if kinds is None:
            unknown.append(seed)
            continue
        for kind in kinds or [NO_FAULT]:
            fail_with.setdefault(kind, []).append(seed)
    out.append(
        '<p class="note">The fault kinds that actually ran in each seed (its faults.json: with '
        "<code>--swarm</code> each seed draws its own), so a seed with two kinds counts under "
        'both. "(no fault)" means no fault fitted the seed\'s schedule.</p>'
    )
    rows = ['<tr><th>nemesis</th><th class="num">failing seeds with it</th>']
    if all_known:
        rows.append('<th class="num">seeds it ran in</th><th class="num">failure rate</th>')
    rows.append("<th>failing seeds (jump to)</th></tr>")
    for kind, seeds in sorted(
        fail_with.items(), key=lambda kv: (kv[0] == NO_FAULT, -len(kv[1]), kv[0])
    ):
        rows.append(f'<tr><td>{esc(kind)}</td><td class="num">{len(seeds)}</td>')
        if all_known:
            n = ran_in.get(kind, 0)
            rate = f"{100 * len(seeds) / n:.0f}%" if n else "—"
            rows.append(f'<td class="num">{n}</td><td class="num">{rate}</td>')
        rows.append(f"<td>{_seed_links(seeds)}</td></tr>")
    if all_known:
        for kind in sorted(
            (k for k in ran_in if k not in fail_with), key=lambda k: (k == NO_FAULT, k)
        ):
            rows.append(
                f'<tr><td>{esc(kind)}</td><td class="num">0</td><td class="num">{ran_in[kind]}</td>'
                '<td class="num">0%</td><td></td></tr>'
            )
    out.append("<table>" + "".join(rows) + "</table>")
    if unknown:
        out.append(
            f'<p class="note">Unknown faults (store not kept, campaign.json without them) for '
            f"failing seeds {esc(', '.join(str(s) for s in unknown[:40]))}.</p>"
        )
    return "".join(out)


def _failing_list(
    directory: Path,
    data: Mapping[str, Any],
    failing: list[int],
    by_seed: Mapping[int, Mapping[str, Any]],
    reproduce: Reproduce | None,
) -> str:
    out = ["<h2>Failing seeds</h2>"]
    if not failing:
        done = data.get("done", 0)
        out.append(
            f'<p class="note">None: all {esc(done)} seeds that ran kept the mode\'s promise.</p>'
        )
        return "".join(out)
    config = _config(data) if reproduce is not None else None
    rows = [
        "<tr><th>seed</th><th>forbidden anomalies</th><th>faults that ran</th>"
        "<th>store</th><th>reproduce</th></tr>"
    ]
    for seed in failing[:MAX_LISTED]:
        r = by_seed.get(seed, {})
        store = seed_dir(directory, seed)
        results = read_json(store / "results.json")
        counts = counts_of(results) if isinstance(results, dict) else {}
        forbidden = [str(a) for a in r.get("forbidden", []) or []]
        anomalies = "<br>".join(
            f'<span class="forbidden">{esc(a)}{f" ×{counts[a]}" if a in counts else ""}</span>'
            for a in forbidden
        )
        known = r.get("known_real") or []
        if known:  # a class real Kafka has too (sim.runs.known)
            part = "" if r.get("explained") else ", in part"
            anomalies += (
                f'<br><span class="muted">known real{part} (Kafka fails so too): '
                f"{esc(', '.join(str(k) for k in known))}</span>"
            )
        kinds = _ran(directory, r or {"seed": seed})
        ran = (
            esc(", ".join(kinds) or "none") if kinds is not None else '<span class="muted">?</span>'
        )
        sites = r.get("buggify") or []
        if sites:
            ran += (
                f'<br><span class="muted">BUGGIFY: {esc(", ".join(str(x) for x in sites))}</span>'
            )
        rows.append(
            f'<tr id="seed-{seed}"><td class="num">{_seed_cell(store, seed)}</td><td>{anomalies}</td><td>{ran}</td>'
            f'<td class="links">{_store_links(store)}</td><td>{_reproduce(reproduce, config, seed)}</td></tr>'
        )
    undrawn = [
        s
        for s in failing[:MAX_LISTED]
        if (seed_dir(directory, s) / "history.jsonl").is_file()
        and not (seed_dir(directory, s) / "timeline.html").is_file()
        and not (seed_dir(directory, s) / INCOMPLETE).exists()
    ]
    if undrawn:
        why = (
            "the campaign was interrupted"
            if data.get("interrupted")
            else (f"only the first {MAX_REPORTS} failing seeds get one")
        )
        example = seed_dir(directory, undrawn[0])
        out.append(
            f'<p class="note">{len(undrawn)} kept failing seed(s) have no timeline yet ({esc(why)}); '
            f"draw one with <code>eosim report {esc(example)}</code> (any seed-N directory).</p>"
        )
    out.append("<table>" + "".join(rows) + "</table>")
    if len(failing) > MAX_LISTED:
        out.append(
            f'<p class="note">… and {len(failing) - MAX_LISTED} more failing seeds (see campaign.json).</p>'
        )
    return "".join(out)


def _seed_cell(store: Path, seed: int) -> str:
    if (store / "timeline.html").is_file() and not (store / INCOMPLETE).exists():
        return f'<a href="{href(store.name, "timeline.html")}" title="its timeline">{seed}</a>'
    return str(seed)


def _store_links(store: Path) -> str:
    name = store.name
    if not store.is_dir():
        return '<span class="muted">not kept</span>'
    if (store / INCOMPLETE).exists():
        return badge("incomplete", "interrupted while being written")
    links = [
        f'<a href="{href(name, f)}">{f}</a>'
        for f in ("timeline.html", "results.json", "faults.json", "config.toml")
        if (store / f).is_file()
    ]
    if not (store / "timeline.html").is_file() and (store / "history.jsonl").is_file():
        links.append('<span class="small muted">no timeline yet (see above)</span>')
    return " ".join(links) or '<span class="muted">empty</span>'


def _config(data: Mapping[str, Any]) -> Any:
    from sim.config import from_mapping

    raw = data.get("config")
    if not isinstance(raw, dict):
        return None
    try:
        return from_mapping(raw)
    except (UsageError, ValueError, TypeError):
        return None


def _reproduce(reproduce: Reproduce | None, config: Any, seed: int) -> str:
    if reproduce is None or config is None:
        return '<span class="muted">—</span>'
    return f"<code>eosim run {esc(reproduce(config, seed))}</code>"
