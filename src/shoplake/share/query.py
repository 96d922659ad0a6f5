"""SQL for a caller: only the tables they may ``SELECT``, PII masked unless they may see it.

Three walls, each enough alone for what it stops:

1. The query is parsed by DuckDB itself (``json_serialize_sql``): one ``SELECT`` only, and
   every table it reads, in any subquery or CTE, must be ``layer.table`` the caller holds
   ``SELECT`` on; table functions (``read_parquet``, ``delta_scan``, ``query`` ...) and
   bare names that are not the query's own CTEs are refused.
2. The connection holds views of just those tables, masked per the policy for columns
   classified as PII unless the caller holds ``PII`` on the table.
3. DuckDB runs with external access disabled and its configuration locked: no file,
   no ``ATTACH``, no ``COPY ... TO``, no ``INSTALL``.

A query stops at ``max_rows`` rows (the answer says it was cut) and after ``timeout_s``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from shoplake.errors import ShoplakeError
from shoplake.governance.masking import MaskingPolicy
from shoplake.observe.lake import LakeReader
from shoplake.observe.sql import LakeSql
from shoplake.share.access import Caller


class QueryRefused(ShoplakeError):
    """The query may not run as asked (HTTP 400 or 403); the message says why."""

    def __init__(self, message: str, *, status: int = 400, tables: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.tables = tables


@dataclass(frozen=True)
class Limits:
    max_rows: int = 10_000
    timeout_s: float = 30.0


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    truncated: bool
    tables: tuple[str, ...]


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _nodes(child)
    elif isinstance(value, list):
        for child in value:
            yield from _nodes(child)


def tables_read(query: str) -> tuple[list[str], list[str]]:
    """(``layer.table`` refs, other names) the single SELECT ``query`` reads; raises
    :class:`QueryRefused` for anything else."""
    with duckdb.connect() as parser:
        row = parser.execute("SELECT json_serialize_sql(?)", [query]).fetchone()
    parsed: dict[str, Any] = json.loads(row[0]) if row else {"error": True}
    if parsed.get("error"):
        message = str(parsed.get("error_message", "cannot parse the query"))
        if "Only SELECT" in message:
            message = "only a single SELECT may run here (no COPY, ATTACH, INSTALL, SET ...)"
        raise QueryRefused(message)
    if len(parsed["statements"]) != 1:
        raise QueryRefused("send one SELECT statement at a time")
    ctes: set[str] = set()
    refs: list[str] = []
    others: list[str] = []
    for node in _nodes(parsed["statements"]):
        if isinstance(node.get("cte_map"), dict):
            ctes.update(str(entry["key"]).lower() for entry in node["cte_map"].get("map", []))
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            raise QueryRefused("table functions (read_parquet, delta_scan, query ...) may not run")
        if kind != "BASE_TABLE":
            continue
        if node.get("catalog_name"):
            others.append(f"{node['catalog_name']}.{node['schema_name']}.{node['table_name']}")
        elif node.get("schema_name"):
            refs.append(f"{node['schema_name']}.{node['table_name']}".lower())
        else:
            others.append(str(node["table_name"]))
    others = [name for name in others if name.lower() not in ctes]
    return sorted(set(refs)), others


def run_query(
    reader: LakeReader,
    caller: Caller,
    query: str,
    *,
    masking: MaskingPolicy | None,
    limits: Limits,
    max_rows: int | None = None,
) -> QueryResult:
    refs, others = tables_read(query)
    if others:
        raise QueryRefused(
            f"unknown table {', '.join(others)}: name tables as layer.table (e.g. gold.fact_sales)"
        )
    known = set(reader.tables())
    denied = tuple(r for r in refs if r not in known or not caller.may_select(r))
    if denied:
        # Absent and forbidden look the same: a caller learns nothing of tables beyond
        # their grants.
        raise QueryRefused(
            f"no table {', '.join(denied)} you may read; list yours with GET "
            "/api/2.1/unity-catalog/tables",
            status=403,
            tables=denied,
        )
    cap = min(max_rows or limits.max_rows, limits.max_rows)
    clear = {r for r in refs if caller.sees_pii(r)}
    with LakeSql(reader, masking=masking, tables=refs, clear=clear) as sql:
        sql.con.execute("SET enable_external_access = false")
        sql.con.execute("SET lock_configuration = true")
        timer = threading.Timer(limits.timeout_s, sql.con.interrupt)
        timer.start()
        try:
            batches = sql.con.execute(query).to_arrow_reader(min(cap + 1, 65_536))
            if batches is None:
                raise QueryRefused("the statement returned no rows to read")
            taken: list[pa.RecordBatch] = []
            rows = 0
            for batch in batches:
                taken.append(batch)
                rows += batch.num_rows
                if rows > cap:
                    break
            table = pa.Table.from_batches(taken, schema=batches.schema)
        except duckdb.InterruptException:
            raise QueryRefused(
                f"the query ran longer than {limits.timeout_s:g} s and was stopped; "
                "filter or aggregate more",
                status=408,
            ) from None
        except duckdb.Error as err:
            raise QueryRefused(f"the query failed: {str(err).split(chr(10))[0]}") from None
        finally:
            timer.cancel()
    return QueryResult(table.slice(0, cap), table.num_rows > cap, tuple(refs))
