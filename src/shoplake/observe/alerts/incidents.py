"""Incident state: ``_system.alerts``, one row per ``firing`` or ``resolved`` transition,
so an incident fires once and stays quiet until it clears and comes back."""

from __future__ import annotations

from typing import Any

import polars as pl

from shoplake.observe.lake import LakeReader

ALERTS = "_system.alerts"


def open_incidents(lake: LakeReader) -> dict[str, str]:
    """Incident key → rule, for every incident whose latest transition is ``firing``."""
    frame = lake.read(ALERTS)
    if frame is None or frame.is_empty():
        return {}
    latest = frame.sort("at").group_by("key").agg(pl.col("status").last(), pl.col("rule").last())
    return {r["key"]: r["rule"] for r in latest.iter_rows(named=True) if r["status"] == "firing"}


def record(lake: LakeReader, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    schema: dict[str, Any] = {
        "key": pl.String,
        "rule": pl.String,
        "status": pl.String,
        "at": pl.Datetime("us"),
        "severity": pl.String,
        "title": pl.String,
        "detail": pl.String,
    }
    engine = lake.engine
    engine.append(ALERTS, engine.frame(pl.DataFrame(rows, schema=schema).to_dict(as_series=False)))
