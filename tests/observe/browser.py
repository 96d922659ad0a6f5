"""Driving the dashboard and the report in Debian's headless Chromium: a served dashboard,
and what a page's Plotly charts and tables look like once drawn."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoplake.dashboard.server import command

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the dashboard did not listen on {port} within {timeout}s")


@contextmanager
def dashboard(lake: Path, landing: Path) -> Iterator[str]:
    """A dashboard served on a free port for the lake: its URL."""
    port = free_port()
    process = subprocess.Popen(
        command(str(lake), landing=str(landing), port=port, refresh_s=1.0),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


# Read from the figures plotly drew: their full (computed) layout and data, decoded.
PROBE = """() => {
  const list = v => (v && typeof v.length === 'number') ? Array.from(v) : [];
  const charts = [...document.querySelectorAll('.js-plotly-plot')].map(el => {
    const layout = el._fullLayout || {};
    const axes = Object.keys(layout)
      .filter(k => /^[xy]axis\\d*$/.test(k) && layout[k].visible !== false)
      .map(k => ({name: k, type: layout[k].type, range: layout[k].range,
                  ticks: list(layout[k]._vals).map(t => t.text)}));
    let points = 0;
    for (const t of (el._fullData || [])) {
      if (t.visible === false) continue;
      if (t.type === 'heatmap') points += list(t.z).flatMap(list).filter(v => v).length;
      else if (t.type === 'pie') points += list(t.values).filter(v => v > 0).length;
      else points += list(t.x && t.x.length ? t.x : t.y).filter(v => v != null).length;
    }
    // Labels drawn on the chart (node and slice labels, the title): boxes that collide,
    // and boxes that reach past the chart's edge, where they are cut.
    const outer = el.getBoundingClientRect();
    const boxes = [...el.querySelectorAll('.textpoint text, text.slicetext, .gtitle')]
      .map(t => ({text: t.textContent, box: t.getBoundingClientRect()}))
      .filter(t => t.text && t.box.width > 0);
    const overlaps = [];
    boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => {
      const w = Math.min(a.box.right, b.box.right) - Math.max(a.box.left, b.box.left);
      const h = Math.min(a.box.bottom, b.box.bottom) - Math.max(a.box.top, b.box.top);
      if (w > 1 && h > 1) overlaps.push(a.text + ' / ' + b.text);
    }));
    const cut = boxes.filter(t => t.box.left < outer.left - 1 || t.box.right > outer.right + 1)
      .map(t => t.text);
    return {title: (layout.title && layout.title.text || '').replace(/<[^>]+>/g, ''),
            points, axes, overlaps, cut};
  });
  const grids = [...document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller')];
  const tables = [...grids, ...document.querySelectorAll('body > table, .grid > div > table')].map(
    el => ({width: el.scrollWidth,
            room: el.tagName === 'TABLE' ? el.parentElement.clientWidth : el.clientWidth}));
  return {charts, tables, page: document.documentElement.scrollWidth - window.innerWidth};
}"""


@dataclass
class Drawn:
    charts: list[dict[str, Any]]
    tables: list[dict[str, int]]
    page: int  # how far the page overflows the window sideways

    def titles(self) -> list[str]:
        return [c["title"] for c in self.charts]


def _span(axis: dict[str, Any]) -> float:
    low, high = axis["range"]
    if axis["type"] == "date":
        from datetime import datetime

        def ms(v: str) -> float:
            return datetime.fromisoformat(v.replace(" ", "T")).timestamp() * 1000

        return abs(ms(high) - ms(low))
    return abs(float(high) - float(low))


def problems(drawn: Drawn) -> list[str]:
    """What a reader would see wrong: a chart of one point or none, an axis of no extent
    (or a time axis under a second), ticks that repeat a label, labels that collide or
    are cut, a table or page that scrolls sideways."""
    found = []
    for chart in drawn.charts:
        name = chart["title"] or "untitled chart"
        if chart["points"] < 2:
            found.append(f"{name}: {chart['points']} point(s) drawn")
        for axis in chart["axes"]:
            span = _span(axis)
            if not span > (1000 if axis["type"] == "date" else 0):
                found.append(f"{name}: {axis['name']} spans {axis['range']}")
            ticks = [t for t in axis["ticks"] if t]
            if len(set(ticks)) < len(ticks):
                found.append(f"{name}: {axis['name']} repeats tick labels {ticks}")
        if chart["overlaps"]:
            found.append(f"{name}: labels collide: {chart['overlaps'][:5]}")
        if chart["cut"]:
            found.append(f"{name}: labels cut at the edge: {chart['cut'][:5]}")
    for i, table in enumerate(drawn.tables):
        if table["width"] > table["room"] + 1:
            found.append(f"table {i}: {table['width']}px of columns in {table['room']}px")
    if drawn.page > 1:
        found.append(f"the page scrolls {drawn.page}px sideways")
    return found


def drawn(page: Any, charts: int) -> Drawn:
    """Wait until the page has drawn this many charts (Streamlit adds them as they come),
    then read them."""
    page.wait_for_function(
        """n => {
          const plots = [...document.querySelectorAll('.js-plotly-plot')];
          return plots.length >= n && plots.every(e => e._fullLayout);
        }""",
        arg=charts,
        timeout=30_000,
    )
    result = page.evaluate(PROBE)
    return Drawn(result["charts"], result["tables"], result["page"])
