"""What is in the lake: tables with their versions and sizes, and the event log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import narwhals as nw

from shoplake.engines.base import Engine, TableInfo
from shoplake.observe import monitor
from shoplake.observe.lake import LakeReader
from shoplake.pipeline.event_log import EVENT_LOG

LAYER_ORDER = ("bronze", "silver", "gold", "quarantine", "_system")


def list_tables(engine: Engine) -> list[TableInfo]:
    """Every Delta table under the lake, ordered by layer then name."""
    infos = [info for ref in engine.list_tables() if (info := engine.info(ref)) is not None]
    rank = {layer: i for i, layer in enumerate(LAYER_ORDER)}
    return sorted(infos, key=lambda t: (rank.get(t.ref.partition(".")[0], 99), t.ref))


@dataclass(frozen=True)
class RunSummary:
    """One run as ``shoplake events --runs`` lists it."""

    run_id: str
    status: str
    started: object  # None when the log lacks the run's run_start row
    ended: object
    duration_s: float | None
    rows_written: int | None
    quality_score: float | None


def runs(engine: Engine, limit: int = 20) -> list[RunSummary]:
    """The latest runs, newest first: ``monitor.runs`` (the one reading of runs from the
    event log, which the dashboard, ``status`` and alerts use too) as records."""
    frame = monitor.runs(LakeReader(engine.lake, engine=engine), limit=limit)
    return [
        RunSummary(
            r["run_id"],
            r["status"],
            r["started"],
            r["ended"],
            r["duration_s"],
            r["rows_written"],
            r["quality_score"],
        )
        for r in frame.iter_rows(named=True)
    ]


def events(
    engine: Engine, run_id: str | None = None, table: str | None = None
) -> list[dict[str, Any]]:
    """Event-log rows of one run (default: the latest), optionally of one table."""
    if engine.version(EVENT_LOG) is None:
        return []
    log = engine.read(EVENT_LOG)
    if run_id is None:
        latest = runs(engine, 1)
        if not latest:
            return []
        run_id = latest[0].run_id
    log = log.filter(nw.col("run_id").str.starts_with(run_id))
    if table is not None:
        log = log.filter((nw.col("table") == table) | nw.col("table").str.ends_with(f".{table}"))
    return list(engine.collect(log.sort("sequence")).rows(named=True))
