"""SQL for a caller: only the tables they may ``SELECT``, PII masked unless they may see it.

Three walls, each enough alone for what it stops:

1. The query is parsed by DuckDB itself: one ``SELECT`` only, no table function but a
   few generators, no function reading settings or the catalog; each ``layer.table`` it
   names must be a shared table the caller holds ``SELECT`` on (403 otherwise; the
   ``_system`` tables never are, whatever the grant).
2. It is then bound by DuckDB's binder against a shadow of its connection, with SQL's real
   scoping: everything the plan reads must be one of those tables
   (:mod:`shoplake.share.sqlcheck`).
3. It runs in a connection of its own holding just those tables, as views masked per the
   policy for columns classified as PII unless the caller holds ``PII`` on the table —
   no other table, no unmasked scan under any name — with external access off, the
   configuration locked before any SQL and a private temp folder
   (:mod:`shoplake.share.sandbox`).

A query stops at ``max_rows`` rows (the answer says it was cut) and after ``timeout_s``.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from shoplake.errors import ConfigError
from shoplake.governance.masking import MaskingPolicy
from shoplake.observe.lake import LakeReader
from shoplake.share.access import Caller
from shoplake.share.sandbox import Sandbox, locked_connection, shareable
from shoplake.share.sqlcheck import QueryRefused, parse

__all__ = ["Limits", "QueryRefused", "QueryResult", "run_query", "tables_read"]


@dataclass(frozen=True)
class Limits:
    max_rows: int = 10_000
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ConfigError(f"--max-rows {self.max_rows}: use 1 or more")
        if not self.timeout_s > 0:
            raise ConfigError(f"--timeout {self.timeout_s:g}: use a number of seconds above 0")


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    truncated: bool
    tables: tuple[str, ...]

    def arrow_ipc(self) -> bytes:
        """The rows as an Arrow IPC stream."""
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self.table.schema) as writer:
            writer.write_table(self.table)
        return bytes(sink.getvalue().to_pybytes())

    def as_json(self, elapsed_s: float) -> dict[str, Any]:
        """The answer as the SQL endpoint's JSON: columns, rows, and whether it was cut."""
        return {
            "columns": [{"name": f.name, "type": str(f.type)} for f in self.table.schema],
            "rows": [list(r.values()) for r in self.table.to_pylist()],
            "row_count": self.table.num_rows,
            "truncated": self.truncated,
            "elapsed_ms": round(elapsed_s * 1000, 1),
        }


@functools.cache
def _parser() -> duckdb.DuckDBPyConnection:
    """One database shared for parsing (a new one costs ~8 ms): it holds nothing, and
    ``json_serialize_sql`` parses the text without running any of it."""
    return locked_connection()


def tables_read(query: str) -> list[str]:
    """The ``layer.table`` names the single SELECT ``query`` writes; raises
    :class:`QueryRefused` for anything else."""
    with _parser().cursor() as cursor:  # a cursor per call: connections are not thread-safe
        return parse(cursor, query)


def run_query(
    reader: LakeReader,
    caller: Caller,
    query: str,
    *,
    masking: MaskingPolicy | None,
    limits: Limits,
    max_rows: int | None = None,
) -> QueryResult:
    if max_rows is not None and max_rows < 1:
        raise QueryRefused(f"max_rows {max_rows}: ask for 1 row or more")
    refs = tables_read(query)
    known = {ref for ref in reader.tables() if shareable(ref)}
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
    with Sandbox(reader.engine, refs, masking=masking, clear=clear) as box:
        try:
            box.check(query)
        except QueryRefused as err:
            raise QueryRefused(str(err), status=err.status, tables=tuple(refs)) from None
        table = _fetch(box.con, query, cap, limits.timeout_s)
    return QueryResult(table.slice(0, cap), table.num_rows > cap, tuple(refs))


def _fetch(con: duckdb.DuckDBPyConnection, query: str, cap: int, timeout_s: float) -> pa.Table:
    """Up to ``cap + 1`` rows of ``query`` (one more tells the answer was cut)."""
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        batches = con.execute(query).to_arrow_reader(min(cap + 1, 65_536))
        if batches is None:
            raise QueryRefused("the statement returned no rows to read")
        taken: list[pa.RecordBatch] = []
        rows = 0
        for batch in batches:
            taken.append(batch)
            rows += batch.num_rows
            if rows > cap:
                break
        return pa.Table.from_batches(taken, schema=batches.schema)
    except duckdb.InterruptException:
        raise QueryRefused(
            f"the query ran longer than {timeout_s:g} s and was stopped; filter or aggregate more",
            status=408,
        ) from None
    except duckdb.Error as err:
        raise QueryRefused(f"the query failed: {str(err).splitlines()[0]}") from None
    finally:
        timer.cancel()
