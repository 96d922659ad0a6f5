"""The dashboard's catalog section: the listing, one table's columns and its lineage graph."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

from shoplake.dashboard.catalog_view import catalog_frame, columns_frame, lineage_graph
from shoplake.ecommerce.pipeline import build_pipeline
from shoplake.governance.catalog import show_table
from shoplake.governance.lineage import with_column_lineage
from shoplake.observe.lake import LakeReader
from shoplake.pipeline.graph import build_graph


def test_the_catalog_page_lists_tables_and_draws_the_lineage(demo_lake: Path) -> None:
    lake = LakeReader(str(demo_lake))
    listing = catalog_frame(lake)
    customers = listing.filter(listing["table"] == "silver.customers").row(0, named=True)
    assert customers["owner"] == "customer-data"
    assert "email:email" in customers["pii"]

    graph = build_graph(build_pipeline())
    detail = with_column_lineage(
        lake.engine, graph, show_table(lake.engine, "gold.monthly_revenue", graph)
    )
    columns = columns_frame(detail)
    revenue = columns.filter(columns["column"] == "revenue").row(0, named=True)
    assert "silver.order_items.line_amount" in revenue["computed from"]
    assert revenue["lineage"] == "derived"

    figure = lineage_graph(graph, "silver.orders")
    shown = set(figure.data[1].hovertext)  # the labels drop the layer; hover names it
    assert {"bronze.orders", "silver.orders", "gold.monthly_revenue"} <= shown
    assert "bronze.products" not in shown  # not upstream or downstream of orders


def test_the_dashboard_draws_the_catalog_and_shows_no_raw_pii(
    demo_lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    import shoplake.dashboard

    landing = demo_lake.parent / "landing"
    monkeypatch.setattr(sys, "argv", ["app", "--lake", str(demo_lake), "--landing", str(landing)])
    script = Path(shoplake.dashboard.__file__).parent / "app.py"  # importing it would run it
    at = AppTest.from_file(str(script), default_timeout=120)
    at.run()
    shown = [frame.value for frame in at.dataframe]
    at.radio(key="view").set_value("Pipeline").run()
    assert not at.exception
    assert "Catalog" in [s.value for s in at.subheader]
    at.selectbox(key="catalog_table").set_value("silver.customers").run()
    assert not at.exception
    shown += [frame.value for frame in at.dataframe]
    text = "\n".join(frame.to_csv() for frame in shown)
    assert "E-mail address" in text  # the chosen table's column comments
    emails = pl.read_delta(str(demo_lake / "silver" / "customers"))["email"].drop_nulls()
    assert [e for e in emails.to_list() if e in text] == []
