"""The no-broker mode of an event stream: JSON-lines files of ``<landing>/<name>/`` into
the stream's bronze table, one message per line, exactly once (the files' identities
travel in the bronze commit, as for any landing source)."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime
from pathlib import Path

import narwhals as nw

from shoplake.ingest.bronze import FILES_KEY, landing_app_id
from shoplake.names import JSONL, utc_from_epoch
from shoplake.pipeline.context import FlowContext
from shoplake.pipeline.results import FlowResult
from shoplake.pipeline.tables import StreamSourceDef
from shoplake.sources.kafka import file_messages
from shoplake.sources.listing import discover


def run_stream_files(ctx: FlowContext, source: StreamSourceDef, landing: Path) -> FlowResult:
    """New JSON-lines files of the stream's landing folder into its bronze table."""
    start = time.perf_counter()
    engine = ctx.engine
    target = source.ref
    full = ctx.full_refresh or engine.version(target) is None
    seen: set[tuple[str, int, int]] = set()
    if not full:
        for value in engine.commit_metadata(target, FILES_KEY):
            seen |= {(r["path"], r["size"], r["mtime_ns"]) for r in json.loads(value)}
    new = [f for f in discover(landing, source.name, JSONL) if f.stat_key not in seen]
    if not new:
        return FlowResult(target, "stream", "skipped", message="no new files")
    files: list[tuple[str, datetime, list[tuple[int, bytes]]]] = []
    records: list[dict[str, object]] = []
    for f in new:
        raw = (landing / f.path).read_bytes()
        numbered = [
            (i + 1, line.rstrip(b"\r")) for i, line in enumerate(raw.split(b"\n")) if line.strip()
        ]
        stamp = utc_from_epoch(f.mtime_ns / 1e9)
        files.append((f.path, stamp, numbered))
        records.append(
            {
                "path": f.path,
                "size": f.size,
                "mtime_ns": f.mtime_ns,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "rows": len(numbered),
            }
        )
    rows = nw.from_native(file_messages(files, ctx.run_id, ctx.started_at), eager_only=True)
    sequence = (engine.consumed(target, landing_app_id(source.name)) or 0) + 1
    written = (engine.overwrite if full else engine.append)(
        target,
        rows,
        transactions={landing_app_id(source.name): sequence},
        metadata={"shoplake.run_id": ctx.run_id, FILES_KEY: json.dumps(records)},
    )
    return FlowResult(
        table=target,
        kind="stream",
        status="completed",
        rows_read=len(rows),
        rows_written=written.rows_inserted,
        version=written.version,
        duration_s=time.perf_counter() - start,
        files=len(new),
    )
