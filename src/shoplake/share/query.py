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

A query stops at ``max_rows`` rows (the answer says it was cut), when its request's
deadline passes (408), and when its rows' Arrow buffers pass the byte budget it is given
(:mod:`shoplake.share.limits`).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from shoplake.governance.masking import MaskingPolicy
from shoplake.observe.lake import LakeReader
from shoplake.share.access import Caller
from shoplake.share.limits import AnswerTooLarge, Deadline, Limits
from shoplake.share.sandbox import Sandbox, locked_connection, shareable
from shoplake.share.sqlcheck import QueryRefused, parse

__all__ = ["Limits", "QueryRefused", "QueryResult", "run_query", "tables_read"]


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    truncated: bool
    tables: tuple[str, ...]


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
    deadline: Deadline | None = None,
    max_arrow_bytes: int | None = None,
) -> QueryResult:
    """Run ``query`` for ``caller``; ``deadline`` defaults to ``limits.timeout_s`` from
    now, ``max_arrow_bytes`` (the rows' Arrow buffers) to ``limits.max_bytes``."""
    deadline = deadline or Deadline(limits.timeout_s)
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
        budget = max_arrow_bytes or limits.max_bytes
        table = _fetch(box.con, query, cap, deadline, budget)
    return QueryResult(table.slice(0, cap), table.num_rows > cap, tuple(refs))


def _fetch(
    con: duckdb.DuckDBPyConnection, query: str, cap: int, deadline: Deadline, max_bytes: int
) -> pa.Table:
    """Up to ``cap + 1`` rows of ``query`` (one more tells the answer was cut), stopped at
    the deadline or once the rows kept hold more than ``max_bytes`` of Arrow buffers."""
    deadline.check()  # the sandbox's views took their share of the time
    timer = threading.Timer(max(deadline.remaining(), 0.0), con.interrupt)
    timer.start()
    try:
        batches = con.execute(query).to_arrow_reader(min(cap + 1, 65_536))
        if batches is None:
            raise QueryRefused("the statement returned no rows to read")
        taken: list[pa.RecordBatch] = []
        rows = size = 0
        for batch in batches:
            taken.append(batch)
            size += batch.slice(0, max(0, cap - rows)).nbytes
            rows += batch.num_rows
            if size > max_bytes:
                raise AnswerTooLarge(max_bytes)
            if rows > cap:
                break
        return pa.Table.from_batches(taken, schema=batches.schema)
    except duckdb.InterruptException:
        raise deadline.expired() from None
    except duckdb.Error as err:
        raise QueryRefused(f"the query failed: {str(err).splitlines()[0]}") from None
    finally:
        timer.cancel()
