"""Pipeline health from the lake's own tables: runs, flows, rules, quarantine, freshness, lag.

Every function takes a :class:`LakeReader` and returns plain frames or records, so
the dashboard, ``status`` and the alert rules share one reading of the facts.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from shoplake.ingest.bronze import FILES_KEY
from shoplake.names import BATCH_ID, SOURCE, utc_from_epoch, utcnow
from shoplake.observe.lake import LakeReader
from shoplake.pipeline.event_log import EVENT_LOG
from shoplake.pipeline.graph import build_graph
from shoplake.pipeline.tables import Pipeline, SourceDef, TableDef
from shoplake.sources.listing import LandedFile, Rejected, scan

BATCHES = "_system.batches"


def _events(lake: LakeReader) -> pl.DataFrame | None:
    return lake.read(EVENT_LOG)


def runs(lake: LakeReader, limit: int = 50) -> pl.DataFrame:
    """One row per run, newest first: ``run_id, started, ended, status, duration_s,
    rows_read, rows_written, rows_quarantined, quality_score, failed_tables``."""
    log = _events(lake)
    if log is None or log.is_empty():
        return pl.DataFrame(
            schema={
                "run_id": pl.String,
                "started": pl.Datetime("us"),
                "ended": pl.Datetime("us"),
                "status": pl.String,
                "duration_s": pl.Float64,
                "rows_read": pl.Int64,
                "rows_written": pl.Int64,
                "rows_quarantined": pl.Int64,
                "quality_score": pl.Float64,
                "failed_tables": pl.String,
            }
        )
    starts = log.filter(pl.col("event_type") == "run_start").select(
        "run_id", started=pl.col("timestamp")
    )
    failed = (
        log.filter((pl.col("event_type") == "flow_progress") & (pl.col("status") == "failed"))
        .group_by("run_id")
        .agg(failed_tables=pl.col("table").sort().str.join(", "))
    )
    if "log_version" not in log.columns:  # a lake logged before runs carried it
        log = log.with_columns(log_version=pl.lit(None, pl.Int64))
    ends = log.filter(pl.col("event_type") == "run_end").select(
        "run_id",
        "log_version",
        ended=pl.col("timestamp"),
        status="status",
        duration_s="duration_s",
        rows_read="rows_read",
        rows_written="rows_written",
        rows_quarantined="rows_quarantined",
        quality_score="quality_score",
    )
    return (
        ends.join(starts, on="run_id", how="left")
        .join(failed, on="run_id", how="left")
        .select(
            "run_id",
            "started",
            "ended",
            "status",
            "duration_s",
            "rows_read",
            "rows_written",
            "rows_quarantined",
            "quality_score",
            "failed_tables",
            "log_version",
        )
        # Newest first in the order they were logged; the clock only breaks ties.
        .sort(["log_version", "ended"], descending=True, nulls_last=True)
        .drop("log_version")
        .head(limit)
    )


def flows(lake: LakeReader) -> pl.DataFrame:
    """Every ``flow_progress`` event: which table did what in which run."""
    log = _events(lake)
    if log is None:
        return pl.DataFrame(
            schema={"run_id": pl.String, "timestamp": pl.Datetime("us"), "table": pl.String}
        )
    return (
        log.filter(pl.col("event_type") == "flow_progress")
        .select(
            "run_id",
            "timestamp",
            "table",
            "layer",
            "kind",
            "status",
            "rows_read",
            "rows_written",
            "rows_dropped",
            "rows_quarantined",
            "rows_duplicate",
            "quality_score",
            "duration_s",
            "delta_version",
            "message",
            # Event logs written before these columns existed read them as null.
            *[
                pl.lit(None, dtype).alias(column) if column not in log.columns else pl.col(column)
                for column, dtype in (("failed_rule", pl.String), ("failed_rows", pl.Int64))
            ],
        )
        .sort("timestamp", "table")
    )


def rule_history(lake: LakeReader) -> pl.DataFrame:
    """Per run, table and expectation: ``passed`` and ``failed`` row counts."""
    log = _events(lake)
    rows: list[dict[str, object]] = []
    if log is not None:
        for event in log.filter(pl.col("expectations").is_not_null()).iter_rows(named=True):
            for rule in json.loads(event["expectations"]):
                rows.append(
                    {
                        "run_id": event["run_id"],
                        "timestamp": event["timestamp"],
                        "table": event["table"],
                        "rule": rule["name"],
                        "action": rule["action"],
                        "severity": rule["severity"],
                        "passed": int(rule["passed"]),
                        "failed": int(rule["failed"]),
                    }
                )
    schema: dict[str, Any] = {
        "run_id": pl.String,
        "timestamp": pl.Datetime("us"),
        "table": pl.String,
        "rule": pl.String,
        "action": pl.String,
        "severity": pl.String,
        "passed": pl.Int64,
        "failed": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema).sort("timestamp", "table", "rule")


def batches(lake: LakeReader) -> pl.DataFrame | None:
    """``_system.batches`` as it is, newest first when it has a time column; None if absent."""
    frame = lake.read(BATCHES)
    if frame is None:
        return None
    for column in ("started_at", "started", "start_time", "created_at", "ended_at", "timestamp"):
        if column in frame.columns:
            return frame.sort(column, descending=True, nulls_last=True)
    return frame


def quarantine(lake: LakeReader) -> pl.DataFrame:
    """Every quarantined row of every table with its rule, severity, provenance and record."""
    frames = []
    for ref in lake.tables():
        if ref.startswith("quarantine."):
            frame = lake.read(ref)
            if frame is not None and frame.height:
                keep = [
                    c
                    for c in (
                        "table",
                        "rule",
                        "failed_rules",
                        "severity",
                        "quarantined_at",
                        SOURCE,
                        BATCH_ID,
                        "record",
                    )
                    if c in frame.columns
                ]
                frames.append(frame.select(keep))
    if not frames:
        return pl.DataFrame(schema={"table": pl.String, "rule": pl.String})
    return pl.concat(frames, how="diagonal_relaxed").sort("quarantined_at", descending=True)


def quarantine_growth(lake: LakeReader) -> pl.DataFrame:
    """Per table: rows quarantined in the latest run that touched it, in total, and the
    latest run's quarantine share (quarantined / rows read)."""
    flow = flows(lake)
    if flow.is_empty() or "rows_quarantined" not in flow.columns:
        return pl.DataFrame(
            schema={
                "table": pl.String,
                "last_run": pl.Int64,
                "total": pl.Int64,
                "share": pl.Float64,
            }
        )
    ran = flow.filter(pl.col("status") == "completed")
    latest = (
        ran.sort("timestamp")
        .group_by("table")
        .agg(
            last_run=pl.col("rows_quarantined").fill_null(0).last(),
            last_read=pl.col("rows_read").fill_null(0).last(),
            total=pl.col("rows_quarantined").fill_null(0).sum(),
        )
    )
    return (
        latest.filter(pl.col("total") > 0)
        .with_columns(
            share=pl.when(pl.col("last_read") > 0)
            .then(pl.col("last_run") / pl.col("last_read"))
            .otherwise(0.0)
        )
        .select("table", "last_run", "total", "share")
        .sort("total", descending=True)
    )


@dataclass(frozen=True)
class Freshness:
    table: str
    last_commit: datetime | None
    age_minutes: float | None
    sla_minutes: int | None

    @property
    def stale(self) -> bool:
        return (
            self.sla_minutes is not None
            and self.age_minutes is not None
            and self.age_minutes > self.sla_minutes
        )


def sla_for(ref: str, pipeline: Pipeline | None, overrides: dict[str, int]) -> int | None:
    """A table's freshness SLA: config (exact ref, then glob like ``gold.*``) wins over
    the table declaration's ``sla_minutes``."""
    if ref in overrides:
        return overrides[ref]
    for pattern, minutes in overrides.items():
        if fnmatch.fnmatchcase(ref, pattern):
            return minutes
    if pipeline is not None:
        definition = pipeline.definitions.get(ref)
        if isinstance(definition, TableDef):
            return definition.sla_minutes
    return None


def freshness(
    lake: LakeReader,
    pipeline: Pipeline | None = None,
    overrides: dict[str, int] | None = None,
    now: datetime | None = None,
) -> list[Freshness]:
    """Age of every bronze/silver/gold table against its SLA (None when it has none)."""
    now = now or utcnow()
    out = []
    for ref in lake.tables():
        if ref.split(".")[0] not in ("bronze", "silver", "gold"):
            continue
        last = lake.last_commit(ref)
        age = None if last is None else (now - last).total_seconds() / 60
        out.append(Freshness(ref, last, age, sla_for(ref, pipeline, overrides or {})))
    return out


@dataclass(frozen=True)
class SourceLag:
    source: str
    waiting_files: int
    waiting_bytes: int
    oldest_waiting: datetime | None
    refused_files: int = 0
    """Files still in the landing folder that a batch recorded without ingesting them
    (quarantined whole, failed, an unsafe name, a format the source does not read)."""


REFUSED = ("quarantined", "failed", "rejected", "unsupported")


def source_lag(lake: LakeReader, pipeline: Pipeline, landing: Path) -> list[SourceLag]:
    """Files in each source's landing folder that no bronze commit has recorded yet, and
    those recorded as refused. Every file is one or the other, or ingested."""
    out = []
    for ref, definition in pipeline.definitions.items():
        if not isinstance(definition, SourceDef):
            continue
        seen: dict[tuple[object, object, object], str] = {}
        for value in lake.commit_metadata(ref, FILES_KEY):
            for r in json.loads(value):
                seen[(r["path"], r["size"], r["mtime_ns"])] = str(r.get("status", "ingested"))
        try:
            found, others = scan(landing, definition.name, definition.format)
        except Exception:  # a missing or unreadable landing folder means nothing is waiting
            found, others = [], []
        files: list[LandedFile | Rejected] = [*found, *others]
        waiting = [f for f in files if f.stat_key not in seen]
        refused = [f for f in files if seen.get(f.stat_key) in REFUSED]
        oldest = min((f.mtime_ns for f in waiting), default=None)
        out.append(
            SourceLag(
                definition.name,
                len(waiting),
                sum(f.size for f in waiting),
                None if oldest is None else utc_from_epoch(oldest / 1e9),
                len(refused),
            )
        )
    return out


def dependency_edges(pipeline: Pipeline) -> list[tuple[str, str]]:
    """(upstream, downstream) pairs of the pipeline graph, in dependency order."""
    graph = build_graph(pipeline)
    edges = []
    for ref in graph.order:
        for dep in sorted(graph.upstream(ref)):
            edges.append((dep, ref))
    return edges
