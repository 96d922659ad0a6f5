"""Every chart and table of the dashboard and the report, as Chromium draws them, after
a first `shoplake demo` (one run) and after many runs: each chart draws more than one
point on axes of real extent, ticks never repeat, no table scrolls sideways.

Screenshots go to test-artifacts/ (dashboard-demo-*.png, dashboard-runs-*.png,
report-demo.png, report-runs.png)."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import ARGS, ARTIFACTS, CHROMIUM, Drawn, dashboard, drawn, problems
from observe_shop import make_busy_shop
from typer.testing import CliRunner

from shoplake.cli import app
from shoplake.dashboard.report import write_report
from shoplake.observe.lake import LakeReader

pytestmark = [
    pytest.mark.slow,  # ~40 s: two lakes, two dashboards, two reports in a browser
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)"
    ),
]
RUNS = 4
# Revenue, categories, segments, weekday-hour, CLV, inventory, shipping.
BUSINESS_CHARTS = 7


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `shoplake demo` leaves: one run over generated data, alerts checked."""
    root = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(app, ["demo", "--dir", str(root), "--orders", "300"])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def busy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busy_shop(tmp_path_factory.mktemp("busy"), runs=RUNS).root


def _views(root: Path, name: str, pipeline_charts: int) -> tuple[Drawn, Drawn, str]:
    """The business and pipeline views drawn, screenshots taken; the pipeline view's text."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with dashboard(root / "lake", root / "landing") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        # Tall enough that every section is laid out at once, at a common laptop width.
        page = browser.new_page(viewport={"width": 1400, "height": 7000})
        page.goto(url)
        page.get_by_text("Realtime sales").first.wait_for(timeout=30_000)
        business = drawn(page, BUSINESS_CHARTS)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-business.png"), full_page=True)
        page.get_by_text("Pipeline", exact=True).click()
        page.get_by_text("Table dependency graph").first.wait_for(timeout=20_000)
        pipeline = drawn(page, pipeline_charts)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-pipeline.png"), full_page=True)
        text = page.inner_text("body")
        browser.close()
    return business, pipeline, text


def _report(root: Path, name: str) -> Drawn:
    from playwright.sync_api import sync_playwright

    out = write_report(LakeReader(str(root / "lake")), root / f"report-{name}.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(out.as_uri())
        report = drawn(page, BUSINESS_CHARTS)
        page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=True)
        browser.close()
    return report


def test_after_the_demo_every_chart_and_table_reads_well(demo_dir: Path) -> None:
    # Time and rows per table, failures per rule, lineage, dependencies: no trend yet.
    business, pipeline, text = _views(demo_dir, "demo", pipeline_charts=5)

    assert problems(business) == []
    assert problems(pipeline) == []
    titles = business.titles()
    assert any(t.startswith("Stock vs reorder point") for t in titles), titles
    assert "Late deliveries by carrier" in titles
    # One run: where its time and rows went per table, failures per rule, no trend line.
    assert "The run's time per table (s)" in pipeline.titles()
    assert any(t.startswith("Failed rows per expectation, latest run") for t in pipeline.titles())
    assert not any(t.startswith("Failed rows per run") for t in pipeline.titles())
    # The demo checked the alerts: its defects open incidents, listed as a table.
    assert (demo_dir / "lake" / "_system" / "alerts").is_dir()
    assert "No alert recorded" not in text
    assert problems(_report(demo_dir, "demo")) == []


def test_after_many_runs_every_chart_and_table_reads_well(busy_dir: Path) -> None:
    # Durations, rows per run, latest failures, their trend, lineage, dependencies.
    business, pipeline, _ = _views(busy_dir, "runs", pipeline_charts=6)

    assert problems(business) == []
    assert problems(pipeline) == []
    charts = {c["title"]: c for c in pipeline.charts}
    assert charts["Runs: duration (s)"]["points"] == RUNS
    trend = next(c for t, c in charts.items() if t.startswith("Failed rows per run"))
    # Runs are categories, one tick each, labelled to the second.
    assert trend["axes"][0]["type"] == "category"
    assert len(trend["axes"][0]["ticks"]) == RUNS
    assert problems(_report(busy_dir, "runs")) == []


def test_the_probe_flags_the_charts_the_dashboard_used_to_draw(tmp_path: Path) -> None:
    """The checks above can fail: one snapshot drawn as a line over time, one run's rules
    spread over milliseconds, node labels on top of each other, as the inventory, rule
    and lineage charts once were."""
    from datetime import date, datetime

    import plotly.express as px
    from playwright.sync_api import sync_playwright

    one_date = px.line(x=[date(2026, 10, 31)] * 3, y=[0.1, 0.2, 0.3], title="one date")
    instant = datetime(2026, 12, 5, 19, 47, 7, 922103)
    one_run = px.scatter(x=[instant, instant], y=[3, 21], title="one run")
    crowded = px.scatter(
        x=[0, 0.02, 1], y=[0, 0, 0], text=["gold.customer_lifetime_value", "gold.fact_sales", ""]
    ).update_layout(title="crowded")
    page_html = "".join(
        f.to_html(full_html=False, include_plotlyjs=(i == 0))
        for i, f in enumerate((one_date, one_run, crowded))
    )
    (tmp_path / "old.html").write_text(f"<html><body>{page_html}</body></html>")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.goto((tmp_path / "old.html").as_uri())
        found = problems(drawn(page, 3))
        browser.close()
    assert any(f.startswith("one date: xaxis spans") for f in found), found
    assert any(f.startswith("one run: xaxis spans") for f in found), found
    assert any(f.startswith("crowded: labels collide") for f in found), found
