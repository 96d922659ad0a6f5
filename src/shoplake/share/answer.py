"""Encoding an answer as JSON or Arrow IPC, inside the request's deadline and byte cap.

Both run in a worker thread, never on the event loop, and in slices: between two slices
the deadline is checked (a 408 when it passed) and the bytes written so far are compared
with ``max_bytes`` (refused when over), so neither a slow nor a huge answer is built whole
first. A slice is short (about :data:`CELLS_PER_SLICE` values), because encoding holds
Python's GIL: other threads, the event loop among them, get it back between slices.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import orjson
import pyarrow as pa
from pydantic import BaseModel

from shoplake.share.limits import AnswerTooLarge, Deadline

CELLS_PER_SLICE = 20_000
"""Values encoded between two checks: a few milliseconds of work."""
_INT64 = range(-(2**63), 2**64)


def _slice_rows(table: pa.Table) -> int:
    return max(1, CELLS_PER_SLICE // max(1, table.num_columns))


def _default(value: object) -> Any:
    """What orjson cannot write itself, written as FastAPI's encoder did before."""
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            whole = int(value)
            # orjson writes 64-bit integers; a HUGEINT's digits go in as they are.
            return whole if whole in _INT64 else orjson.Fragment(str(whole))
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        # Binary that is not UTF-8 stays readable instead of failing the whole answer.
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, tuple):  # an interval: Arrow's MonthDayNano (months, days, ns)
        return list(value)
    return str(value)  # any other value: its text, rather than a 500 for the whole answer


def json_answer(
    table: pa.Table, *, truncated: bool, elapsed_s: float, deadline: Deadline, max_bytes: int
) -> bytes:
    """``{"columns", "rows", "row_count", "truncated", "elapsed_ms"}`` as UTF-8 JSON.

    Rows are arrays in column order; NaN and infinities are ``null`` (JSON has neither)."""
    columns = [{"name": f.name, "type": str(f.type)} for f in table.schema]
    parts = [b'{"columns":' + orjson.dumps(columns) + b',"rows":[']
    size, first = len(parts[0]), True
    for batch in table.to_batches(max_chunksize=_slice_rows(table)):
        deadline.check()
        if batch.num_rows == 0:
            continue
        # Column by column, then zipped: several times faster than Arrow's to_pylist of
        # row dicts.
        values = [column.to_pylist() for column in batch.columns]
        rows = orjson.dumps(list(zip(*values, strict=True)), default=_default)[1:-1]
        if not first:
            rows = b"," + rows
        first = False
        size += len(rows)
        if size > max_bytes:
            raise AnswerTooLarge(max_bytes)
        parts.append(rows)
    elapsed_ms = round(elapsed_s * 1000, 1)
    tail = orjson.dumps(
        {"row_count": table.num_rows, "truncated": truncated, "elapsed_ms": elapsed_ms}
    )
    parts.append(b"]," + tail[1:])
    if size + len(parts[-1]) > max_bytes:
        raise AnswerTooLarge(max_bytes)
    deadline.check()
    return b"".join(parts)


def arrow_answer(table: pa.Table, *, deadline: Deadline, max_bytes: int) -> bytes:
    """The rows as an Arrow IPC stream."""
    # The buffers' size is a floor for the stream's: refuse before writing a byte.
    if table.nbytes > max_bytes:
        raise AnswerTooLarge(max_bytes)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=_slice_rows(table)):
            deadline.check()
            writer.write_batch(batch)
            if sink.tell() > max_bytes:
                raise AnswerTooLarge(max_bytes)
    deadline.check()
    return bytes(sink.getvalue().to_pybytes())


def model_answer(model: BaseModel, *, max_bytes: int) -> bytes:
    """A catalog answer (a Unity Catalog model) as JSON, or refused beyond ``max_bytes``."""
    body = model.model_dump_json().encode()
    if len(body) > max_bytes:
        raise AnswerTooLarge(max_bytes, "ask for a smaller page (max_results)")
    return body
