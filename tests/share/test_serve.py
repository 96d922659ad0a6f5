"""`shoplake serve` with real Unity Catalog clients: Polars' pl.Catalog, DuckDB's
unity_catalog extension and unitycatalog-client; the SQL endpoint; who sees what."""

from __future__ import annotations

import asyncio
import glob
import site
import time
import warnings
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pyarrow as pa
import pytest
from serve_harness import Served
from typer.testing import CliRunner

from shoplake.cli import app

UC = "/api/2.1/unity-catalog"
SQL = "/api/shoplake/v1/sql"


def _sql(served: Served, who: str, query: str, **extra: object) -> httpx.Response:
    body = {"query": query, **extra}
    return httpx.post(f"{served.url}{SQL}", json=body, headers=served.headers(who), timeout=30)


def test_polars_catalog_lists_and_scans_only_what_the_token_may(served: Served) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pl.Catalog is marked unstable
        catalog = pl.Catalog(served.url, bearer_token=served.tokens["analyst"], require_https=False)
    assert [c.name for c in catalog.list_catalogs()] == ["shoplake"]
    assert [n.name for n in catalog.list_namespaces("shoplake")] == ["gold"]
    tables = {t.name for t in catalog.list_tables("shoplake", "gold")}
    assert {"monthly_revenue", "fact_sales", "dim_customer"} <= tables
    scanned = catalog.scan_table("shoplake", "gold", "monthly_revenue").collect()
    expected = pl.read_delta(str(served.lake / "gold" / "monthly_revenue"))
    assert scanned.sort("month").equals(expected.sort("month"))
    with pytest.raises(Exception, match="404"):
        catalog.get_table_info("shoplake", "silver", "customers")


def _extension(name: str) -> str:
    found = glob.glob(
        f"{site.getsitepackages()[0]}/duckdb_extension_{name}/extensions/*/*.duckdb_extension"
    )
    assert found, f"duckdb-extension-{name} is not installed"
    return found[0]


def test_duckdb_unity_catalog_extension_attaches_and_queries_a_gold_table(
    served: Served,
) -> None:
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    for name in ("httpfs", "delta", "unity_catalog"):
        con.execute(f"LOAD '{_extension(name)}'")
    con.execute(
        f"CREATE SECRET (TYPE UNITY_CATALOG, TOKEN '{served.tokens['analyst']}', "
        f"ENDPOINT '{served.url}', AWS_REGION 'us-east-1')"
    )
    con.execute("ATTACH 'shoplake' AS uc (TYPE UNITY_CATALOG)")
    schemas = con.execute("SELECT schema_name FROM duckdb_schemas() WHERE database_name = 'uc'")
    assert {row[0] for row in schemas.fetchall()} == {"gold"}
    row = con.execute("SELECT count(*), round(sum(revenue), 2) FROM uc.gold.monthly_revenue")
    count, revenue = row.fetchone()  # type: ignore[misc]
    # (The extension loads a schema's tables lazily: right after ATTACH, SHOW ALL TABLES
    # can come back empty once; after a query it lists them.)
    listed = {row[2] for row in con.execute("SHOW ALL TABLES").fetchall()}
    assert {"monthly_revenue", "fact_sales"} <= listed
    expected = pl.read_delta(str(served.lake / "gold" / "monthly_revenue"))
    assert count == expected.height
    assert revenue == pytest.approx(round(expected["revenue"].sum(), 2))
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT count(*) FROM uc.silver.customers")


def test_unitycatalog_client_lists_tables_and_is_refused_the_rest(served: Served) -> None:
    from unitycatalog.client import ApiClient, Configuration, TablesApi
    from unitycatalog.client.exceptions import ApiException

    async def talk() -> tuple[list[str], int]:
        conf = Configuration(host=f"{served.url}{UC}")
        bearer = f"Bearer {served.tokens['analyst']}"
        async with ApiClient(conf, header_name="Authorization", header_value=bearer) as client:
            api = TablesApi(client)
            listed = await api.list_tables(catalog_name="shoplake", schema_name="gold")
            try:
                await api.get_table(full_name="shoplake.silver.customers")
            except ApiException as err:
                return [t.name for t in listed.tables or []], int(err.status or 0)
        return [], 0

    names, refused = asyncio.run(talk())
    assert "fact_sales" in names and refused == 404  # absent and forbidden alike


def test_sql_masks_pii_for_an_analyst_and_not_for_a_pii_holder(served: Served) -> None:
    query = "SELECT customer_id, first_name, email FROM gold.dim_customer ORDER BY customer_id"
    masked = _sql(served, "analyst", query).json()
    clear = _sql(served, "owner", query).json()
    stored = pl.read_delta(str(served.lake / "gold" / "dim_customer"))
    real_emails = set(stored["email"].drop_nulls())
    assert masked["row_count"] == clear["row_count"] > 0
    assert not {row[2] for row in masked["rows"]} & real_emails
    assert all(row[1] in (None, "***") for row in masked["rows"])
    assert {row[2] for row in clear["rows"]} <= real_emails | {None}
    assert masked["columns"][2] == {"name": "email", "type": "string"}


def test_sql_answers_arrow_and_cuts_at_the_row_limit(served: Served) -> None:
    response = httpx.post(
        f"{served.url}{SQL}",
        json={"query": "SELECT * FROM gold.fact_sales"},
        headers={**served.headers("analyst"), "Accept": "application/vnd.apache.arrow.stream"},
        timeout=30,
    )
    assert response.status_code == 200
    table = pa.ipc.open_stream(response.content).read_all()
    facts = pl.read_delta(str(served.lake / "gold" / "fact_sales")).height
    assert table.num_rows == min(facts, 500)
    assert response.headers["x-shoplake-truncated"] == str(facts > 500).lower()
    small = _sql(served, "analyst", "SELECT * FROM gold.dim_date", max_rows=3).json()
    assert small["row_count"] == 3 and small["truncated"] is True


def test_a_slow_query_is_stopped_with_a_clear_message(served: Served) -> None:
    dates = ", ".join(f"gold.dim_date {alias}" for alias in "abcd")
    heavy = f"SELECT count(*) FROM {dates}"  # 365^4 rows
    started = time.monotonic()
    response = _sql(served, "analyst", heavy)
    assert response.status_code == 408
    assert "longer than 2 s" in response.json()["message"]
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM silver.customers",
        "SELECT * FROM read_parquet('lake/silver/customers/*.parquet')",
        "SELECT * FROM delta_scan('lake/silver/customers')",
        "ATTACH 'other.duckdb' AS other",
        "COPY (SELECT * FROM gold.dim_customer) TO '/tmp/leak.csv'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM duckdb_views()",
        "SELECT table_name FROM information_schema.tables",
        "SELECT 1; SELECT 2",
        "SELECT * FROM gold.fact_sales WHERE customer_sk IN (SELECT 1 FROM silver.customers)",
        "WITH c AS (SELECT * FROM silver.customers) SELECT * FROM c",
    ],
)
def test_sql_reaching_beyond_the_grants_is_refused(served: Served, query: str) -> None:
    response = _sql(served, "analyst", query)
    assert response.status_code in (400, 403), response.text
    assert response.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "PERMISSION_DENIED")
    assert not Path("/tmp/leak.csv").exists()


def test_missing_wrong_and_ungranted_tokens(served: Served) -> None:
    tables = f"{served.url}{UC}/tables?catalog_name=shoplake&schema_name=gold"
    assert httpx.get(tables).status_code == 401
    wrong = served.tokens["analyst"][:-4] + "AAAA"
    assert httpx.get(tables, headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    assert httpx.get(tables, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    nothing = httpx.get(tables, headers=served.headers("nobody")).json()
    assert nothing["tables"] == []
    table = f"{served.url}{UC}/tables/shoplake.gold.fact_sales"
    hidden = httpx.get(table, headers=served.headers("nobody"))
    absent = httpx.get(f"{table}_nope", headers=served.headers("nobody"))
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["error_code"] == absent.json()["error_code"] == "TABLE_DOES_NOT_EXIST"
    assert httpx.get(table, headers=served.headers("analyst")).status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "shoplake.gold..fact_sales",
        "shoplake.gold.fact_sales%2F..%2Fsilver",
        "shoplake.gold.x'y",
        'shoplake.gold."x"',
        "shoplake.gold.x;DROP TABLE y",
        "shoplake..gold",
    ],
)
def test_bad_table_names_are_a_400(served: Served, name: str) -> None:
    response = httpx.get(f"{served.url}{UC}/tables/{name}", headers=served.headers("owner"))
    assert response.status_code == 400, response.text


def test_temporary_credentials_say_plainly_a_local_lake_is_not_controlled(
    served: Served,
) -> None:
    info = httpx.get(
        f"{served.url}{UC}/tables/shoplake.gold.fact_sales", headers=served.headers("analyst")
    ).json()
    answer = httpx.post(
        f"{served.url}{UC}/temporary-table-credentials",
        json={"table_id": info["table_id"], "operation": "READ"},
        headers=served.headers("analyst"),
    )
    assert answer.status_code == 400
    assert "does not control file access" in answer.json()["message"]


def test_a_revoked_token_or_grant_stops_working_at_once(served: Served) -> None:
    table = f"{served.url}{UC}/tables/shoplake.gold.fact_sales"
    assert httpx.get(table, headers=served.headers("leaver")).status_code == 200
    lake = str(served.lake)
    taken = CliRunner().invoke(app, ["revoke", "leaver", "SELECT", "gold.*", "--lake", lake])
    assert taken.exit_code == 0, taken.output
    assert httpx.get(table, headers=served.headers("leaver")).status_code == 404
    gone = CliRunner().invoke(app, ["token", "revoke", "leaver", "--lake", lake])
    assert gone.exit_code == 0, gone.output
    assert httpx.get(table, headers=served.headers("leaver")).status_code == 401


def test_every_request_is_audited_and_no_token_is_kept_anywhere(served: Served) -> None:
    _sql(served, "analyst", "SELECT count(*) FROM gold.fact_sales")
    _sql(served, "analyst", "SELECT * FROM silver.customers")
    for path in (
        "catalogs",
        "schemas?catalog_name=shoplake",
        "tables?catalog_name=shoplake&schema_name=gold",
        "tables/shoplake.gold.fact_sales",
        "tables/shoplake.silver.customers",
    ):
        httpx.get(f"{served.url}{UC}/{path}", headers=served.headers("analyst"))
    httpx.get(f"{served.url}{UC}/catalogs")
    deadline = time.monotonic() + 15
    while True:
        audit_path = served.lake / "_system" / "audit"
        audit = pl.read_delta(str(audit_path)) if (audit_path / "_delta_log").is_dir() else None
        # Wait for this test's own anonymous request (the dashboard test's refusals are
        # audited as "anonymous" too, by another process).
        mine = (pl.col("principal") == "anonymous") & (pl.col("action") != "dashboard")
        if audit is not None and audit.filter(mine).height:
            break
        assert time.monotonic() < deadline, "the audit log was not written"
        time.sleep(0.3)
    analyst = audit.filter(pl.col("principal") == "analyst")
    assert {"list_catalogs", "list_schemas", "list_tables", "get_table", "query"} <= set(
        analyst["action"]
    )
    refused = analyst.filter(pl.col("action") == "get_table", ~pl.col("allowed"))
    assert refused.filter(pl.col("tables").list.contains("silver.customers")).height >= 1
    queries = analyst.filter(pl.col("action") == "query")
    allowed = queries.filter(pl.col("allowed"))
    assert allowed.filter(pl.col("tables").list.contains("gold.fact_sales")).height >= 1
    denied = queries.filter(~pl.col("allowed"), pl.col("tables").list.contains("silver.customers"))
    assert denied.height >= 1 and set(denied["status"]) == {403}
    # Anonymous calls to the endpoints are 401s (/health, unknown routes and refused
    # bodies are audited too, under actions of their own).
    endpoints = ["list_catalogs", "list_schemas", "list_tables", "get_table", "query"]
    anonymous = audit.filter(pl.col("principal") == "anonymous", pl.col("action").is_in(endpoints))
    assert anonymous["status"].unique().to_list() == [401]
    for token in served.tokens.values():
        secret = token.split("_", 2)[2]  # slk_<id>_<secret>
        assert len(secret) > 20
        for path in served.lake.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
        assert secret not in served.log.read_text()


def test_grant_commands_explain_bad_input_in_one_line(served: Served) -> None:
    lake = str(served.lake)
    bad = CliRunner().invoke(app, ["grant", "analyst", "DELETE", "gold.*", "--lake", lake])
    assert bad.exit_code != 0
    assert "privilege 'DELETE': use one of SELECT, PII" in bad.output
    assert "Traceback" not in bad.output
    odd = CliRunner().invoke(app, ["grant", "analyst", "SELECT", "gold/../x", "--lake", lake])
    assert odd.exit_code != 0 and "write *, layer.* or layer.table" in odd.output
    listed = CliRunner().invoke(app, ["grants", "analyst", "--lake", lake])
    assert "gold.*" in listed.output


def test_serve_refuses_a_busy_port_and_a_bad_catalog_in_one_line(served: Served) -> None:
    port = int(served.url.rsplit(":", 1)[1])  # the session's server holds it
    busy = CliRunner().invoke(app, ["serve", "--lake", str(served.lake), "--port", str(port)])
    assert busy.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in busy.output and "--port" in busy.output
    assert "Traceback" not in busy.output
    bad = CliRunner().invoke(app, ["serve", "--lake", str(served.lake), "--catalog", "a b"])
    assert bad.exit_code == 1 and "--catalog 'a b': use letters, digits and _" in bad.output
