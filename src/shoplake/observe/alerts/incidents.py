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


DELIVERIES = "_system.alert_deliveries"
"""One row per incident a channel was told about: ``channel, key, fired_at, at`` (``at``
is the message's time, so it also counts a channel's messages for rate limits)."""


def open_since(lake: LakeReader) -> dict[str, tuple[str, Any]]:
    """Incident key → (rule, when its latest ``firing`` was recorded), for open incidents."""
    frame = lake.read(ALERTS)
    if frame is None or frame.is_empty():
        return {}
    latest = (
        frame.sort("at")
        .group_by("key")
        .agg(pl.col("status").last(), pl.col("rule").last(), pl.col("at").last())
    )
    return {
        r["key"]: (r["rule"], r["at"])
        for r in latest.iter_rows(named=True)
        if r["status"] == "firing"
    }


def delivered(lake: LakeReader) -> dict[str, tuple[set[tuple[str, Any]], list[Any]]]:
    """Per channel: the (incident key, fired_at) pairs it was told about, and the times
    of its messages, newest first."""
    frame = lake.read(DELIVERIES)
    if frame is None or frame.is_empty():
        return {}
    out: dict[str, tuple[set[tuple[str, Any]], list[Any]]] = {}
    for channel, rows in frame.group_by("channel"):
        told = set(zip(rows["key"].to_list(), rows["fired_at"].to_list(), strict=True))
        times = sorted(set(rows["at"].to_list()), reverse=True)
        out[str(channel[0])] = (told, times)
    return out


def record_deliveries(lake: LakeReader, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    schema: dict[str, Any] = {
        "channel": pl.String,
        "key": pl.String,
        "fired_at": pl.Datetime("us"),
        "at": pl.Datetime("us"),
    }
    engine = lake.engine
    frame = pl.DataFrame(rows, schema=schema).to_dict(as_series=False)
    engine.append(DELIVERIES, engine.frame(frame))
