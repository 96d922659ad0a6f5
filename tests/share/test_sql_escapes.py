"""Attempts to leave the SQL endpoint's sandbox: each is refused and audited as refused,
or (the legal forms of the same constructs) answers harmless data only.

The server runs in this process with its working folder holding ``.tmp/planted.csv`` and
``.tmp/planted.parquet``: DuckDB's default temp folder, which external-access-off alone
leaves readable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import duckdb
import polars as pl
import pytest
from serve_harness import PLANTED, Local

from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.governance.masking import MaskingPolicy
from shoplake.share.access import Caller, Grant
from shoplake.share.sandbox import Sandbox
from shoplake.share.sqlcheck import QueryRefused, check_plan

# (id, who, query); {work} is the server's working folder. "owner" holds SELECT:* and PII:*.
ESCAPES = [
    # A CTE declared in a subquery, its name used outside it (the reported escape).
    ("cte-scope-csv", "analyst",
     """SELECT * FROM (WITH ".tmp/planted.csv" AS (SELECT 1 AS a) SELECT 1) s, """
     """'.tmp/planted.csv'"""),
    ("cte-scope-csv-absolute", "analyst",
     """SELECT * FROM (WITH "{work}/.tmp/planted.csv" AS (SELECT 1 AS a) SELECT 1) s, """
     """'{work}/.tmp/planted.csv'"""),
    ("cte-scope-parquet", "analyst",
     """SELECT * FROM (WITH ".tmp/planted.parquet" AS (SELECT 1) SELECT 1) s, """
     """'.tmp/planted.parquet'"""),
    ("cte-scope-pg_settings", "analyst",
     "SELECT * FROM (WITH pg_settings AS (SELECT 1 AS a) SELECT 1) s, pg_settings"),
    ("cte-scope-duckdb_views", "analyst",
     "SELECT * FROM (WITH duckdb_views AS (SELECT 1 AS a) SELECT 1) s, duckdb_views"),
    ("cte-scope-duckdb_databases", "analyst",
     "SELECT * FROM (WITH duckdb_databases AS (SELECT 1) SELECT 1) s, duckdb_databases"),
    ("cte-scope-duckdb_tables", "analyst",
     "SELECT * FROM (WITH duckdb_tables AS (SELECT 1) SELECT 1) s, duckdb_tables"),
    ("cte-scope-in-where", "analyst",
     "SELECT * FROM gold.dim_date WHERE EXISTS (WITH pg_settings AS (SELECT 1) SELECT 1) "
     "AND date_key IN (SELECT length(name) FROM pg_settings)"),
    ("cte-scope-system-table", "owner",
     "SELECT * FROM (WITH tokens AS (SELECT 1) SELECT 1) s, _system.tokens"),
    # Recursive CTEs.
    ("recursive-cte-settings", "analyst",
     "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r, duckdb_settings() "
     "WHERE n < 2) SELECT * FROM r"),
    ("recursive-cte-scope", "analyst",
     "SELECT * FROM (WITH RECURSIVE duckdb_views AS (SELECT 1 AS a) SELECT 1) s, duckdb_views"),
    # Lateral joins.
    ("lateral-databases", "analyst",
     "SELECT * FROM gold.dim_date d, LATERAL (SELECT * FROM duckdb_databases()) x"),
    ("lateral-file", "analyst",
     "SELECT * FROM gold.dim_date d, LATERAL (SELECT * FROM '.tmp/planted.csv') x"),
    # FROM a string literal, and the file functions.
    ("from-csv", "analyst", "SELECT * FROM '.tmp/planted.csv'"),
    ("from-parquet", "analyst", "SELECT * FROM '.tmp/planted.parquet'"),
    ("from-absolute", "analyst", "SELECT * FROM '{work}/.tmp/planted.csv'"),
    ("from-file-csv", "analyst", "FROM 'file.csv'"),
    ("read_csv", "analyst", "SELECT * FROM read_csv('.tmp/planted.csv')"),
    ("read_csv_auto", "analyst", "SELECT * FROM read_csv_auto('{work}/.tmp/planted.csv')"),
    ("read_parquet", "analyst", "SELECT * FROM read_parquet('.tmp/planted.parquet')"),
    ("parquet_metadata", "analyst", "SELECT * FROM parquet_metadata('.tmp/planted.parquet')"),
    ("glob", "analyst", "SELECT * FROM glob('.tmp/*')"),
    ("read_text", "analyst", "SELECT * FROM read_text('.tmp/planted.csv')"),
    ("read_lake", "owner", "SELECT * FROM read_parquet('../lake/_system/tokens/*.parquet')"),
    ("query-function", "analyst", "SELECT * FROM query('SELECT * FROM duckdb_views()')"),
    ("query_table", "analyst", "SELECT * FROM query_table('duckdb_views')"),
    ("arrow_scan", "analyst", "SELECT * FROM arrow_scan(0, 0, 0)"),
    ("mask-udf", "analyst", "SELECT __mask_email('ada@example.com')"),
    # Macros, PIVOT, samples, variables, prepared statements.
    ("create-macro", "analyst", "CREATE MACRO m() AS TABLE SELECT * FROM duckdb_views()"),
    ("create-temp-macro", "analyst", "CREATE TEMP MACRO current_date() AS 1"),
    ("pivot-settings", "analyst",
     "PIVOT (SELECT * FROM duckdb_settings()) ON name IN ('temp_directory') USING first(value)"),
    ("pivot-without-in", "analyst", "PIVOT gold.dim_customer ON segment USING count(*)"),
    ("pivot-file", "analyst", "PIVOT '.tmp/planted.csv' ON secret IN ('x') USING count(*)"),
    ("sample-views", "analyst", "SELECT * FROM duckdb_views() USING SAMPLE 100%"),
    ("sample-file", "analyst", "SELECT * FROM '.tmp/planted.csv' USING SAMPLE 100%"),
    ("getvariable", "analyst", "SELECT getvariable('x')"),
    ("getvariable-scope", "analyst",
     "SELECT * FROM (WITH getvariable AS (SELECT 1) SELECT 1) s WHERE getvariable('x') IS NULL"),
    ("prepare", "analyst", "PREPARE p AS SELECT * FROM duckdb_views()"),
    ("execute", "analyst", "EXECUTE p"),
    ("set-variable", "analyst", "SET VARIABLE x = (SELECT 1)"),
    ("set-temp", "analyst", "SET temp_directory = '/tmp'"),
    ("set-external", "analyst", "SET enable_external_access = true"),
    ("unlock", "analyst", "SET lock_configuration = false"),
    # Statements that write, attach or load.
    ("copy-out", "analyst", "COPY (SELECT * FROM gold.dim_customer) TO '.tmp/leak.csv'"),
    ("copy-in", "analyst", "COPY gold.dim_customer FROM '.tmp/planted.csv'"),
    ("attach", "analyst", "ATTACH ':memory:' AS other"),
    ("attach-file", "analyst", "ATTACH '.tmp/other.duckdb' AS other"),
    ("detach", "analyst", "DETACH memory"),
    ("install", "analyst", "INSTALL httpfs"),
    ("force-install", "analyst", "FORCE INSTALL delta"),
    ("load", "analyst", "LOAD httpfs"),
    ("pragma", "analyst", "PRAGMA database_list"),
    ("call", "analyst", "CALL duckdb_settings()"),
    ("explain", "analyst", "EXPLAIN SELECT * FROM duckdb_views()"),
    ("two-statements", "analyst", "SELECT 1; SELECT * FROM duckdb_views()"),
    # The catalog, settings and the session.
    *[
        (name, "analyst", f"SELECT * FROM {name}()")
        for name in (
            "duckdb_views", "duckdb_tables", "duckdb_settings", "duckdb_databases",
            "duckdb_functions", "duckdb_secrets", "duckdb_extensions", "duckdb_columns",
            "duckdb_schemas", "duckdb_temporary_files", "duckdb_memory", "duckdb_dependencies",
        )
    ],
    ("system-qualified", "analyst", "SELECT * FROM system.main.duckdb_settings()"),
    ("catalog-qualified", "analyst", "SELECT * FROM memory.gold.dim_customer"),
    ("pg_settings", "analyst", "SELECT * FROM pg_settings"),
    ("pg_catalog.pg_settings", "analyst", "SELECT * FROM pg_catalog.pg_settings"),
    ("pg_catalog.pg_views", "analyst", "SELECT * FROM pg_catalog.pg_views"),
    ("pg_catalog.pg_class", "analyst", "SELECT * FROM pg_catalog.pg_class"),
    ("pg_get_viewdef", "analyst", "SELECT pg_get_viewdef(1)"),
    ("information_schema.tables", "analyst", "SELECT * FROM information_schema.tables"),
    ("information_schema.columns", "analyst", "SELECT * FROM information_schema.columns"),
    ("sqlite_master", "analyst", "SELECT * FROM sqlite_master"),
    ("sqlite_schema", "analyst", "SELECT * FROM sqlite_schema"),
    ("pragma_database_list", "analyst", "SELECT * FROM pragma_database_list"),
    ("show-tables", "analyst", "SHOW ALL TABLES"),
    ("current_setting-temp", "analyst", "SELECT current_setting('temp_directory')"),
    ("current_setting-dirs", "analyst", "SELECT current_setting('allowed_directories')"),
    ("current_database", "analyst", "SELECT current_database(), current_schema()"),
    # The system tables, whatever the grant.
    ("system-tokens", "owner", "SELECT * FROM _system.tokens"),
    ("system-grants", "owner", "SELECT * FROM _system.grants"),
    ("system-audit", "owner", "SELECT * FROM _system.audit"),
    ("system-quoted", "owner", 'SELECT * FROM "_system"."tokens"'),
    ("system-upper", "owner", "SELECT count(*) FROM _SYSTEM.TOKENS"),
    ("system-in-subquery", "owner",
     "SELECT * FROM gold.dim_date WHERE year IN (SELECT length(digest) FROM _system.tokens)"),
]  # fmt: skip

# The legal forms of the same constructs: they answer, and only with harmless data.
HARMLESS = [
    ("recursive-cte",
     "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) "
     "SELECT sum(n) FROM r", [[15]]),
    ("lateral",
     "SELECT l.next - d.year FROM gold.dim_date d, LATERAL (SELECT d.year + 1 AS next) l "
     "LIMIT 1", [[1]]),
    ("sample", "SELECT count(*) > 0 FROM gold.fact_sales USING SAMPLE 100%", [[True]]),
    ("pivot-in",
     "PIVOT (SELECT segment, customer_sk FROM gold.dim_customer) ON segment IN ('nope') "
     "USING count(customer_sk)", [[0]]),
    ("generators",
     "SELECT (SELECT count(*) FROM range(3)) + (SELECT count(*) FROM generate_series(1, 2)) "
     "+ (SELECT count(*) FROM unnest([1, 2]))", [[7]]),
    ("cte-named-like-a-table", "WITH fact_sales AS (SELECT 1 AS x) SELECT * FROM fact_sales",
     [[1]]),
    ("cte-in-its-scope",
     "SELECT n > 0 FROM (WITH c AS (SELECT count(*) AS n FROM gold.fact_sales) SELECT n FROM c)",
     [[True]]),
    ("summarize", "SUMMARIZE gold.dim_customer", None),
    ("describe", "DESCRIBE gold.dim_customer", None),
]  # fmt: skip


@pytest.fixture(autouse=True)
def in_workdir(local: Local, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The server's working folder is the one with the planted files (DuckDB resolves its
    default ``.tmp`` against it)."""
    monkeypatch.chdir(local.workdir)
    yield


@pytest.fixture(scope="module")
def real_emails(local: Local) -> set[str]:
    stored = pl.read_delta(str(local.lake / "gold" / "dim_customer"))
    return set(stored["email"].drop_nulls())


@pytest.mark.parametrize(("who", "query"), [p[1:] for p in ESCAPES], ids=[p[0] for p in ESCAPES])
def test_an_escape_is_refused_and_audited_as_refused(local: Local, who: str, query: str) -> None:
    query = query.replace("{work}", str(local.workdir))
    response = local.sql(who, query)
    assert response.status_code in (400, 403), response.text
    answer = response.json()
    assert answer["error_code"] in ("INVALID_PARAMETER_VALUE", "PERMISSION_DENIED")
    assert answer["message"]
    assert PLANTED not in response.text
    assert not (local.workdir / ".tmp" / "leak.csv").exists()
    rows = local.audited(query)
    assert rows.height >= 1, "the refusal was not audited"
    assert not rows["allowed"].any()
    assert set(rows["status"]) == {response.status_code}
    assert set(rows["action"]) == {"query"} and set(rows["principal"]) == {who}


@pytest.mark.parametrize(
    ("query", "expected"), [p[1:] for p in HARMLESS], ids=[p[0] for p in HARMLESS]
)
def test_a_legal_form_answers_harmless_data(
    local: Local, real_emails: set[str], query: str, expected: list[list[object]] | None
) -> None:
    response = local.sql("analyst", query)
    assert response.status_code == 200, response.text
    if expected is not None:
        assert response.json()["rows"] == expected
    assert PLANTED not in response.text and "_system" not in response.text
    assert not any(email in response.text for email in real_emails)
    assert local.audited(query)["allowed"].all()


def test_a_legal_query_over_a_gold_view_answers_and_stays_masked(
    local: Local, real_emails: set[str]
) -> None:
    query = (
        "SELECT c.customer_sk, c.first_name, c.email, count(*) AS lines "
        "FROM gold.fact_sales f JOIN gold.dim_customer c USING (customer_sk) "
        "GROUP BY ALL ORDER BY c.customer_sk"
    )
    masked = local.sql("analyst", query).json()
    clear = local.sql("owner", query).json()
    assert masked["row_count"] == clear["row_count"] > 0
    assert not {row[2] for row in masked["rows"]} & real_emails
    assert all(row[1] in (None, "***") for row in masked["rows"])
    assert {row[2] for row in clear["rows"]} <= real_emails | {None}
    assert {row[2] for row in clear["rows"]} & real_emails
    assert [row[3] for row in masked["rows"]] == [row[3] for row in clear["rows"]]


def test_the_sandbox_holds_only_the_granted_masked_views(local: Local) -> None:
    """What a query would find even past every check: the connection itself."""
    engine = PolarsDeltaEngine(str(local.lake))
    policy = MaskingPolicy(pepper="p")
    with Sandbox(engine, ["gold.dim_customer", "gold.dim_date"], masking=policy) as box:
        con = box.con
        views = con.execute(
            "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
        assert sorted(v[0] for v in views) == ["gold.dim_customer", "gold.dim_date"]
        assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
        databases = con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        assert {d[0] for d in databases} == {"memory", "system", "temp"}
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('enable_external_access', 'lock_configuration', 'temp_directory')"
            ).fetchall()
        )
        assert settings["enable_external_access"] == "false"
        assert settings["lock_configuration"] == "true"
        temp = settings["temp_directory"]
        assert temp and ".tmp" not in temp and not any(os.scandir(temp))
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            con.execute("SELECT * FROM '.tmp/planted.csv'")
        emails = {r[0] for r in con.execute("SELECT email FROM gold.dim_customer").fetchall()}
        stored = pl.read_delta(str(local.lake / "gold" / "dim_customer"))
        assert emails and not emails & set(stored["email"].drop_nulls())
    assert not os.path.exists(temp)


@pytest.mark.parametrize("ref", ["_system.tokens", "_system.grants", "_system.audit"])
def test_no_grant_reaches_a_system_table(local: Local, ref: str) -> None:
    everything = Caller("owner", (Grant("owner", "SELECT", "*"), Grant("owner", "PII", "*")))
    assert not everything.may_select(ref) and not everything.sees_pii(ref)
    engine = PolarsDeltaEngine(str(local.lake))
    with pytest.raises(ValueError, match="not shareable"):
        Sandbox(engine, [ref], masking=None)


SELECTS = [p for p in ESCAPES if p[1] == "analyst" and p[0].startswith(
    ("cte-scope", "recursive", "lateral", "from-", "sample", "pivot-settings", "pivot-file",
     "sqlite", "pg_settings", "pragma_database_list", "show-tables", "system-qualified")
)]  # fmt: skip


@pytest.mark.parametrize("query", [p[2] for p in SELECTS], ids=[p[0] for p in SELECTS])
def test_the_binder_check_alone_refuses_what_a_scope_trick_reaches(
    local: Local, query: str
) -> None:
    """The plan check, in a connection that could read the planted files: it still
    refuses, because it sees what the binder resolved, not what the text seems to say."""
    query = query.replace("{work}", str(local.workdir))
    open_shadow = duckdb.connect()  # external access on: only the plan check stands
    open_shadow.execute("CREATE SCHEMA gold; CREATE TABLE gold.dim_date (date_key INT)")
    assert open_shadow.execute("SELECT * FROM '.tmp/planted.csv'").fetchall() == [(PLANTED,)]
    with pytest.raises(QueryRefused):
        check_plan(open_shadow, query, ["gold.dim_date"])
    check_plan(open_shadow, "SELECT * FROM gold.dim_date", ["gold.dim_date"])
    open_shadow.close()
