"""``_system/files``: every landing file seen, reconciled from the bronze commits.

The bronze commit that handled a file is the truth about it (see
``pipeline/ingest.py``). This table is a queryable copy: each reconcile
appends the records of the bronze commits it has not copied yet, and records
the last bronze version copied per source as an app transaction in the same
commit, so a crash before or after it neither loses nor doubles a row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import narwhals as nw

from shoplake.engines.base import Engine
from shoplake.ingest.bronze import FILES_KEY
from shoplake.names import utcnow
from shoplake.pipeline.tables import SourceDef

FILES_TABLE = "_system.files"
COLUMNS = (
    "source",
    "path",
    "size",
    "mtime_ns",
    "sha256",
    "batch_id",
    "status",
    "reason",
    "rows",
    "archive_path",
    "bronze_version",
    "recorded_at",
)
_TYPES: dict[str, nw.dtypes.DType] = {
    "size": nw.Int64(),
    "mtime_ns": nw.Int64(),
    "rows": nw.Int64(),
    "bronze_version": nw.Int64(),
    "recorded_at": nw.Datetime("us"),
}


def reconcile_key(source: str) -> str:
    return f"files:{source}"


def reconcile_files(engine: Engine, sources: Iterable[SourceDef]) -> int:
    """Copy the file records of bronze commits not yet copied; returns the rows added."""
    exists = engine.version(FILES_TABLE) is not None
    rows: list[dict[str, object]] = []
    done: dict[str, int] = {}
    now = utcnow()
    for source in sources:
        key = reconcile_key(source.name)
        copied = engine.consumed(FILES_TABLE, key) if exists else None
        found = engine.commit_metadata_since(
            source.ref, FILES_KEY, -1 if copied is None else copied
        )
        if not found:
            continue
        for version, value in found:
            for record in json.loads(value):
                rows.append(
                    {
                        "source": source.name,
                        "path": record["path"],
                        "size": record["size"],
                        "mtime_ns": record["mtime_ns"],
                        "sha256": record.get("sha256") or None,
                        "batch_id": record.get("batch_id"),
                        "status": record.get("status", "ingested"),
                        "reason": record.get("reason") or None,
                        "rows": record.get("rows", 0),
                        "archive_path": record.get("archive"),
                        "bronze_version": version,
                        "recorded_at": now,
                    }
                )
        done[key] = found[-1][0]
    if not done:
        return 0
    frame = engine.frame({c: [r[c] for r in rows] for c in COLUMNS})
    frame = frame.with_columns(*[nw.col(c).cast(_TYPES.get(c, nw.String())) for c in COLUMNS])
    engine.append(FILES_TABLE, frame, transactions=done)
    return len(rows)


def file_rows(
    engine: Engine, *, batch_id: str | None = None, status: str | None = None
) -> list[dict[str, object]]:
    """Rows of ``_system/files``, newest first, optionally of one batch or status."""
    if engine.version(FILES_TABLE) is None:
        return []
    frame = engine.read(FILES_TABLE)
    if batch_id is not None:
        frame = frame.filter(nw.col("batch_id") == batch_id)
    if status is not None:
        frame = frame.filter(nw.col("status") == status)
    rows = engine.collect(frame).rows(named=True)
    return sorted(rows, key=lambda r: (r["bronze_version"], r["source"]), reverse=True)
