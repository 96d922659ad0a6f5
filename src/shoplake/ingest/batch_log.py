"""``_system/batches``: one row per batch — its trigger, status, timings, counts and error.

A batch's row is written ``running`` when it starts and replaced (a merge on
the batch id) when it ends, so a batch whose process died shows as running
until the next batch, holding the lake lock, marks it ``failed``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

import narwhals as nw

from shoplake.engines.base import Engine
from shoplake.names import utcnow

BATCHES = "_system.batches"
TRIGGERS = ("run", "watch", "schedule", "manifest", "reprocess")
INTERRUPTED = "interrupted: the process ended before the batch finished"


@dataclass(frozen=True)
class BatchRow:
    batch_id: str
    trigger: str
    status: str  # running | succeeded | failed
    started_at: datetime
    ended_at: datetime | None = None
    duration_s: float | None = None
    files: int = 0
    files_quarantined: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # table → rows written
    error: str | None = None
    replays: str | None = None
    updated_at: datetime = field(default_factory=lambda: utcnow())


_TYPES: dict[str, nw.dtypes.DType] = {
    "started_at": nw.Datetime("us"),
    "ended_at": nw.Datetime("us"),
    "updated_at": nw.Datetime("us"),
    "duration_s": nw.Float64(),
    "files": nw.Int64(),
    "files_quarantined": nw.Int64(),
}
COLUMNS = tuple(BatchRow.__dataclass_fields__)


def record_batch(engine: Engine, row: BatchRow) -> None:
    row = replace(row, updated_at=utcnow())
    values = asdict(row)
    values["rows"] = json.dumps(row.rows, sort_keys=True)
    frame = engine.frame({c: [values[c]] for c in COLUMNS})
    frame = frame.with_columns(*[nw.col(c).cast(_TYPES.get(c, nw.String())) for c in COLUMNS])
    engine.upsert(BATCHES, frame, keys=["batch_id"], sequence_by="updated_at")


def list_batches(engine: Engine, limit: int | None = None) -> list[BatchRow]:
    """Batches, newest first."""
    if engine.version(BATCHES) is None:
        return []
    rows = engine.collect(engine.read(BATCHES)).rows(named=True)
    batches = [BatchRow(**{**r, "rows": json.loads(r["rows"] or "{}")}) for r in rows]
    batches.sort(key=lambda b: (b.started_at, b.batch_id), reverse=True)
    return batches[:limit] if limit else batches


def get_batch(engine: Engine, batch_id: str) -> BatchRow | None:
    for batch in list_batches(engine):
        if batch.batch_id == batch_id:
            return batch
    return None


def mark_interrupted(engine: Engine) -> list[str]:
    """Batches left ``running`` by a process that died: now ``failed``. Call with the lock."""
    stale = [b for b in list_batches(engine) if b.status == "running"]
    for batch in stale:
        record_batch(engine, replace(batch, status="failed", error=INTERRUPTED))
    return [b.batch_id for b in stale]
