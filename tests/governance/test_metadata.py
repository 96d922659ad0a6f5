"""Declared metadata is stored where every Delta reader sees it, and a changed declaration
is a metadata-only commit on the next run."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable
from governed_shop import CUSTOMERS, ORDERS, build

from shoplake import Column, DefinitionError, Pipeline
from shoplake.testing import TempLake


def _landed(lake: TempLake) -> TempLake:
    lake.land("customers", CUSTOMERS)
    lake.land("orders", ORDERS)
    return lake


def test_description_owner_tags_and_column_metadata_are_in_the_delta_table(
    tmp_path: Path,
) -> None:
    with _landed(TempLake(build(), root=tmp_path)) as lake:
        assert lake.run().status == "completed"
        table = DeltaTable(str(lake.lake / "silver" / "customers"))
        meta = table.metadata()
        assert meta.description == "One row per customer."
        assert meta.configuration["shoplake.owner"] == "crm-team"
        assert meta.configuration["shoplake.tag.domain"] == "crm"
        fields = {f["name"]: f["metadata"] for f in json.loads(table.schema().to_json())["fields"]}
        assert fields["email"] == {"comment": "Customer e-mail", "shoplake.pii": "email"}
        assert fields["customer_id"] == {"comment": "Customer id"}
        # Bronze carries the source's declaration.
        bronze = DeltaTable(str(lake.lake / "bronze" / "customers"))
        bronze_fields = json.loads(bronze.schema().to_json())["fields"]
        assert {f["name"]: f["metadata"].get("shoplake.pii") for f in bronze_fields}["name"] == (
            "name"
        )
        assert bronze.metadata().description == "customers as received"
        # The first run creates the table with its description and comments: only the
        # properties take a commit of their own.
        assert [c["operation"] for c in table.history()] == ["SET TBLPROPERTIES", "WRITE"]


def _log_metadata_sql(table: Path) -> str:
    """The table's newest metaData action, read from its log by plain SQL."""
    log = (table / "_delta_log").as_posix()
    return (
        "SELECT metaData.description AS description, metaData.configuration AS properties, "
        "metaData.schemaString AS schema "
        f"FROM read_json_auto('{log}/*.json', filename = true, union_by_name = true) "
        "WHERE metaData IS NOT NULL ORDER BY filename DESC LIMIT 1"
    )


def test_duckdb_and_polars_read_what_shoplake_wrote(tmp_path: Path) -> None:
    with _landed(TempLake(build(), root=tmp_path)) as lake:
        lake.run()
        table = lake.lake / "silver" / "customers"
        con = duckdb.connect()
        description, properties, schema = con.sql(_log_metadata_sql(table)).fetchone()
        assert description == "One row per customer."
        assert properties["shoplake.owner"] == "crm-team"
        email = next(f for f in json.loads(schema)["fields"] if f["name"] == "email")
        assert email["metadata"]["comment"] == "Customer e-mail"
        # Polars reads the same log, and the rows through scan_delta are untouched.
        log = pl.concat(
            [pl.read_ndjson(p) for p in sorted((table / "_delta_log").glob("*.json"))],
            how="diagonal_relaxed",
        )
        latest = log.filter(pl.col("metaData").is_not_null())["metaData"][-1]
        assert latest["description"] == "One row per customer."
        assert pl.read_delta(str(table)).height == 2


def test_duckdb_delta_extension_reads_the_described_tables(tmp_path: Path) -> None:
    extension = pytest.importorskip("duckdb_extension_delta")
    found = sorted(Path(extension.__path__[0]).glob("extensions/*/delta.duckdb_extension"))
    if not found:
        pytest.skip("duckdb-extension-delta ships no extension for this platform")
    with _landed(TempLake(build(), root=tmp_path)) as lake:
        lake.run()
        con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
        con.execute(f"LOAD '{found[-1]}'")
        uri = (lake.lake / "silver" / "customers").as_posix()
        rows = con.sql(f"SELECT email FROM delta_scan('{uri}') ORDER BY 1").fetchall()
        assert rows == [("ada@example.com",), ("alan@example.org",)]


def _data_files(table: DeltaTable) -> set[str]:
    return set(table.file_uris())


def test_a_changed_declaration_is_a_metadata_only_commit(tmp_path: Path) -> None:
    with _landed(TempLake(build(), root=tmp_path)) as lake:
        lake.run()
        path = str(lake.lake / "silver" / "customers")
        before = DeltaTable(path)
        version, files = before.version(), _data_files(before)

        lake.pipeline = build(tags={"domain": "crm", "tier": "gold"}, email_comment="Contact")
        assert lake.run().status == "completed"
        after = DeltaTable(path)
        assert _data_files(after) == files
        new = after.history(limit=after.version() - version)
        assert sorted(c["operation"] for c in new) == [
            "SET TBLPROPERTIES",
            "UPDATE FIELD METADATA",
        ]
        assert after.metadata().configuration["shoplake.tag.tier"] == "gold"
        email = next(
            f for f in json.loads(after.schema().to_json())["fields"] if f["name"] == "email"
        )
        assert email["metadata"]["comment"] == "Contact"

        # Nothing changed: no commit at all.
        lake.run()
        assert DeltaTable(path).version() == after.version()

        # A removed tag is cleared.
        lake.pipeline = build(tags={"domain": "crm"}, email_comment="Contact")
        lake.run()
        assert DeltaTable(path).metadata().configuration.get("shoplake.tag.tier") in (None, "")


def test_metadata_mistakes_are_reported_when_declared() -> None:
    with pytest.raises(DefinitionError, match="lower_snake_case"):
        Column("x", pii="E-Mail")
    with pytest.raises(DefinitionError, match=r"layer\.table\.column"):
        Column("x", lineage=["orders.amount"])
    q = Pipeline("q")
    with pytest.raises(DefinitionError, match="columns\\['x'\\] must be Column"):
        q.table(layer="silver", name="t", columns={"x": "text"})(lambda: None)  # type: ignore[dict-item]


def test_shoplake_sql_shows_the_comments_to_duckdb(tmp_path: Path) -> None:
    from shoplake.observe.lake import LakeReader
    from shoplake.observe.sql import LakeSql

    with _landed(TempLake(build(), root=tmp_path)) as lake:
        lake.run()
        with LakeSql(LakeReader(str(lake.lake))) as sql:
            views = sql.query(
                "SELECT comment FROM duckdb_views() "
                "WHERE schema_name = 'silver' AND view_name = 'customers'"
            ).to_pylist()
            columns = sql.query(
                "SELECT column_name, comment FROM duckdb_columns() "
                "WHERE schema_name = 'silver' AND table_name = 'customers' ORDER BY column_name"
            ).to_pylist()
    assert views == [{"comment": "One row per customer."}]
    assert {"column_name": "email", "comment": "Customer e-mail"} in columns
