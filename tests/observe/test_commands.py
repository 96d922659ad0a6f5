"""report, sql, status and masking: what a user sees from the observability commands."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
from observe_shop import Shop
from typer.testing import CliRunner

from shoplake.cli import app
from shoplake.dashboard import business as b
from shoplake.observe.redact import clean_text

runner = CliRunner()


def test_report_is_one_self_contained_html_file(shop: Shop, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "--lake", str(shop.lake), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js is inlined, no CDN
    assert html.count("Plotly.newPlot") >= 5
    kpis = pl.read_delta(str(shop.lake / "gold" / "executive_kpis"))
    revenue = kpis.filter(pl.col("scope") == "overall")["revenue"][0]
    assert b.money(revenue) in html
    # Tables that exist get a panel; those that don't explain when they appear.
    assert "<h2>Inventory health</h2>" in html and "Appears when the inventory" not in html
    assert "Appears when the Kafka order-event stream runs" in html
    bad = runner.invoke(app, ["report", "--lake", str(tmp_path / "none"), "--out", str(out)])
    assert bad.exit_code == 1 and "no such folder" in bad.output
    assert "a lake is made by `shoplake run`" in bad.output


def test_sql_prints_writes_and_explains_errors(shop: Shop, tmp_path: Path) -> None:
    lake = str(shop.lake)
    query = "SELECT tier, count(*) AS n FROM gold.customer_segments GROUP BY tier ORDER BY tier"
    result = runner.invoke(app, ["sql", query, "--lake", lake])
    assert result.exit_code == 0, result.output
    segments = pl.read_delta(str(shop.lake / "gold" / "customer_segments"))
    for tier, n in segments.group_by("tier").len().iter_rows():
        assert re.search(rf"{tier}\s+│\s+{n}\b", result.output)
    out = tmp_path / "x.parquet"
    join = (
        "SELECT o.order_id, c.tier FROM silver.orders o "
        "JOIN gold.customer_segments c USING (customer_id)"
    )
    assert runner.invoke(app, ["sql", join, "--lake", lake, "--out", str(out)]).exit_code == 0
    assert pl.read_parquet(out).height > 0
    csv = tmp_path / "y.csv"
    runner.invoke(
        app, ["sql", "SELECT * FROM _system.event_log", "--lake", lake, "--out", str(csv)]
    )
    assert pl.read_csv(csv).height == pl.read_delta(str(shop.lake / "_system" / "event_log")).height
    unknown = runner.invoke(app, ["sql", "SELECT * FROM gold.nope", "--lake", lake])
    assert unknown.exit_code == 1 and "unknown table gold.nope" in unknown.output
    assert "gold.monthly_revenue" in unknown.output  # it lists what exists
    broken = runner.invoke(app, ["sql", "SELEC 1", "--lake", lake])
    assert broken.exit_code == 1 and "the query failed" in broken.output


def test_sql_shell_runs_queries_until_quit(shop: Shop) -> None:
    result = runner.invoke(
        app,
        ["sql", "--lake", str(shop.lake)],
        input="\\d\nSELECT count(*) AS n\nFROM gold.monthly_revenue;\nSELECT * FROM x.y;\n\\q\n",
    )
    assert result.exit_code == 0, result.output
    months = pl.read_delta(str(shop.lake / "gold" / "monthly_revenue")).height
    assert "gold.fraud_alerts" in result.output and f"│ {months} " in result.output
    assert "unknown table x.y" in result.output


def test_status_shows_run_quarantine_and_waiting_files(
    fresh_shop: Shop, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shoplake.toml").write_text('[alerts.sla_minutes]\n"gold.*" = 0\n')
    args = ["status", "--lake", str(fresh_shop.lake), "--landing", str(fresh_shop.landing)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "quality" in result.output
    assert "behind their freshness SLA" in result.output and "gold.executive_kpis" in result.output
    assert "quarantine" in result.output
    fresh_shop.land_the_rest()  # two files land and wait for the next run
    waiting = runner.invoke(app, args).output
    assert re.search(r"orders\s+│\s+1 │", waiting) and re.search(r"order_items\s+│\s+1 │", waiting)


def test_run_checks_alerts_once(fresh_shop: Shop, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "alerts.log"
    (tmp_path / "shoplake.toml").write_text(
        f'[alerts]\nlog_file = "{log}"\nquarantine_share = 0.0\nrules = ["quarantine_share"]\n'
    )
    fresh_shop.land_the_rest()
    args = ["run", "--lake", str(fresh_shop.lake), "--landing", str(fresh_shop.landing)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "alert" in first.output and log.exists()
    lines = len(log.read_text().splitlines())
    check = runner.invoke(app, ["alerts", "check", "--lake", str(fresh_shop.lake)])
    assert "0 new" in check.output and len(log.read_text().splitlines()) == lines


def test_secrets_and_pii_are_masked() -> None:
    text = (
        "s3://AKIA:secretkey@bucket/lake AccountKey=abc123==; password=hunter2 "
        "mail jane.doe@example.com phone +1 (555) 123-4567 on 2026-11-22 10:00:00 total 1320.56"
    )
    cleaned = clean_text(text)
    for secret in ("secretkey", "abc123", "hunter2", "jane.doe@", "123-4567"):
        assert secret not in cleaned
    assert "j***@example.com" in cleaned and "2026-11-22 10:00:00" in cleaned
    assert "1320.56" in cleaned
    assert "jane.doe@example.com" in clean_text(text, pii=False)
    assert "hunter2" not in clean_text(text, pii=False)


def test_optional_panels_render_any_columns_when_the_table_appears(fresh_shop: Shop) -> None:
    from deltalake import write_deltalake

    from shoplake.dashboard.report import build_report
    from shoplake.observe.lake import LakeReader

    shipping = pl.DataFrame(
        {
            "carrier": ["Parcelo", "QuickShip"],
            "shipments": [120, 80],
            "avg_delivery_days": [3.2, 4.1],
            "late_share": [0.05, 0.125],
        }
    )
    table = fresh_shop.lake / "gold" / "shipping_performance"
    shutil.rmtree(table, ignore_errors=True)  # replaced by a table of other columns
    write_deltalake(str(table), shipping.to_arrow())
    html = build_report(LakeReader(str(fresh_shop.lake)))
    assert "Appears when the shipments" not in html
    assert "QuickShip" in html and "12.5%" in html  # a formatted table of its rows
    assert "Appears when the Kafka order-event stream runs" in html  # still absent


def test_a_month_without_orders_shows_no_month_over_month_drop(tmp_path: Path) -> None:
    from datetime import date, datetime

    from deltalake import write_deltalake

    from shoplake.observe.lake import LakeReader

    lake = tmp_path / "lake"
    kpis = pl.DataFrame(
        {
            "scope": ["overall", "current_month"],
            "as_of": [datetime(2026, 11, 22), datetime(2026, 11, 22)],
            "revenue": [1000.0, 0.0],
            "orders": [10, 0],
            "customers": [4, 0],
            "avg_order_value": [100.0, None],
            "completion_rate": [0.9, None],
            "return_rate": [0.1, None],
        }
    )
    months = pl.DataFrame({"month": [date(2026, 9, 1), date(2026, 10, 1)], "revenue": [1.0, 2.0]})
    write_deltalake(str(lake / "gold" / "executive_kpis"), kpis.to_arrow())
    write_deltalake(str(lake / "gold" / "monthly_revenue"), months.to_arrow())
    _, month = b.kpis(LakeReader(str(lake)))
    assert [k.value for k in month][:2] == ["$0.00", "0"]
    assert all(k.delta is None for k in month)  # not "-100.0% vs last month"
