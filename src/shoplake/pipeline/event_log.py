"""The event log: one Delta table, ``_system/event_log``, one row per event.

Shaped like Databricks' pipeline event log: ``run_start`` and ``run_end``
bracket a run, and each table's flow adds a ``flow_progress`` row with its
row counts, per-expectation results, quality score, duration, the Delta
version it wrote and its error, if any.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import narwhals as nw

from shoplake.engines.base import Engine
from shoplake.pipeline.results import FlowResult, RunResult

EVENT_LOG = "_system.event_log"

COLUMNS = (
    "event_id",
    "run_id",
    "sequence",
    "timestamp",
    "event_type",
    "table",
    "layer",
    "kind",
    "status",
    "rows_read",
    "rows_written",
    "rows_dropped",
    "rows_quarantined",
    "rows_duplicate",
    "files",
    "expectations",
    "quality_score",
    "duration_s",
    "delta_version",
    "message",
    "failed_rule",
    "failed_rows",
    "rows_read_by_input",
    "log_version",
)

_COUNTS = (
    "rows_read",
    "rows_written",
    "rows_dropped",
    "rows_quarantined",
    "rows_duplicate",
    "files",
    "delta_version",
    "sequence",
    "failed_rows",
    "log_version",
)
_TYPES: dict[str, nw.dtypes.DType] = {
    **{c: nw.Int64() for c in _COUNTS},
    "quality_score": nw.Float64(),
    "duration_s": nw.Float64(),
    "timestamp": nw.Datetime("us"),
}


def _row(run_id: str, at: datetime, event_type: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(COLUMNS)
    row.update(event_id=uuid.uuid4().hex, run_id=run_id, timestamp=at, event_type=event_type)
    row.update(values)
    return row


def _flow_row(run_id: str, at: datetime, flow: FlowResult) -> dict[str, object]:
    expectations = [
        {
            "name": r.name,
            "action": r.action,
            "severity": r.severity,
            "passed": r.passed,
            "failed": r.failed,
        }
        for r in flow.rules
    ]
    return _row(
        run_id,
        at,
        "flow_progress",
        table=flow.table,
        layer=flow.layer,
        kind=flow.kind,
        status=flow.status,
        rows_read=flow.rows_read,
        rows_written=flow.rows_written,
        rows_dropped=flow.rows_dropped,
        rows_quarantined=flow.rows_quarantined,
        rows_duplicate=flow.rows_duplicate,
        files=flow.files,
        expectations=json.dumps(expectations) if expectations else None,
        quality_score=flow.quality_score,
        duration_s=round(flow.duration_s, 4),
        delta_version=flow.version,
        message=flow.message or None,
        failed_rule=flow.failed_rule,
        failed_rows=flow.failed_rows if flow.failed_rule else None,
        rows_read_by_input=json.dumps(dict(flow.read_by_input)) if flow.read_by_input else None,
    )


def write_run_events(engine: Engine, run: RunResult, started: datetime, ended: datetime) -> None:
    """Append a run's events in one commit, keyed by the run id so a retry cannot double it."""
    rows = [_row(run.run_id, started, "run_start", status="running")]
    rows += [_flow_row(run.run_id, ended, flow) for flow in run.flows]
    rows.append(
        _row(
            run.run_id,
            ended,
            "run_end",
            status=run.status,
            rows_read=sum(f.rows_read for f in run.flows if f.kind == "source"),
            rows_written=sum(f.rows_written for f in run.flows),
            rows_quarantined=sum(f.rows_quarantined for f in run.flows),
            quality_score=run.quality_score,
            duration_s=round(run.duration_s, 4),
        )
    )
    # The order runs were logged in, which wall-clock timestamps only give while the
    # clock never goes back: the log's next version (equal for two writers racing).
    current = engine.version(EVENT_LOG)
    log_version = 0 if current is None else current + 1
    for sequence, row in enumerate(rows):
        row["sequence"] = sequence
        row["log_version"] = log_version
    columns = {c: [r[c] for r in rows] for c in COLUMNS}
    frame = engine.frame(columns)
    frame = frame.with_columns(*[nw.col(c).cast(_TYPES.get(c, nw.String())) for c in COLUMNS])
    key = f"events:{run.run_id}"
    if engine.consumed(EVENT_LOG, key) is not None:
        return  # this run's events were already written (a retried write)
    engine.append(EVENT_LOG, frame, transactions={key: 1}, metadata={"shoplake.run_id": run.run_id})
