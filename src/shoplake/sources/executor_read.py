"""Reading landed files where an engine's executors run, not on the driver.

A big batch on a cluster engine is read by the executors: each gets one file as a task
(its path, the content hash the driver recorded, the source's read schema) and runs the
very readers the driver uses (``readers.parse``), so rows, line numbers, rescued data and
whole-file quarantine are the same whichever machine read the file. A task gives back
the file's bronze rows as Arrow and a report (the file record the commit keeps).

The executors must reach the landing path (shared storage on a cluster) and have
shoplake installed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from shoplake.sources.bronze_frame import bronze_frame
from shoplake.sources.listing import LandedFile
from shoplake.sources.readers import NewColumns, ReadFile, ReadSchema, parse

CHANGED = "changed"
"""A task's status when the file no longer has the content the driver hashed."""


def read_task(
    landing: Path,
    file: LandedFile,
    sha256: str,
    fmt: str,
    schema: ReadSchema,
    batch_id: str,
    ingested_at: datetime,
) -> str:
    """One file's task, as the JSON an executor gets."""
    return json.dumps(
        {
            "file": asdict(file),
            "location": str(file.location or landing / file.path),
            "sha256": sha256,
            "format": fmt,
            "schema": {**asdict(schema), "hints": dict(schema.hints)},
            "batch_id": batch_id,
            "ingested_at": ingested_at.isoformat(),
        }
    )


def bronze_schema(schema: ReadSchema) -> pa.Schema:
    """The Arrow schema of a batch's bronze rows (what every task's rows are cast to)."""
    empty = bronze_frame([], schema, "", datetime(2000, 1, 1)).to_native()
    return empty.to_arrow(compat_level=pl.CompatLevel.oldest()).schema


def run_read_task(task: str) -> tuple[pa.Table | None, str]:
    """Runs on an executor: the file's bronze rows (or None) and its report as JSON."""
    spec = json.loads(task)
    file = LandedFile(**spec["file"])
    raw_schema = spec["schema"]
    schema = ReadSchema(
        tuple(raw_schema["columns"]),
        raw_schema["mode"],
        raw_schema["hints"],
        raw_schema["encoding"],
    )
    try:
        raw = Path(spec["location"]).read_bytes()
    except FileNotFoundError:
        return None, _report(ReadFile(file, spec["sha256"], 0, 0, CHANGED, "vanished"))
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec["sha256"]:
        return None, _report(ReadFile(file, digest, 0, 0, CHANGED, "changed after listing"))
    try:
        frame, result = parse(file, raw, digest, spec["format"], schema)
    except NewColumns as err:
        return None, _report(ReadFile(file, digest, 0, 0, "failed", str(err)))
    if frame is None:
        return None, _report(result)
    rows = bronze_frame(
        [frame], schema, spec["batch_id"], datetime.fromisoformat(spec["ingested_at"])
    ).to_native()
    table = rows.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(bronze_schema(schema))
    return table, _report(result)


def _report(result: ReadFile) -> str:
    return json.dumps({**result.record(), "corrupt_lines": result.corrupt_lines})


def read_file_of(report: str) -> ReadFile:
    """A task's report back as the driver's record of the file."""
    value = json.loads(report)
    file = LandedFile(str(value["path"]), int(value["size"]), int(value["mtime_ns"]))
    return ReadFile(
        file,
        str(value["sha256"]),
        int(value["rows"]),
        int(value["corrupt_lines"]),
        str(value["status"]),
        str(value["reason"]),
    )
