"""``store/index.html``: every run store and campaign under a store root on one script-free page,
newest first, as Jepsen's store browser lists its tests. ``eosim serve`` serves the root.

The index is a view, not part of any history: it is rebuilt from the directories themselves
(atomically) after every ``eosim run`` and ``eosim campaign`` and on each ``eosim serve`` request
for it, so it never needs migrating and a deleted store simply disappears from it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import http.server
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.report.pages import (
    anomaly_list,
    as_dict,
    badge,
    esc,
    href,
    names,
    nemeses_that_ran,
    page,
    read_json,
    read_toml,
    verdict_word,
)
from sim.runs.store import FILES, INCOMPLETE, write_atomic

INDEX = "index.html"
CAMPAIGN_PAGE = "campaign.html"
DEFAULT_ROOT = Path("store")
RUN_LINKS = ("timeline.html", "latency.png", "throughput.png", "results.json")
SEED_DIR = re.compile(r"seed-\d+$")


@dataclass
class RunRow:
    name: str
    mtime: float
    verdict: str  # valid | invalid | unknown | incomplete
    why: str = ""  # why the verdict is not a plain one
    config: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    ran: list[str] | None = None  # fault kinds in faults.json
    links: list[str] = field(default_factory=list)
    latest: bool = False


@dataclass
class CampaignRow:
    name: str
    mtime: float
    status: str  # finished | interrupted | killed (no campaign.json)
    data: dict[str, Any] = field(default_factory=dict)
    seed_dirs: int = 0
    has_page: bool = False


def is_campaign(directory: Path) -> bool:
    if (directory / "campaign.json").is_file() or (directory / CAMPAIGN_PAGE).is_file():
        return True
    try:
        return any(SEED_DIR.match(p.name) and p.is_dir() for p in directory.iterdir())
    except OSError:
        return False


def is_run_store(directory: Path) -> bool:
    return any((directory / name).exists() for name in (*FILES, INCOMPLETE))


def read_run(directory: Path) -> RunRow:
    """One run store's row; never raises for a broken or half-written store."""
    row = RunRow(directory.name, _mtime(directory), "unknown")
    row.config = read_toml(directory / "config.toml")
    row.ran = nemeses_that_ran(read_json(directory / "faults.json"))
    row.links = [name for name in RUN_LINKS if (directory / name).is_file()]
    if (directory / INCOMPLETE).exists():
        row.verdict = "incomplete"
        row.why = "interrupted while being written: not a verdict"
        return row
    results = read_json(directory / "results.json")
    if not isinstance(results, dict):
        missing = not (directory / "results.json").exists()
        row.why = "results.json is missing" if missing else "results.json is unreadable"
        return row
    row.results = results
    row.verdict = verdict_word(results.get("valid"))
    if row.verdict == "unknown":
        row.why = str(results.get("unknown_reason") or "nothing was checkable")
    return row


def read_campaign(directory: Path) -> CampaignRow:
    data = read_json(directory / "campaign.json")
    seed_dirs = sorted(p for p in directory.iterdir() if SEED_DIR.match(p.name) and p.is_dir())
    row = CampaignRow(directory.name, _mtime(directory), "killed", seed_dirs=len(seed_dirs))
    row.has_page = (directory / CAMPAIGN_PAGE).is_file()
    if isinstance(data, dict):
        row.data = data
        row.status = "interrupted" if data.get("interrupted") else "finished"
    else:
        row.data = salvage_campaign(seed_dirs)
    return row


def salvage_campaign(seed_dirs: list[Path]) -> dict[str, Any]:
    """What a campaign killed before writing campaign.json still says: the seeds whose
    results.json landed, in campaign.json's shape (``seeds`` unknown)."""
    results: list[dict[str, Any]] = []
    config: dict[str, Any] = {}
    counts: dict[str, int] = {}
    mode = None
    for seed_dir in seed_dirs:
        r = read_json(seed_dir / "results.json")
        if (seed_dir / INCOMPLETE).exists() or not isinstance(r, dict):
            continue
        if not config and (seed_dir / "config.toml").is_file():
            config = {k: v for k, v in read_toml(seed_dir / "config.toml").items() if k != "seed"}
        mode = mode or r.get("mode")
        types = [str(a) for a in r.get("anomaly_types", []) or []]
        for name in types:
            counts[name] = counts.get(name, 0) + 1
        seed = int(seed_dir.name.split("-", 1)[1])
        forbidden = sorted(str(a) for a in r.get("forbidden", []) or [])
        results.append(
            {"seed": seed, "valid": r.get("valid"), "anomaly_types": types, "forbidden": forbidden}
        )
    results.sort(key=lambda r: int(r["seed"]))
    mode = config.get("mode") or mode
    return {
        "mode": mode,
        "config": config,
        "seeds": None,
        "done": len(results),
        "interrupted": True,
        "failing_seeds": [r["seed"] for r in results if r["valid"] is False],
        "anomaly_seed_counts": dict(sorted(counts.items())),
        "results": results,
    }


def scan(root: Path) -> tuple[list[RunRow], list[CampaignRow]]:
    """Run stores and campaigns directly under ``root``, newest first (ties by name).

    Symlinks (``latest``) and hidden directories are skipped; the run ``latest`` points at is
    marked instead."""
    runs: list[RunRow] = []
    campaigns: list[CampaignRow] = []
    latest = _latest_target(root)
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or child.is_symlink() or not child.is_dir():
            continue
        try:
            if is_campaign(child):
                campaigns.append(read_campaign(child))
            elif is_run_store(child):
                row = read_run(child)
                row.latest = latest is not None and child.resolve() == latest
                runs.append(row)
        except OSError:
            continue  # vanished or unreadable while we looked: not listed this time
    runs.sort(key=lambda r: (-r.mtime, r.name))
    campaigns.sort(key=lambda c: (-c.mtime, c.name))
    return runs, campaigns


def write_index(root: Path) -> Path:
    """(Re)write ``root/index.html`` atomically and return its path."""
    runs, campaigns = scan(root)
    path = root / INDEX
    write_atomic(path, render_index(root, runs, campaigns))
    return path


def index_root_for(directory: Path, default_root: Path = DEFAULT_ROOT) -> Path | None:
    """The store root whose index lists ``directory``: its parent, when that is the default
    store root or already has an index (so ``--store /tmp/x`` does not drop an index.html into
    /tmp); else None."""
    root = directory.parent
    try:
        if default_root.exists() and root.resolve() == default_root.resolve():
            return root
        return root if (root / INDEX).is_file() else None
    except OSError:
        return None


def refresh_index_near(directory: Path, default_root: Path = DEFAULT_ROOT) -> Path | None:
    """After a run or campaign wrote ``directory``, rebuild the index that lists it (see
    ``index_root_for``). Never fails the command: returns None when nothing was written."""
    root = index_root_for(directory, default_root)
    if root is None:
        return None
    try:
        return write_index(root)
    except OSError:
        return None


# --- rendering ---------------------------------------------------------------------------------
def render_index(root: Path, runs: list[RunRow], campaigns: list[CampaignRow]) -> str:
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    tally = ", ".join(
        f"{counts[v]} {v}" for v in ("invalid", "unknown", "incomplete", "valid") if v in counts
    )
    body = [
        f"<h1>eosim store: {esc(root.resolve().name or root)}</h1>",
        f'<p class="note">{len(runs)} run{"s" if len(runs) != 1 else ""}'
        f"{f' ({tally})' if tally else ''} and {len(campaigns)} "
        f"campaign{'s' if len(campaigns) != 1 else ''} in <code>{esc(root.resolve())}</code>, "
        "newest first. A verdict is whether the run kept its mode's promise: "
        f"{badge('valid')} kept it, {badge('invalid')} a forbidden anomaly was found, "
        f"{badge('unknown')} nothing could be judged, {badge('incomplete')} the store was "
        "interrupted while being written (no verdict). Rebuilt by <code>eosim run</code>, "
        "<code>eosim campaign</code> and <code>eosim serve</code>.</p>",
    ]
    body.append("<h2>Campaigns</h2>")
    body.append(_campaign_table(campaigns) if campaigns else '<p class="note">No campaigns.</p>')
    body.append("<h2>Runs</h2>")
    body.append(_run_table(runs) if runs else '<p class="note">No run stores.</p>')
    return page(f"eosim store {root.resolve().name}", body)


def _when(mtime: float) -> str:
    stamp = _dt.datetime.fromtimestamp(mtime, _dt.timezone.utc)
    return f'<span class="nowrap">{stamp:%Y-%m-%d %H:%M:%S}</span> <span class="muted">UTC</span>'


def nemesis_text(config: Mapping[str, Any], ran: list[str] | None) -> str:
    """The configured nemeses (or the swarm's pool), and below them the kinds that actually ran
    when that differs: with ``--swarm`` each seed draws its own, and a short run may fit none."""
    if not config:
        return '<span class="muted">?</span>'
    configured = [str(n) for n in config.get("nemesis", []) or []]
    swarm = bool(config.get("swarm"))
    cell = names(configured) if configured else "none"
    if swarm:
        cell = "swarm over " + (names(configured) if configured else "all kinds")
    if ran is not None and (swarm or ran != configured):
        drawn = f"ran: {names(ran)}" if ran else "no fault ran"
        cell += f'<br><span class="small muted">{drawn}</span>'
    return cell


def _run_table(runs: list[RunRow]) -> str:
    head = (
        "<tr><th>verdict</th><th>store</th><th>mode</th><th>workload</th><th>nemeses</th>"
        '<th class="num">seed</th><th>kafka</th><th>anomalies</th>'
        '<th class="num">sim time</th><th>written</th><th>files</th></tr>'
    )
    rows = [head]
    for r in runs:
        c, res = r.config, r.results
        mode = res.get("mode") or c.get("mode", "?")
        seed = res.get("seed", c.get("seed", "?"))
        stats = res.get("stats") if isinstance(res.get("stats"), dict) else {}
        sim_time = stats.get("sim_time") if stats else None
        bugs = [str(b) for b in c.get("bugs", []) or []]
        name = f'<a href="{href(r.name)}/">{esc(r.name)}</a>' + (
            ' <span class="muted">(latest)</span>' if r.latest else ""
        )
        if bugs:
            name += f'<br><span class="small muted">bugs: {esc(", ".join(bugs))}</span>'
        links = " ".join(f'<a href="{href(r.name, f)}">{esc(f)}</a>' for f in r.links)
        if "timeline.html" not in r.links and r.verdict != "incomplete":
            links += f' <span class="small muted">(no report: eosim report {esc(r.name)})</span>'
        anomalies = anomaly_list(res) if res else f'<span class="muted">{esc(r.why)}</span>'
        if res and r.why:
            anomalies += f'<br><span class="small muted">{esc(r.why)}</span>'
        rows.append(
            f"<tr><td>{badge(r.verdict, r.why)}</td><td>{name}</td><td>{names([mode])}</td>"
            f"<td>{esc(c.get('workload', '?'))}</td><td>{nemesis_text(c, r.ran)}</td>"
            f'<td class="num">{esc(seed)}</td><td>{esc(c.get("kafka.version", "?"))}</td>'
            f'<td>{anomalies}</td><td class="num">'
            f"{f'{sim_time:.1f} s' if isinstance(sim_time, (int, float)) else '—'}</td>"
            f'<td>{_when(r.mtime)}</td><td class="links">{links or "—"}</td></tr>'
        )
    return "<table>" + "".join(rows) + "</table>"


def failing_by_anomaly(data: Mapping[str, Any]) -> dict[str, list[int]]:
    """Forbidden anomaly type -> the failing seeds that showed it (campaign.json)."""
    out: dict[str, list[int]] = {}
    for r in data.get("results", []) or []:
        if isinstance(r, dict) and r.get("valid") is False:
            for name in r.get("forbidden", []) or []:
                out.setdefault(str(name), []).append(r.get("seed", -1))
    return dict(sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def _campaign_table(campaigns: list[CampaignRow]) -> str:
    head = (
        "<tr><th>status</th><th>campaign</th><th>mode</th><th>nemeses</th>"
        '<th class="num">seeds run</th><th class="num">failing</th><th>forbidden anomalies '
        "(in how many seeds)</th><th>written</th><th>page</th></tr>"
    )
    rows = [head]
    for c in campaigns:
        d = c.data
        config = as_dict(d.get("config"))
        failing = [int(s) for s in d.get("failing_seeds", []) or [] if isinstance(s, int)]
        if c.status == "killed":
            status = (
                badge("interrupted", "killed before it could write campaign.json", "killed")
                + '<br><span class="small muted">no campaign.json: counted from its seed dirs</span>'
            )
            seeds = f"{esc(d.get('done', 0))} / ?"
        else:
            status = (
                badge("invalid", "seeds broke the mode's promise", f"{len(failing)} failing")
                if failing
                else badge("valid", "every seed kept the mode's promise", "all valid")
            )
            if c.status == "interrupted":
                status += " " + badge("interrupted", "stopped by Ctrl-C or SIGTERM")
            seeds = f"{esc(d.get('done', '?'))} / {esc(d.get('seeds', '?'))}"
        by = failing_by_anomaly(d)
        anomalies = (
            "<br>".join(
                f'<span class="forbidden">{esc(a)}</span> in {len(s)} seed{"s" if len(s) != 1 else ""}'
                for a, s in by.items()
            )
            or '<span class="muted">none</span>'
        )
        allowed = {k: v for k, v in as_dict(d.get("anomaly_seed_counts")).items() if k not in by}
        if allowed:
            shown = ", ".join(
                f'<span class="nowrap">{esc(k)} in {v}</span>' for k, v in allowed.items()
            )
            anomalies += (
                f'<br><span class="small muted">allowed or warnings (seeds): {shown}</span>'
            )
        fail_cell = f"{len(failing)}"
        if failing:
            more = "…" if len(failing) > 8 else ""
            listed = ", ".join(str(s) for s in failing[:8])
            fail_cell += f'<br><span class="small muted">seeds {listed}{more}</span>'
        link = (
            f'<a href="{href(c.name, CAMPAIGN_PAGE)}">{CAMPAIGN_PAGE}</a>'
            if c.has_page
            else f'<a href="{href(c.name)}/">directory</a>'
        )
        nemeses = nemesis_text(config, None)
        target = href(c.name, CAMPAIGN_PAGE) if c.has_page else href(c.name) + "/"
        rows.append(
            f'<tr><td>{status}</td><td><a href="{target}">{esc(c.name)}</a></td>'
            f"<td>{names([d.get('mode') or config.get('mode', '?')])}</td><td>{nemeses}</td>"
            f'<td class="num">{seeds}</td><td class="num">{fail_cell}</td><td>{anomalies}</td>'
            f'<td>{_when(c.mtime)}</td><td class="links">{link}</td></tr>'
        )
    return "<table>" + "".join(rows) + "</table>"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _latest_target(root: Path) -> Path | None:
    latest = root / "latest"
    try:
        return latest.resolve() if latest.is_symlink() else None
    except OSError:
        return None


# --- serving -------------------------------------------------------------------------------------
class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the store root; asking for the index rebuilds it first, so it is always fresh."""

    root: Path
    lock: threading.Lock

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?", 1)[0] in ("/", "/" + INDEX):
            with self.lock, contextlib.suppress(OSError):  # else serve the index there is
                write_index(self.root)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # one line per request would bury the URL and the exit line


def make_server(root: Path, port: int = 8080) -> http.server.ThreadingHTTPServer:
    """An HTTP server for ``root`` on 127.0.0.1 (``port`` 0 picks a free one: read it from
    ``server.server_address``). The caller runs ``serve_forever`` and closes it."""
    handler = type(
        "StoreHandler",
        (_Handler,),
        {"root": root, "lock": threading.Lock()},
    )
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(handler, directory=str(root))
    )
    server.daemon_threads = True
    # closing does not wait for request threads: they only send files, and one stuck on a
    # slow client must not keep Ctrl-C from stopping the server
    server.block_on_close = False
    return server
