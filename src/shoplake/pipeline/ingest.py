"""The source flow: new landing files into their bronze table, exactly once.

The identities of the files a commit ingested (path, size, modified time,
content hash) travel in that commit's metadata, so the bronze rows and the
record of having read them can never disagree, whatever crashes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import narwhals as nw

from shoplake.pipeline.flows import FlowContext
from shoplake.pipeline.results import FlowResult
from shoplake.pipeline.tables import SourceDef
from shoplake.sources.files import discover, read_files

FILES_KEY = "shoplake.files"


def landing_app_id(source: str) -> str:
    return f"landing:{source}"


def run_source(ctx: FlowContext, source: SourceDef, landing: Path) -> FlowResult:
    start = time.perf_counter()
    engine = ctx.engine
    target = source.ref
    files = discover(landing, source.name, source.format)
    full = ctx.full_refresh or engine.version(target) is None
    records: list[dict[str, object]] = []
    if not full:
        for value in engine.commit_metadata(target, FILES_KEY):
            records.extend(json.loads(value))
    seen_stat = {(r["path"], r["size"], r["mtime_ns"]) for r in records}
    seen_hash = {r["sha256"] for r in records}
    new = [f for f in files if f.stat_key not in seen_stat]
    if not new:
        return FlowResult(target, "source", "skipped", message="no new files")
    frame, read = read_files(
        landing,
        new,
        fmt=source.format,
        columns=source.columns,
        batch_id=ctx.run_id,
        ingested_at=ctx.started_at,
    )
    # A file whose exact content was ingested before (copied, renamed or touched) is
    # recorded under its new name but contributes no rows.
    repeats: set[str] = set()
    for r in read:  # in name order, so the first copy of a content wins
        if r.sha256 in seen_hash:
            repeats.add(r.file.path)
        seen_hash.add(r.sha256)
    if repeats:
        starts = [nw.col("_source").str.starts_with(f"{p}:") for p in sorted(repeats)]
        frame = frame.filter(~nw.any_horizontal(*starts, ignore_nulls=True))
    sequence = (engine.consumed(target, landing_app_id(source.name)) or 0) + 1
    written = (engine.overwrite if full else engine.append)(
        target,
        frame,
        partition_by=source.partition_by,
        transactions={landing_app_id(source.name): sequence},
        metadata={"shoplake.run_id": ctx.run_id, FILES_KEY: json.dumps([r.record() for r in read])},
    )
    return FlowResult(
        table=target,
        kind="source",
        status="completed",
        rows_read=len(frame),
        rows_written=written.rows_inserted,
        version=written.version,
        duration_s=time.perf_counter() - start,
        files=len(read) - len(repeats),
        message=f"{len(repeats)} file(s) already ingested under another name" if repeats else "",
    )
