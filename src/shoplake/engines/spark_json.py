"""JSON decoding on Spark's executors: the Polars decoder (``json_decode.decode_polars``)
run over each Arrow batch of the frame (``mapInArrow``), so every field, error message,
raw payload and exploded line is exactly what the Polars engine gives, and no row comes
to the driver."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import narwhals as nw
import polars as pl
import pyarrow as pa

from shoplake.engines.json_decode import decode_polars

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _plain(schema: pa.Schema) -> pa.Schema:
    """Arrow types Spark reads: large and view strings, binaries and lists as the plain
    ones (Polars writes the large kinds)."""

    def plain(kind: pa.DataType) -> pa.DataType:
        if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            return pa.string()
        if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
            return pa.binary()
        if pa.types.is_large_list(kind) or pa.types.is_list(kind):
            return pa.list_(plain(kind.value_type))
        if pa.types.is_struct(kind):
            return pa.struct([pa.field(f.name, plain(f.type)) for f in kind])
        return kind

    return pa.schema([pa.field(f.name, plain(f.type)) for f in schema])


def decode_spark(
    frame: nw.LazyFrame[Any],
    column: str,
    fields: Mapping[str, Any],
    required: Sequence[str],
    max_bytes: int,
    explode: str | None = None,
) -> nw.LazyFrame[Any]:
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    native: DataFrame = frame.to_native()
    wanted = dict(fields)

    def decoded(data: pl.DataFrame) -> pa.Table:
        lazy = decode_polars(
            nw.from_native(data.lazy()), column, wanted, required, max_bytes, explode
        )
        out = lazy.to_native()
        assert isinstance(out, pl.LazyFrame)
        return out.collect().to_arrow(compat_level=pl.CompatLevel.oldest())

    # The output's schema: the decoder run over no rows of the input's schema.
    empty = pl.from_arrow(to_arrow_schema(native.schema).empty_table())
    assert isinstance(empty, pl.DataFrame)
    schema = _plain(decoded(empty).schema)

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            data = pl.from_arrow(pa.Table.from_batches([batch]))
            assert isinstance(data, pl.DataFrame)
            yield from decoded(data).cast(schema).to_batches()

    spark_schema = from_arrow_schema(schema, prefer_timestamp_ntz=True)
    return nw.from_native(native.mapInArrow(run, spark_schema))
