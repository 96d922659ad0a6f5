"""What a caller's SQL may name, decided by DuckDB's own parser and binder.

Two checks, both over DuckDB's serialized trees rather than over the text:

* :func:`parse` — the parser's tree (``json_serialize_sql``): exactly one ``SELECT``;
  the ``layer.table`` names it writes (so a missing grant is a clear 403); no table
  function beyond a few generators, no function that reads the server's state.
* :func:`check_plan` — the binder's logical plan (``json_serialize_plan``) in a shadow
  connection that holds, as empty tables, exactly the views the query will run against.
  The binder resolves every name with SQL's real scoping (CTEs, subqueries, lateral
  joins, views and macros expanded), so whatever the query reads shows up here as a
  ``LOGICAL_GET``: each must be a scan of one of those tables or a harmless generator.

A name inside the tree is only ever compared with allow-lists and deny-lists: a caller's
string literal cannot add a node, only (at worst) trip a refusal.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import Any

import duckdb

from shoplake.errors import ShoplakeError


class QueryRefused(ShoplakeError):
    """The query may not run as asked (HTTP 400, 403 or 408); the message says why."""

    def __init__(self, message: str, *, status: int = 400, tables: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.tables = tables


SAFE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
"""Table functions that only generate values: everything else (files, catalogs,
``query()``, ``arrow_scan``) is refused."""

DENIED_FUNCTIONS = frozenset(
    {
        # Settings, variables and the session: the temp folder's path, the search path.
        "current_setting",
        "getvariable",
        "current_query",
        "current_database",
        "current_catalog",
        "current_schema",
        "current_schemas",
        "in_search_path",
        "current_user",
        "current_role",
        "session_user",
        "user",
        # Catalog macros and sequences (the macros expand into duckdb_*() scans anyway).
        "col_description",
        "obj_description",
        "shobj_description",
        "format_pg_type",
        "format_type",
        "nextval",
        "currval",
        "txid_current",
    }
)
DENIED_PREFIXES = ("duckdb_", "pg_", "pragma_", "has_")
"""Catalog views and functions (``duckdb_views``, ``pg_get_viewdef``, ``pragma_*``,
``has_table_privilege`` ...), whatever their exact names in this DuckDB version."""

PLAN_OPERATORS = frozenset(
    f"LOGICAL_{name}"
    for name in (
        *("PROJECTION", "FILTER", "AGGREGATE_AND_GROUP_BY", "WINDOW", "UNNEST", "LIMIT"),
        *("ORDER_BY", "TOP_N", "DISTINCT", "SAMPLE", "PIVOT"),
        *("GET", "CHUNK_GET", "DELIM_GET", "EXPRESSION_GET", "DUMMY_SCAN", "EMPTY_RESULT"),
        *("CTE_REF", "RECURSIVE_CTE", "MATERIALIZED_CTE", "UNION", "EXCEPT", "INTERSECT"),
        *("JOIN", "DELIM_JOIN", "COMPARISON_JOIN", "ANY_JOIN", "CROSS_PRODUCT"),
        *("POSITIONAL_JOIN", "ASOF_JOIN", "DEPENDENT_JOIN"),
    )
)
"""The operators a read-only query plans to; any other (``COPY_TO_FILE``, ``PRAGMA``,
``SET``, an extension's) is refused, so a new kind fails closed."""


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _nodes(child)
    elif isinstance(value, list):
        for child in value:
            yield from _nodes(child)


def _denied(name: str) -> bool:
    name = name.lower()
    return name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES)


def _serialized(con: duckdb.DuckDBPyConnection, function: str, query: str) -> dict[str, Any]:
    try:
        row = con.execute(f"SELECT {function}(?)", [query]).fetchone()
    except duckdb.Error as err:
        raise QueryRefused(f"the query failed: {str(err).splitlines()[0]}") from None
    parsed: dict[str, Any] = json.loads(row[0]) if row else {"error": True}
    if parsed.get("error"):
        message = str(parsed.get("error_message", "cannot parse the query")).splitlines()[0]
        if "Only SELECT" in message or "MULTI" in message:
            message = (
                "only a single SELECT may run here (no COPY, ATTACH, INSTALL, SET, PREPARE, "
                "CREATE MACRO, PIVOT without an IN list ...)"
            )
        raise QueryRefused(message)
    return parsed


def parse(con: duckdb.DuckDBPyConnection, query: str) -> list[str]:
    """The ``layer.table`` names the single SELECT ``query`` writes, lower-case and sorted;
    raises :class:`QueryRefused` for anything that is not one SELECT or that calls a
    refused function.

    Bare names are not listed: whether one is a CTE in scope is the binder's business
    (:func:`check_plan`), not a guess made here."""
    statements = _serialized(con, "json_serialize_sql", query)["statements"]
    if len(statements) != 1:
        raise QueryRefused("send one SELECT statement at a time")
    refs: set[str] = set()
    for node in _nodes(statements):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            function = node.get("function") or {}
            name = str(function.get("function_name", "")).lower()
            if (
                name not in SAFE_TABLE_FUNCTIONS
                or function.get("schema")
                or function.get("catalog")
            ):
                raise QueryRefused(
                    f"table function {name or '?'}() may not run here: read granted tables "
                    "as layer.table (e.g. gold.fact_sales)"
                )
        elif kind == "BASE_TABLE":
            if node.get("catalog_name"):
                raise QueryRefused(
                    f"{node['catalog_name']}.{node.get('schema_name')}.{node.get('table_name')}: "
                    "name tables as layer.table (e.g. gold.fact_sales)"
                )
            if node.get("schema_name"):
                refs.add(f"{node['schema_name']}.{node['table_name']}".lower())
        called = node.get("function_name")
        if isinstance(called, str) and _denied(called):
            raise QueryRefused(f"{called}() may not run here")
    return sorted(refs)


def check_plan(shadow: duckdb.DuckDBPyConnection, query: str, tables: Collection[str]) -> None:
    """Bind ``query`` in ``shadow`` and refuse it unless everything it reads is one of
    ``tables`` (``layer.table``) or a generator, and it calls no refused function."""
    plans = _serialized(shadow, "json_serialize_plan", query)["plans"]
    if len(plans) != 1:
        raise QueryRefused("send one SELECT statement at a time")
    allowed = {tuple(ref.split(".", 1)) for ref in tables}
    for node in _nodes(plans):
        kind = node.get("type")
        if isinstance(kind, str) and kind.startswith("LOGICAL_"):
            if kind not in PLAN_OPERATORS:
                raise QueryRefused(
                    f"the query plans to {kind.removeprefix('LOGICAL_')}, which may not run here"
                )
            if kind == "LOGICAL_GET":
                _check_get(node, allowed)
        if "expression_class" in node:
            name = node.get("name")
            if isinstance(name, str) and _denied(name):
                raise QueryRefused(f"{name}() may not run here")


def _check_get(node: dict[str, Any], allowed: set[tuple[str, ...]]) -> None:
    name = str(node.get("name", ""))
    if name == "seq_scan":
        data = node.get("function_data") or {}
        where = (str(data.get("schema")), str(data.get("table")))
        if data.get("catalog") == "memory" and where in allowed:
            return
        raise QueryRefused(f"no table {'.'.join(where)} you may read", status=403)
    if name in SAFE_TABLE_FUNCTIONS and node.get("catalog_name") in ("system", ""):
        return
    raise QueryRefused(
        f"{name}() may not run here: catalog, setting and file functions are not served; "
        "read granted tables as layer.table"
    )
