"""The shoplake command end to end, in-process (typer's runner), on small data."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from shoplake.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", "--dir", str(folder), "--orders", "300", "--seed", "3"])
    assert result.exit_code == 0, result.output
    return folder


def test_demo_prints_tables_rules_and_kpis(demo_dir: Path) -> None:
    result = runner.invoke(app, ["tables", "--lake", str(demo_dir / "lake")])
    assert result.exit_code == 0, result.output
    for ref in ("bronze", "silver", "gold", "quarantine", "event_log", "executive_kpis"):
        assert ref in result.output
    # One write, then the table's owner and tags (Delta takes no custom property at creation).
    history = DeltaTable(str(demo_dir / "lake" / "gold" / "executive_kpis")).history()
    assert [c["operation"] for c in history] == ["SET TBLPROPERTIES", "WRITE"]


def test_second_run_is_a_no_op(demo_dir: Path) -> None:
    lake, landing = demo_dir / "lake", demo_dir / "landing"
    tables = [p for layer in lake.iterdir() for p in layer.iterdir() if (p / "_delta_log").is_dir()]
    before = {p: DeltaTable(str(p)).version() for p in tables}
    result = runner.invoke(app, ["run", "--lake", str(lake), "--landing", str(landing)])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output
    assert {p: DeltaTable(str(p)).version() for p in tables} == before


def test_events_show_the_latest_run(demo_dir: Path) -> None:
    result = runner.invoke(app, ["events", "--lake", str(demo_dir / "lake")])
    assert result.exit_code == 0, result.output
    assert "run_start" in result.output and "run_end" in result.output
    assert "silver.orders" in result.output
    runs = runner.invoke(app, ["events", "--lake", str(demo_dir / "lake"), "--runs"])
    assert "completed" in runs.output


def test_validate_reports_a_misspelled_column_by_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "badshop.py").write_text(
        textwrap.dedent(
            """
            import narwhals as nw
            from shoplake import Pipeline, Upsert

            pipeline = Pipeline("bad")
            pipeline.source("orders", format="csv", columns=["order_id", "amount"])

            @pipeline.table(layer="silver", kind=Upsert(keys=["order_id"]))
            def orders(bronze_orders):
                return bronze_orders.with_columns(nw.col("amuont").cast(nw.Float64))

            @pipeline.table(layer="gold")
            def total(silver_orders, silver_refunds):
                return silver_orders
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("badshop", None)
    result = runner.invoke(
        app, ["validate", "--pipeline", "badshop:pipeline", "--lake", str(tmp_path / "lake")]
    )
    assert result.exit_code == 1
    assert "gold.total: parameter 'silver_refunds' names no table" in result.output
    assert not (tmp_path / "lake").exists()

    (tmp_path / "badshop.py").write_text(
        (tmp_path / "badshop.py").read_text().replace(", silver_refunds", "")
    )
    sys.modules.pop("badshop", None)
    result = runner.invoke(
        app, ["validate", "--pipeline", "badshop:pipeline", "--lake", str(tmp_path / "lake")]
    )
    assert result.exit_code == 1
    assert "silver.orders: ColumnNotFoundError" in result.output
    assert "amuont" in result.output


def test_errors_are_short_and_red(tmp_path: Path) -> None:
    args = ["run", "--landing", str(tmp_path), "--pipeline", "nosuchmodule:thing"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "Error:" in result.output and "nosuchmodule" in result.output
    assert "Traceback" not in result.output


def test_demo_moves_ingested_landing_files_to_the_archive(demo_dir: Path) -> None:
    left = [p for p in (demo_dir / "landing").rglob("*") if p.is_file()]
    # The generator's own records stay.
    assert sorted(p.name for p in left) == ["catalog.json", "manifest.json"]
    archive = demo_dir / "archive"
    archived = [p.relative_to(archive).parts for p in archive.rglob("*") if p.is_file()]
    assert len(archived) >= 6
    for day, _batch, source, _name in archived:  # <date>/<batch>/<source>/<file>
        assert len(day) == 10 and day[4] == "-" and source in {
            "regions", "customers", "products", "orders", "order_items", "returns",
            "inventory", "shipments",
        }  # fmt: skip
    listing = runner.invoke(app, ["batches", "--lake", str(demo_dir / "lake")])
    assert listing.exit_code == 0 and "succeeded" in listing.output


def test_generate_writes_daily_snapshots_on_request(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    args = ["generate", "--landing", str(landing), "--orders", "200", "--snapshot-days", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for source in ("customers", "products"):
        days = {p.name.split("-")[2] for p in (landing / source).glob(f"{source}-snapshot-*")}
        assert len(days) == 2, sorted(p.name for p in (landing / source).iterdir())
    elsewhere = str(tmp_path / "x")
    bad = runner.invoke(app, ["generate", "--landing", elsewhere, "--snapshot-days", "-1"])
    assert bad.exit_code != 0
