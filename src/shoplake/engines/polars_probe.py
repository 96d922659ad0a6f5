"""An empty Polars frame that tells which of its columns a query reads.

It is a Polars IO source (``register_io_source``): when a query over it runs, Polars'
optimizer pushes the projection down to the source, so the columns asked of it are
exactly those the query needs — for its output, its filters, joins and groupings.
Column lineage is derived from that without parsing any plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import narwhals as nw
import polars as pl
from polars.io.plugins import register_io_source

Seen = Callable[[Sequence[str] | None], None]


def probe_frame(schema: Mapping[str, nw.dtypes.DType], seen: Seen) -> nw.LazyFrame[Any]:
    native = dict(nw.Schema(schema).to_polars())

    def source(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        seen(with_columns)
        empty = pl.DataFrame(schema=native)
        yield empty if with_columns is None else empty.select(with_columns)

    return nw.from_native(register_io_source(io_source=source, schema=native))
