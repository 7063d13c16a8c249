"""Browsing the store: store/index.html lists every run and campaign with the right verdict and
links that lead somewhere; campaign.html explains a campaign's failures; eosim serve serves it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from sim.report.campaign_page import render_campaign_page
from sim.report.store_index import index_root_for, make_server, scan, write_index
from sim.runs.store import INCOMPLETE
from tests.cli.test_bad_input import ROOT, eosim, one_line_error

SMALL = ["--time-limit", "3", "--set", "convergence=2"]
BROKEN = ["--nemesis", "drop-acks", "--bug", "no-dedup", "--set", "nemesis-interval=0.8"]


class Page(HTMLParser):
    """Table rows (cell texts and the links in them) and every link of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[tuple[list[str], list[str]]] = []
        self.links: list[str] = []
        self._cells: list[str] | None = None
        self._hrefs: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._cells, self._hrefs = [], []
        elif tag in ("td", "th") and self._cells is not None:
            self._cell = []
        elif tag == "a":
            link = dict(attrs).get("href") or ""
            self.links.append(link)
            self._hrefs.append(link)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._cells is not None:
            self._cells.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._cells is not None:
            self.rows.append((self._cells, self._hrefs))
            self._cells = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def row(self, name: str) -> tuple[list[str], list[str]]:
        found = [
            r
            for r in self.rows
            if len(r[0]) > 1 and r[0][0] not in ("verdict", "status") and r[0][1].startswith(name)
        ]
        assert len(found) == 1, f"{name}: {[r[0][:2] for r in self.rows]}"
        return found[0]


def assert_links_exist(page: Path, links: list[str]) -> None:
    for link in links:
        if link.startswith(("#", "http")):
            continue
        target = (page.parent / unquote(link)).resolve()
        assert target.exists(), f"{page.name} links to {link}, which does not exist"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store root as the commands leave it: a valid run, a failing run, a failing campaign
    (all written by eosim, which rebuilds the index), plus a store interrupted mid-write."""
    cwd = tmp_path_factory.mktemp("browse")
    valid = eosim("run", "--mode", "at-least-once", "--seed", "1", *SMALL, "-q", cwd=cwd)
    assert valid.returncode == 0, valid.stderr
    failing = eosim("run", "--mode", "idempotent", "--seed", "4", *BROKEN, *SMALL,
                    "--store", "store/failing", "-q", cwd=cwd)  # fmt: skip
    assert failing.returncode == 1, failing.stderr
    store = cwd / "store"
    (cwd / "after-runs.html").write_text((store / "index.html").read_text())
    campaign = eosim("campaign", "--mode", "idempotent", *BROKEN, *SMALL, "--seeds", "0..5",
                     "--workers", "2", "--store", "store/camp", cwd=cwd)  # fmt: skip
    assert campaign.returncode == 1, campaign.stdout + campaign.stderr
    assert "campaign page: store/camp/campaign.html" in campaign.stdout
    (cwd / "after-campaign.html").write_text((store / "index.html").read_text())
    # An interrupted write: results.json already says valid, but the marker is still there.
    half = store / "half"
    half.mkdir()
    for name in ("config.toml", "results.json"):
        shutil.copy(store / "failing" / name, half / name)
    results = json.loads((half / "results.json").read_text())
    (half / "results.json").write_text(json.dumps({**results, "valid": True}))
    (half / INCOMPLETE).write_text("interrupted\n")
    once = eosim("serve", "--store", str(store), "--once")
    assert once.returncode == 0 and once.stdout.strip() == str(store / "index.html"), once.stderr
    return store


def test_index_lists_every_run_and_campaign_with_its_verdict(root: Path) -> None:
    page = Page((root / "index.html").read_text())
    latest = os.readlink(root / "latest")
    valid_name = Path(latest).name
    cells, links = page.row(valid_name)
    assert cells[0] == "valid" and "(latest)" in cells[1] and cells[2] == "at-least-once"
    assert {f"{valid_name}/timeline.html", f"{valid_name}/results.json"} <= set(links)
    assert f"{valid_name}/latency.png" not in links  # eosim run draws its plots in the page
    cells, links = page.row("failing")
    assert cells[0] == "invalid" and "duplicate ×" in " ".join(cells) and "no-dedup" in cells[1]
    assert "drop-acks" in cells[4] and cells[5] == "4" and cells[6] == "4.2"
    assert {"failing/timeline.html", "failing/results.json"} <= set(links)
    cells, _ = page.row("half")
    assert cells[0] == "incomplete" and "valid" not in cells[0] + cells[7]
    cells, links = page.row("camp")
    summary = json.loads((root / "camp" / "campaign.json").read_text())
    assert cells[0] == f"{len(summary['failing_seeds'])} failing" and cells[4] == "6 / 6"
    assert "duplicate" in cells[6] and "camp/campaign.html" in links
    names = [r[0][1] for r in page.rows if r[0][0] not in ("verdict", "status")]
    assert not any(n.startswith("latest") for n in names) and len(names) == 4
    assert_links_exist(root / "index.html", page.links)


def test_run_and_campaign_rebuild_the_index_themselves(root: Path) -> None:
    """Before any eosim serve, the commands had already listed what they wrote."""
    runs = Page((root.parent / "after-runs.html").read_text())
    assert runs.row("failing")[0][0] == "invalid"
    assert runs.row(Path(os.readlink(root / "latest")).name)[0][0] == "valid"
    campaign = Page((root.parent / "after-campaign.html").read_text())
    assert campaign.row("camp")[0][0].endswith("failing")


def test_campaign_page_names_the_anomaly_and_links_failing_seed_reports(root: Path) -> None:
    summary = json.loads((root / "camp" / "campaign.json").read_text())
    failing = summary["failing_seeds"]
    assert failing, "this configuration is chosen to fail"
    path = root / "camp" / "campaign.html"
    page = Page(path.read_text())
    by_anomaly = [r for r in page.rows if r[0][0] == "duplicate"]
    assert by_anomaly and by_anomaly[0][0][1] == "yes" and by_anomaly[0][0][2] == str(len(failing))
    ran = {n for r in summary["results"] if r["seed"] in failing for n in r["nemeses"]}
    assert ran and all(any(r[0][0] == n for r in page.rows) for n in ran)
    for seed in failing:
        cells, links = next(r for r in page.rows if r[0][0] == str(seed))
        assert "duplicate" in cells[1]
        assert f"seed-{seed}/timeline.html" in links
        assert (root / "camp" / f"seed-{seed}" / "timeline.html").is_file()
        assert re.search(rf"eosim run .*--bug no-dedup.* --seed {seed}$", cells[4])
    assert "../index.html" in page.links
    assert_links_exist(path, page.links)


def test_an_interrupted_campaign_page_says_so() -> None:
    data = {"mode": "idempotent", "config": {"mode": "idempotent"}, "seeds": 10, "done": 2,
            "interrupted": True, "failing_seeds": [], "anomaly_seed_counts": {},
            "results": [{"seed": 0, "valid": True, "forbidden": [], "anomaly_types": []},
                        {"seed": 1, "valid": True, "forbidden": [], "anomaly_types": []}]}  # fmt: skip
    text = render_campaign_page(Path("c"), data)
    assert "interrupted" in text and "after 2 of 10 seeds" in text
    assert "Interrupted" not in render_campaign_page(Path("c"), {**data, "interrupted": False})


def test_a_killed_campaign_is_listed_as_killed_from_its_seed_dirs(tmp_path: Path) -> None:
    seed = tmp_path / "camp" / "seed-3"
    seed.mkdir(parents=True)
    (seed / "results.json").write_text(json.dumps(
        {"valid": False, "mode": "idempotent", "anomaly_types": ["duplicate"],
         "forbidden": ["duplicate"]}))  # fmt: skip
    page = Page((write_index(tmp_path)).read_text())
    cells, _ = page.row("camp")
    assert cells[0].startswith("killed") and cells[4] == "1 / ?" and cells[5].startswith("1")
    assert "duplicate" in cells[6] and cells[2] == "idempotent"


def test_broken_stores_are_unknown_not_errors_and_order_is_newest_first(tmp_path: Path) -> None:
    for name, text in (("a-garbled", "{not json"), ("b-ok", '{"valid": true}'), ("c-ok", "{}")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(text)
    os.utime(tmp_path / "a-garbled", (3000, 3000))
    os.utime(tmp_path / "b-ok", (1000, 1000))
    os.utime(tmp_path / "c-ok", (1000, 1000))
    runs, campaigns = scan(tmp_path)
    assert [r.name for r in runs] == ["a-garbled", "b-ok", "c-ok"] and not campaigns
    assert [r.verdict for r in runs] == ["unknown", "valid", "unknown"]
    assert "unreadable" in runs[0].why


def test_only_a_store_root_gets_an_index(tmp_path: Path) -> None:
    default = tmp_path / "store"
    default.mkdir()
    assert index_root_for(default / "run1", default) == default
    elsewhere = tmp_path / "tmp"
    assert index_root_for(elsewhere / "run1", default) is None  # no index.html dropped in /tmp
    elsewhere.mkdir()
    (elsewhere / "index.html").write_text("")
    assert index_root_for(elsewhere / "run1", default) == elsewhere


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_serve_refuses_a_bad_store_dir(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "nope"
    if kind == "file":
        target.write_text("x")
    one_line_error(eosim("serve", "--store", str(target), "--once"), str(target))
    one_line_error(eosim("serve", "--store", str(tmp_path), "--port", "70000"), "--port")


def test_server_in_a_thread_rebuilds_and_serves_the_index(root: Path) -> None:
    (root / "index.html").unlink()  # a request for the index rebuilds it
    server = make_server(root, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            text = response.read().decode()
        assert "failing" in text and "camp/campaign.html" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/camp/campaign.html", timeout=10) as r:
            assert "duplicate" in r.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive() and (root / "index.html").is_file()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("started_ignoring_sigint", [False, True])
def test_eosim_serve_prints_its_url_serves_and_exits_130_on_ctrl_c(
    root: Path, started_ignoring_sigint: bool
) -> None:
    """Also when started by a parent that ignores SIGINT (a shell's background job): Python
    would then never raise KeyboardInterrupt, and the server would not stop."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "serve", "--store", str(root), "--port", "0",
         "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=_ignore_sigint if started_ignoring_sigint else None,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match and match.group(1) != "0", line
        with urllib.request.urlopen(match.group(0) + "index.html", timeout=10) as response:
            assert "eosim store" in response.read().decode()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert [ln for ln in err.splitlines() if ln.strip()] == ["eosim: interrupted"]


def test_serve_help_has_examples() -> None:
    proc = eosim("serve", "--help")
    assert proc.returncode == 0 and "Example" in proc.stdout and "--once" in proc.stdout
