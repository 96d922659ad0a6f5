"""``shoplake catalog``: the tables with owner, tags and PII columns; ``catalog show`` one
table with its columns, classes, lineage and neighbours."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from shoplake.cli import app
from shoplake.ecommerce.pipeline import build_pipeline
from shoplake.engines import create_engine
from shoplake.governance.catalog import list_catalog, show_table
from shoplake.governance.lineage import DECLARED, DERIVED, column_lineage
from shoplake.pipeline.graph import build_graph

runner = CliRunner()


def test_every_ecommerce_table_is_described_owned_and_classified(demo_lake: Path) -> None:
    entries = {e.ref: e for e in list_catalog(create_engine(str(demo_lake)))}
    assert {"bronze.customers", "silver.customers", "gold.monthly_revenue"} <= set(entries)
    for entry in entries.values():
        assert entry.description, entry.ref
        assert entry.owner, entry.ref
        assert entry.tags["domain"], entry.ref
    assert entries["silver.customers"].pii == {
        "first_name": "name",
        "last_name": "name",
        "email": "email",
        "phone": "phone",
    }
    assert entries["bronze.customers"].pii["email"] == "email"  # inherited from the source
    assert entries["silver.orders"].pii == {}  # ids and money are not personal data
    assert entries["gold.dim_customer"].pii["email"] == "email"


def test_catalog_lists_layer_owner_rows_version_and_pii(demo_lake: Path) -> None:
    result = runner.invoke(app, ["catalog", "--lake", str(demo_lake)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, ln in enumerate(lines) if "│ customers " in ln and "silver" in ln)
    assert "customer-data" in lines[at] and "domain=customers" in lines[at]
    assert " ago" in lines[at]
    row = "".join(lines[at : at + 4])  # a long cell wraps onto the next lines
    assert "email:email" in row and "phone:phone" in row


def test_catalog_show_has_columns_classes_and_neighbours(demo_lake: Path) -> None:
    result = runner.invoke(app, ["catalog", "show", "silver.customers", "--lake", str(demo_lake)])
    assert result.exit_code == 0, result.output
    assert "owner customer-data" in result.output
    assert "upstream: bronze.customers" in result.output
    downstream = next(ln for ln in result.output.splitlines() if ln.startswith("downstream:"))
    assert "gold.dim_customer" in downstream and "silver.orders" in downstream
    email = next(ln for ln in result.output.splitlines() if ln.startswith("│ email "))
    assert "│ email " in email and "E-mail address" in email
    assert "bronze.customers.email" in email


def test_an_unknown_table_is_one_line(demo_lake: Path) -> None:
    result = runner.invoke(app, ["catalog", "show", "silver.nope", "--lake", str(demo_lake)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no table 'silver.nope' in the lake; the tables are:")
    assert len(result.output.strip().splitlines()) == 1


def test_column_lineage_is_derived_from_the_code(demo_lake: Path) -> None:
    engine = create_engine(str(demo_lake))
    graph = build_graph(build_pipeline())
    revenue = column_lineage(engine, graph, "gold.monthly_revenue")["revenue"]
    assert revenue.source == DERIVED
    assert "silver.order_items.line_amount" in revenue.inputs
    assert "silver.orders.status" in revenue.inputs  # cancelled orders are filtered out
    assert "silver.customers.email" not in revenue.inputs
    detail = show_table(engine, "gold.monthly_revenue", graph)
    assert detail.upstream == ["silver.order_items", "silver.orders"]


class _Unprobed:
    """The lake's engine without plan probing, as on Spark."""

    def __init__(self, engine: object) -> None:
        self._engine = engine

    def lineage_probe(self, schema: object, seen: object) -> None:
        return None

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)


def test_declared_lineage_stands_in_where_the_engine_cannot_derive(demo_lake: Path) -> None:
    engine = _Unprobed(create_engine(str(demo_lake)))
    graph = build_graph(build_pipeline())
    lineage = column_lineage(engine, graph, "gold.monthly_revenue")  # type: ignore[arg-type]
    assert set(lineage) == {"revenue"}  # only what the table declares
    assert lineage["revenue"].source == DECLARED
    assert "silver.orders.status" in lineage["revenue"].inputs


def test_every_silver_and_gold_column_has_derived_lineage(demo_lake: Path) -> None:
    engine = create_engine(str(demo_lake))
    graph = build_graph(build_pipeline())
    missing = []
    for ref in engine.list_tables():
        if ref.partition(".")[0] not in ("silver", "gold"):
            continue
        lineage = column_lineage(engine, graph, ref)
        for column in engine.read(ref).collect_schema():
            found = lineage.get(column)
            if found is None or not found.inputs or found.source != DERIVED:
                missing.append(f"{ref}.{column}")
    assert missing == []
    scd = column_lineage(engine, graph, "silver.customers")["valid_from"]
    assert scd.inputs == ("bronze.customers.customer_id", "bronze.customers.updated_at")
