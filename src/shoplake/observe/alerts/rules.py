"""The alert rules: what is wrong in the lake right now, as incidents with stable keys.

Built in: ``run_failed`` and ``fail_expectation`` (the latest run), ``quarantine_share``,
``files_refused`` (landing files the latest batch recorded without ingesting them) and
``stale`` (freshness SLAs); a pipeline adds its own (``Pipeline.alert_rule``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import polars as pl

from shoplake.ingest.file_log import FILES_TABLE
from shoplake.observe import monitor
from shoplake.observe.alerts.settings import RULE_SEVERITY, AlertSettings, enabled_rules
from shoplake.observe.lake import LakeReader
from shoplake.pipeline.tables import Pipeline


@dataclass(frozen=True)
class Alert:
    """One incident: what happened, where, and what to look at."""

    key: str
    rule: str
    severity: str
    title: str
    where: str
    detail: str
    look_at: str

    def text(self) -> str:
        return (
            f"[{self.severity.upper()}] {self.title}\n"
            f"where: {self.where}\n"
            f"what: {self.detail}\n"
            f"look at: {self.look_at}"
        )


def _run_rules(lake: LakeReader) -> list[Alert]:
    """The latest run: failed flows and ``fail`` expectations, one incident per run."""
    recent = monitor.runs(lake, limit=1)
    if recent.is_empty():
        return []
    run = recent.row(0, named=True)
    if run["status"] != "failed":
        return []
    flows = monitor.flows(lake).filter(
        (pl.col("run_id") == run["run_id"]) & (pl.col("status") == "failed")
    )
    alerts: list[Alert] = []
    failed_tables = []
    for flow in flows.iter_rows(named=True):
        message = flow["message"] or ""
        failed_tables.append(flow["table"])
        rule = flow["failed_rule"]
        if rule:
            alerts.append(
                Alert(
                    key=f"fail_expectation:{run['run_id']}:{flow['table']}",
                    rule="fail_expectation",
                    severity="critical",
                    title=f"fail expectation '{rule}' stopped {flow['table']}",
                    where=f"table {flow['table']}, run {run['run_id']}",
                    detail=(
                        f"{flow['failed_rows']} row(s) broke '{rule}'; nothing was committed "
                        f"to {flow['table']} and its downstream tables were skipped. "
                        + _sample(message)
                    ),
                    look_at=f"shoplake events --run {run['run_id']} --table {flow['table']}",
                )
            )
    first = flows.head(1)["message"].to_list()
    alerts.insert(
        0,
        Alert(
            key=f"run_failed:{run['run_id']}",
            rule="run_failed",
            severity="high",
            title=f"pipeline run {run['run_id']} failed",
            where=f"tables: {', '.join(failed_tables) or 'unknown'}",
            detail=(first[0] or "").split("\n", 1)[0] if first else "the run ended as failed",
            look_at=f"shoplake events --run {run['run_id']} (or the dashboard's Pipeline page)",
        ),
    )
    return alerts


def _sample(message: str, lines: int = 3) -> str:
    """The first offending rows the error message carries (masked later, like all text)."""
    _, _, sample = message.partition("Sample of offending rows:")
    rows = [r.strip() for r in sample.strip().splitlines()[:lines] if r.strip()]
    return ("Sample: " + " | ".join(rows)) if rows else ""


def _quarantine_rules(lake: LakeReader, threshold: float) -> list[Alert]:
    growth = monitor.quarantine_growth(lake).filter(pl.col("share") > threshold)
    return [
        Alert(
            key=f"quarantine_share:{row['table']}",
            rule="quarantine_share",
            severity="medium",
            title=f"{row['share']:.1%} of {row['table']}'s latest input was quarantined",
            where=f"table {row['table']} → quarantine.{row['table'].split('.', 1)[1]}",
            detail=(
                f"{row['last_run']:,} row(s) quarantined in the latest run "
                f"(threshold {threshold:.1%}; {row['total']:,} in total)"
            ),
            look_at=(
                'shoplake sql "SELECT rule, count(*) FROM '
                f'quarantine.{row["table"].split(".", 1)[1]} GROUP BY rule"'
            ),
        )
        for row in growth.iter_rows(named=True)
    ]


def _refused_file_rules(lake: LakeReader) -> list[Alert]:
    """Files the latest batch recorded but did not ingest: quarantined whole, failed,
    refused for their name, or in a format their source does not read."""
    files = lake.read(FILES_TABLE)
    if files is None or files.is_empty():
        return []
    latest = str(files.sort("recorded_at").get_column("batch_id").last())
    refused = files.filter(
        (pl.col("batch_id") == latest) & pl.col("status").is_in(list(monitor.REFUSED))
    )
    alerts = []
    for (name,), group in refused.group_by(["source"], maintain_order=True):
        source = str(name)
        sample = "; ".join(
            f"{r['path']} ({r['status']}: {r['reason']})"
            for r in group.head(3).iter_rows(named=True)
        )
        alerts.append(
            Alert(
                key=f"files_refused:{source}:{latest}",
                rule="files_refused",
                severity="warning",
                title=f"{group.height} landing file(s) of {source} were not ingested",
                where=f"landing/{source}, batch {latest}",
                detail=sample + ("; …" if group.height > 3 else ""),
                look_at=f"shoplake files --batch {latest}",
            )
        )
    return alerts


def _stale_rules(
    lake: LakeReader, pipeline: Pipeline | None, overrides: dict[str, int], now: datetime | None
) -> list[Alert]:
    return [
        Alert(
            key=f"stale:{f.table}",
            rule="stale",
            severity="medium",
            title=f"{f.table} is {f.age_minutes:.0f} min old, over its {f.sla_minutes} min SLA",
            where=f"table {f.table}",
            detail=f"last commit {f.last_commit:%Y-%m-%d %H:%M} UTC",
            look_at="shoplake status (source lag, last run) and whether `shoplake watch`/run runs",
        )
        for f in monitor.freshness(lake, pipeline, overrides, now)
        if f.stale and f.age_minutes is not None and f.last_commit is not None
    ]


def evaluate(
    lake: LakeReader,
    settings: AlertSettings,
    pipeline: Pipeline | None = None,
    now: datetime | None = None,
) -> list[Alert]:
    """Every incident open right now under the enabled rules."""
    alerts: list[Alert] = []
    enabled = set(enabled_rules(settings, pipeline))
    if enabled & {"run_failed", "fail_expectation"}:
        alerts += [a for a in _run_rules(lake) if a.rule in enabled]
    if "quarantine_share" in enabled:
        alerts += _quarantine_rules(lake, settings.quarantine_share)
    if "files_refused" in enabled:
        alerts += _refused_file_rules(lake)
    if "stale" in enabled:
        alerts += _stale_rules(lake, pipeline, settings.sla_minutes, now)
    for name, rule in (pipeline.alert_rules if pipeline else {}).items():
        if name in enabled:
            alerts += [_pipeline_alert(name, found) for found in rule(lake.rows)]
    builtin = set(RULE_SEVERITY)
    return [
        replace(a, severity=settings.severity_of(a.rule, None if a.rule in builtin else a.severity))
        for a in alerts
    ]


def _pipeline_alert(rule: str, found: dict[str, Any]) -> Alert:
    """An incident a pipeline's rule reported (see ``Pipeline.alert_rule``)."""
    return Alert(
        key=f"{rule}:{found['key']}",
        rule=rule,
        severity=str(found.get("severity") or "warning"),
        title=str(found["title"]),
        where=str(found.get("where", "")),
        detail=str(found.get("detail", "")),
        look_at=str(found.get("look_at", "")),
    )
