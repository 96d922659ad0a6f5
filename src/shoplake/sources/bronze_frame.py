"""One batch's bronze frame: the rows of its files with the lineage columns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import narwhals as nw
import polars as pl

from shoplake.names import BATCH_ID, INGESTED_AT, RESCUED_DATA, SOURCE
from shoplake.sources.listing import LandedFile
from shoplake.sources.readers import ReadFile, ReadSchema, read_one


def bronze_frame(
    frames: Sequence[pl.DataFrame], schema: ReadSchema, batch_id: str, ingested_at: datetime
) -> nw.DataFrame[pl.DataFrame]:
    """Files' rows as one frame, with the batch's provenance columns."""
    empty = {c: schema.dtype(c) for c in schema.columns}
    empty.update({RESCUED_DATA: pl.String(), SOURCE: pl.String()})
    combined = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=empty)
    combined = combined.with_columns(
        pl.lit(ingested_at, dtype=pl.Datetime("us")).alias(INGESTED_AT),
        pl.lit(batch_id, dtype=pl.String).alias(BATCH_ID),
    )
    return nw.from_native(combined, eager_only=True)


def read_files(
    landing: Path,
    files: Sequence[LandedFile],
    *,
    fmt: str,
    columns: Sequence[str] | ReadSchema,
    batch_id: str,
    ingested_at: datetime,
) -> tuple[nw.DataFrame[pl.DataFrame], list[ReadFile]]:
    """Read ``files`` into one bronze frame with provenance columns.

    A file that cannot be read contributes no rows and comes back with status
    ``quarantined`` and the reason; the others are read as usual.
    """
    schema = columns if isinstance(columns, ReadSchema) else ReadSchema(tuple(columns))
    frames: list[pl.DataFrame] = []
    read: list[ReadFile] = []
    for file in files:
        frame, result = read_one(landing, file, fmt, schema)
        if frame is not None:
            frames.append(frame)
        read.append(result)
    return bronze_frame(frames, schema, batch_id, ingested_at), read
