"""timeline.html in a real headless Chromium: it loads, logs nothing to the console, and shows
the witness op. Runs whenever chromium is installed, and always under CI (CI installs it with
``apt-get install -y chromium``), where a missing browser is a failure, not a skip."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sim.report import write_report

pytestmark = pytest.mark.skipif(
    not shutil.which("chromium") and not os.environ.get("CI"),
    reason="chromium not installed (Debian: apt-get install -y chromium)",
)

CONSOLE = re.compile(r":CONSOLE[(:]|Uncaught")


def run_chromium(page: Path, profile: Path) -> tuple[str, list[str]]:
    """Dump the rendered DOM and return it with any console lines Chromium logged."""
    chromium = shutil.which("chromium")
    assert chromium, "CI must have chromium: apt-get install -y chromium"
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=2000", "--dump-dom", page.resolve().as_uri(),
    ]  # fmt: skip
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [line for line in proc.stderr.splitlines() if CONSOLE.search(line)]


def test_console_detection_works(tmp_path: Path) -> None:
    """Guards the real test: if Chromium's log format changed, errors would pass unseen."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                   "<script>console.error('boom'); notDefined();</script></body></html>")  # fmt: skip
    _, console = run_chromium(bad, tmp_path / "profile")
    assert any("boom" in line for line in console)
    assert any("Uncaught" in line for line in console)


def test_timeline_loads_without_console_errors_and_shows_witness(tmp_path: Path) -> None:
    history = [
        {"index": 0, "time": 0.0, "process": 0, "type": "invoke", "f": "send",
         "value": [["send", "k1", 1]]},
        {"index": 1, "time": 0.05, "process": "nemesis", "type": "info", "f": "drop-acks",
         "value": {"fault": 0, "phase": "start", "target": "p0", "until": 0.3}},
        {"index": 2, "time": 0.1, "process": 1, "type": "invoke", "f": "poll", "value": None},
        {"index": 3, "time": 0.2, "process": 0, "type": "info", "f": "send",
         "value": [["send", "k1", [None, 1]]]},
        {"index": 4, "time": 0.25, "process": 1, "type": "ok", "f": "poll",
         "value": [["poll", {"k1": [[0, 1], [1, 1]]}]]},
        {"index": 5, "time": 0.3, "process": "nemesis", "type": "info", "f": "drop-acks",
         "value": {"fault": 0, "phase": "stop", "target": "p0"}},
        {"index": 6, "time": 0.4, "process": 2, "type": "invoke", "f": "send", "value": None},
    ]  # fmt: skip
    results = {"valid": False, "mode": "idempotent", "seed": 1, "digest": "d",
               "anomalies": {"duplicate": [{"ops": [3, 4], "explanation": "k1/1 twice"}]}}  # fmt: skip
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(o) + "\n" for o in history))
    (tmp_path / "results.json").write_text(json.dumps(results))
    write_report(tmp_path)

    dom, console = run_chromium(tmp_path / "timeline.html", tmp_path / "profile")
    assert console == []
    assert re.search(r'class="op info witness example" id="op-3"', dom)
    assert re.search(r'class="op ok witness example" id="op-4"', dom)
    assert 'href="#op-3"' in dom and 'class="nem"' in dom


PROBE = """<script>
window.addEventListener('load', () => {
  const box = e => { const b = e.getBoundingClientRect(); return {top: b.top, bottom: b.bottom}; };
  const out = {height: innerHeight, width: innerWidth,
               scrollWidth: document.documentElement.scrollWidth};
  const section = document.querySelector('section.anomaly.forbidden');
  if (section) {
    out.title = box(section.querySelector('h3'));
    out.titleText = section.querySelector('h3').textContent;
    out.example = box(section.querySelector('.example'));
    const link = section.querySelector('table.wops a');
    out.link = box(link);
    out.href = link.getAttribute('href');
  }
  if (location.hash) {
    const target = document.getElementById(location.hash.slice(1));
    out.target = box(target.id.startsWith('op-') && target.tagName === 'SPAN'
                     ? target.parentElement : target);
    out.heads = box(document.querySelector('.heads'));
  }
  document.body.setAttribute('data-probe', JSON.stringify(out));
});
</script></body>"""


def probe(page: Path, tmp_path: Path, fragment: str = "", script: str = PROBE) -> dict[str, Any]:
    """Load ``page`` at 1400x900 in Chromium with a measuring script appended; return what
    it measured (element boxes relative to the viewport, after any scroll to ``fragment``)."""
    probed = page.with_name("probe.html")
    probed.write_text(page.read_text().replace("</body>", script))
    chromium = shutil.which("chromium")
    assert chromium, "CI must have chromium: apt-get install -y chromium"
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile-probe'}",
        "--window-size=1400,900", "--virtual-time-budget=3000", "--dump-dom",
        probed.resolve().as_uri() + fragment,
    ]  # fmt: skip
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    found = re.search(r"data-probe=\"([^\"]*)\"", proc.stdout)
    assert found, proc.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real failing run: acks=1 with partitions and broker kills loses acknowledged writes."""
    from sim.config import from_mapping
    from sim.runs.runner import run
    from sim.runs.store import write_store

    store = tmp_path_factory.mktemp("failing")
    config = from_mapping(
        {"mode": "at-least-once", "acks": "1", "nemesis": "partition-halves,kill-broker"}
    )
    outcome = run(config, 3)
    assert outcome.results["valid"] is False and "lost-write" in outcome.results["forbidden"]
    write_store(store, config, 3, outcome.schedule, outcome.history_text, outcome.results)
    write_report(store)
    return store


def test_failing_report_shows_anomaly_explanation_and_op_above_the_fold(
    failing_report: Path, tmp_path: Path
) -> None:
    """What a stranger sees without scrolling, in a 1400x900 window: the first forbidden
    anomaly's name and count, its explanation, and a link to its op in the timeline; and the
    page does not scroll sideways."""
    seen = probe(failing_report / "timeline.html", tmp_path)
    assert seen["width"] == 1400 and seen["scrollWidth"] <= seen["width"]
    assert "forbidden" in seen["titleText"] and "×" in seen["titleText"]
    for part in ("title", "example", "link"):
        assert seen[part]["top"] >= 0 and seen[part]["bottom"] <= seen["height"], (part, seen)
    assert seen["href"].startswith("#op-")


def test_following_a_witness_link_lands_the_op_below_the_sticky_heading(
    failing_report: Path, tmp_path: Path
) -> None:
    href = probe(failing_report / "timeline.html", tmp_path)["href"]
    seen = probe(failing_report / "timeline.html", tmp_path, fragment=href)
    assert seen["heads"]["bottom"] <= seen["target"]["top"] < seen["height"], seen


# Reads back what the plots drew: per canvas, pixels that are not background, pixels of the
# data colours, pixels of the first fault's strip colour; then hovers the first green data
# pixel of the latency plot and clicks it, as a person would.
PLOT_PROBE = """<script>
window.addEventListener('load', () => {
  const out = {};
  const pixels = c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (const id of ['latency-plot', 'throughput-plot']) {
    const c = document.querySelector('#' + id + ' canvas');
    if (!c) continue;
    const d = pixels(c);
    let drawn = 0, green = 0, fault = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] === 0 || (d[i] > 250 && d[i + 1] > 250 && d[i + 2] > 250)) continue;
      drawn++;
      if (d[i + 1] > d[i] + 40 && d[i + 1] > d[i + 2] + 40) green++;
      if (d[i] === 0x1f && d[i + 1] === 0x77 && d[i + 2] === 0xb4) fault++;
    }
    out[id] = {width: c.width, height: c.height, drawn, green, fault,
               box: document.getElementById(id).getBoundingClientRect().height};
  }
  const c = document.querySelector('#latency-plot canvas');
  if (c) {
    const d = pixels(c), rect = c.getBoundingClientRect(), ratio = c.width / rect.width;
    let hit = null;
    for (let y = Math.floor(c.height / 3); y < c.height && !hit; y++)
      for (let x = 0; x < c.width; x++) {
        const i = (y * c.width + x) * 4;
        if (d[i + 1] > d[i] + 60 && d[i + 1] > d[i + 2] + 60) { hit = [x, y]; break; }
      }
    if (hit) {
      const at = {clientX: rect.left + hit[0] / ratio, clientY: rect.top + hit[1] / ratio,
                  bubbles: true};
      const over = document.querySelector('#latency-plot .u-over');
      for (const type of ['mouseenter', 'mousemove', 'mousedown', 'mouseup', 'click'])
        over.dispatchEvent(new MouseEvent(type, at));
    }
    out.readout = document.getElementById('latency-readout').textContent;
    out.hash = location.hash;
  }
  document.body.setAttribute('data-probe', JSON.stringify(out));
});
</script></body>"""


def test_failing_report_draws_its_plots_in_the_browser(
    failing_report: Path, tmp_path: Path
) -> None:
    """uPlot, inlined, draws both plots of a failing run from file:// with no console errors:
    data points and bars (green: ok ops), the first fault's bars in the strip; hovering a point
    names its op and clicking it jumps to the op in the timeline."""
    page = failing_report / "timeline.html"
    _, console = run_chromium(page, tmp_path / "profile")
    assert console == []
    seen = probe(page, tmp_path, script=PLOT_PROBE)
    heights = [int(h) for h in re.findall(r'class="plot" id="[a-z]+-plot" style="height:(\d+)px"',
                                          page.read_text())]  # fmt: skip
    assert len(heights) == 2
    for name, height in zip(("latency-plot", "throughput-plot"), heights, strict=True):
        plot = seen[name]
        assert plot["width"] > 1000 and plot["height"] == height, plot
        assert plot["box"] == height, plot  # drawing it moved nothing on the page
        assert plot["drawn"] > 20000 and plot["fault"] > 200, plot
    assert seen["latency-plot"]["green"] > 300  # points
    assert seen["throughput-plot"]["green"] > 50000  # bars
    found = re.match(r"op (\d+): (send|poll|txn) ok, invoked at [\d.]+ s, latency [\d.e+-]+ ms",
                     seen["readout"])  # fmt: skip
    assert found, seen["readout"]
    assert seen["hash"] == f"#op-{found.group(1)}"
