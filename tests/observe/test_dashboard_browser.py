"""The dashboard in a real headless Chromium: values, a filter, live refresh, no internet."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest
from browser import ARGS, ARTIFACTS, CHROMIUM, dashboard
from observe_shop import Shop

from shoplake.dashboard import business as b

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)"
)


@pytest.fixture
def served(fresh_shop: Shop) -> Iterator[tuple[Shop, str]]:
    with dashboard(fresh_shop.lake, fresh_shop.landing) as url:
        yield fresh_shop, url


@pytest.mark.slow  # ~10-17 s: a real subprocess, broker or browser
def test_dashboard_shows_gold_values_filters_and_refreshes_live(
    served: tuple[Shop, str],
) -> None:
    from playwright.sync_api import sync_playwright

    shop, url = served
    ARTIFACTS.mkdir(exist_ok=True)
    kpis = pl.read_delta(str(shop.lake / "gold" / "executive_kpis"))
    overall = kpis.filter(pl.col("scope") == "overall").row(0, named=True)
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.on(
            "request",
            lambda r: (
                outside.append(r.url)
                if not r.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:"))
                else None
            ),
        )
        navigations: list[str] = []
        page.on(
            "framenavigated", lambda f: navigations.append(f.url) if f == page.main_frame else None
        )
        page.goto(url)
        values = page.locator('[data-testid="stMetricValue"]')
        values.first.wait_for(timeout=20_000)
        page.get_by_text("Orders by weekday and hour").first.wait_for(timeout=20_000)
        shown = values.all_inner_texts()
        # The KPI cards show exactly the gold table's numbers.
        expected = [
            b.money(overall["revenue"]),
            b.count(overall["orders"]),
            b.count(overall["customers"]),
            b.money(overall["avg_order_value"]),
            b.pct(overall["completion_rate"]),
            b.pct(overall["return_rate"]),
        ]
        assert shown[:6] == expected
        page.screenshot(path=str(ARTIFACTS / "dashboard-business.png"))

        # A category filter changes the revenue chart.
        category = pl.read_delta(str(shop.lake / "gold" / "category_sales"))["category"].min()
        assert page.locator(".gtitle", has_text=f"Monthly revenue — {category}").count() == 0
        page.locator('[data-testid="stMultiSelect"]').first.click()
        page.get_by_role("option", name=category).click()
        page.locator(".gtitle", has_text=f"Monthly revenue — {category}").first.wait_for(
            timeout=10_000
        )
        page.keyboard.press("Escape")
        page.screenshot(path=str(ARTIFACTS / "dashboard-filtered.png"))

        # A new run's data appears without a reload.
        before = len(navigations)
        shop.land_the_rest()
        assert shop.run().status == "completed"
        after = pl.read_delta(str(shop.lake / "gold" / "executive_kpis"))
        new_revenue = after.filter(pl.col("scope") == "overall")["revenue"][0]
        assert new_revenue != overall["revenue"]
        page.locator('[data-testid="stMetricValue"]', has_text=b.money(new_revenue)).wait_for(
            timeout=15_000
        )
        assert len(navigations) == before  # no reload happened
        page.screenshot(path=str(ARTIFACTS / "dashboard-after-run.png"))

        page.get_by_text("Pipeline", exact=True).click()
        page.get_by_text("Table dependency graph").first.wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "dashboard-pipeline.png"))

        # The catalog section: the tables' owners and PII columns, and a lineage graph.
        page.get_by_text("Catalog", exact=True).first.wait_for(timeout=10_000)
        lineage = page.locator(".gtitle", has_text="Lineage of").first
        lineage.wait_for(timeout=10_000)
        lineage.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "dashboard-catalog.png"))
        html = page.content()
        people = pl.read_delta(str(shop.lake / "silver" / "customers"))
        raw = [*people["email"].drop_nulls(), *people["phone"].drop_nulls()]
        assert [value for value in raw if value in html] == []
        browser.close()
    assert outside == []  # everything the page loads comes from the local server
