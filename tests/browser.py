"""Drive Debian's headless Chromium from its command line (no browser download, no driver).

``open_page`` loads a local HTML file the way a person would and returns the DOM after its
scripts ran, the console messages, the network requests the page made (from Chromium's own net
log) and, if asked, a screenshot. Browser-background traffic (update checks, account pings) is
told apart from the page's by the network isolation key: the page's requests carry its file://
top frame.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars"]
_CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (.*)$")


def chromium() -> str | None:
    """Path of the system Chromium (Debian package ``chromium``), or None."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


needs_chromium = pytest.mark.skipif(
    chromium() is None,
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)",
)


def screenshot_dir(default: Path) -> Path:
    """Where screenshots go: $RESSIG_SCREENSHOTS (CI keeps it), else ``default``."""
    d = Path(os.environ.get("RESSIG_SCREENSHOTS") or default)
    d.mkdir(parents=True, exist_ok=True)
    return d


@dataclass
class PageRun:
    dom: str
    console: list[str]
    requests: list[str]
    screenshot: Path | None


def page_requests(netlog: Path) -> list[str]:
    """URLs of the network requests the loaded page made (not the browser's own)."""
    data = json.loads(netlog.read_text())
    start = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in data.get("events", []):
        params = event.get("params") or {}
        if event.get("type") == start and "file://" in str(params.get("network_isolation_key", "")):
            urls.append(params.get("url", ""))
    return urls


def open_page(page: Path, screenshot: Path | None = None, width: int = 1366, height: int = 900,
              timeout: float = 120) -> PageRun:
    """Load ``page`` in headless Chromium: DOM after load, console lines, page requests, screenshot."""
    exe = chromium()
    assert exe, "chromium not installed"
    with tempfile.TemporaryDirectory(prefix="ressig-chromium-") as tmp:
        netlog = Path(tmp) / "net.json"
        common = [exe, *FLAGS, f"--user-data-dir={tmp}/profile", f"--window-size={width},{height}",
                  "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
        url = page.resolve().as_uri()
        proc = subprocess.run([*common, f"--log-net-log={netlog}", "--dump-dom", url], capture_output=True,
                              text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]
        console = [m.group(1) for line in proc.stderr.splitlines() if (m := _CONSOLE.search(line))]
        requests = page_requests(netlog)
        if screenshot is not None:
            shot = subprocess.run([*common, f"--screenshot={screenshot}", url], capture_output=True,
                                  text=True, timeout=timeout)
            assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-3000:]
        return PageRun(proc.stdout, console, requests, screenshot)


def visible_text(dom: str) -> str:
    """The text of a DOM dump (scripts and styles dropped, tags removed, whitespace collapsed)."""
    import html

    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())


#: appended to a copy of a page: sorts a table by one column (two clicks) and filters it, then
#: writes what the rows look like into <pre id="probe"> for the DOM dump
PROBE = """
<script>
window.addEventListener("load", function () {
  var table = document.getElementById(%(table)s), out = {};
  function column(index) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      var c = r.cells[index]; var v = c.getAttribute("data-value"); return v === null ? c.textContent : v;
    });
  }
  var headers = table.tHead.rows[0].cells;
  [%(num)d, %(text)d].forEach(function (index) {
    headers[index].click(); var asc = column(index);
    headers[index].click(); var desc = column(index);
    out[index] = {asc: asc, desc: desc, aria: headers[index].getAttribute("aria-sort")};
  });
  var input = document.querySelector('input.filter[data-table="' + %(table)s + '"]');
  input.value = %(needle)s; input.dispatchEvent(new Event("input"));
  out.visible = Array.prototype.filter.call(table.tBodies[0].rows, function (r) { return !r.hidden; })
    .map(function (r) { return r.cells[0].textContent; });
  out.count = document.getElementById(input.getAttribute("data-count")).textContent;
  var pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def probe_table(page: Path, dest: Path, table_id: str, num_col: int, text_col: int, needle: str) -> dict:
    """Sort ``table_id`` by a numeric and a text column and filter it for ``needle``, in Chromium."""
    script = PROBE % {"table": json.dumps(table_id), "num": num_col, "text": text_col,
                      "needle": json.dumps(needle)}
    dest.write_text(page.read_text().replace("</body>", script + "</body>"))
    run = open_page(dest)
    assert not run.console, run.console
    m = re.search(r'<pre id="probe">(.*?)</pre>', run.dom, re.S)
    assert m, "the probe script did not run"
    import html

    return json.loads(html.unescape(m.group(1)))
