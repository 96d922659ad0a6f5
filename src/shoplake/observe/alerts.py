"""Alerts: rules over the lake's own tables, fired once per incident to webhook, email, log.

An *incident* has a stable key (``run_failed:<run>``, ``stale:<table>``, …). Its
state lives in the lake as the Delta table ``_system.alerts`` (one row per
``firing`` or ``resolved`` transition), so an alert fires when its incident opens
and stays quiet on every later check until the condition clears and comes back.

Settings come from ``[alerts]`` in ``shoplake.toml`` and ``SHOPLAKE_ALERTS_<KEY>``
environment variables (which win), e.g.::

    [alerts]
    webhook_url = "https://hooks.example.com/T000/B000"   # Slack-compatible JSON
    email_to = ["data-team@example.com"]
    smtp_host = "localhost"
    log_file = "shoplake-alerts.log"
    quarantine_share = 0.05
    [alerts.sla_minutes]
    "gold.*" = 1440
"""

from __future__ import annotations

import json
import os
import smtplib
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shoplake.config import load_section
from shoplake.errors import ConfigError
from shoplake.names import utcnow
from shoplake.observe import monitor
from shoplake.observe.lake import LakeReader
from shoplake.observe.redact import clean_text
from shoplake.pipeline.tables import Pipeline

ALERTS = "_system.alerts"
RULES = ("run_failed", "fail_expectation", "quarantine_share", "stale")
"""The built-in rules; a pipeline adds its own (``Pipeline.alert_rule``)."""
RESOLVING = ("quarantine_share", "stale")
"""Rules whose incidents resolve when they stop firing; the others are one-off."""


class AlertSettings(BaseModel):
    """The ``[alerts]`` section; every key can also come from ``SHOPLAKE_ALERTS_<KEY>``."""

    model_config = ConfigDict(extra="forbid")

    rules: list[str] | None = None
    """The enabled rules (default: every built-in rule and every rule of the pipeline)."""
    quarantine_share: float = Field(0.05, ge=0, le=1)
    sla_minutes: dict[str, int] = Field(default_factory=dict)
    webhook_url: str | None = None
    webhook_timeout_s: float = 10.0
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    email_from: str = "shoplake@localhost"
    email_to: list[str] = Field(default_factory=list)
    log_file: str | None = None
    mask_pii: bool = True
    dashboard_url: str | None = None


def load_alert_settings(config: Path | None = None) -> AlertSettings:
    values: dict[str, object] = dict(load_section("alerts", config))
    for key, info in AlertSettings.model_fields.items():
        env = os.environ.get(f"SHOPLAKE_ALERTS_{key.upper()}")
        if env is None:
            continue
        if info.annotation in (list[str],):
            values[key] = [v.strip() for v in env.split(",") if v.strip()]
        elif key == "sla_minutes":
            try:
                values[key] = json.loads(env)
            except json.JSONDecodeError as err:
                raise ConfigError(
                    f'SHOPLAKE_ALERTS_SLA_MINUTES must be JSON like {{"gold.*": 60}}: {err}'
                ) from err
        else:
            values[key] = env
    try:
        settings = AlertSettings.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"[alerts] in shoplake.toml or SHOPLAKE_ALERTS_*: {problems}") from err
    return settings


def enabled_rules(settings: AlertSettings, pipeline: Pipeline | None) -> list[str]:
    """The rules to evaluate: those configured, else all; an unknown name is an error
    naming the known ones (the built-in rules and the pipeline's)."""
    known = [*RULES, *(pipeline.alert_rules if pipeline else {})]
    if settings.rules is None:
        return known
    unknown = sorted(set(settings.rules) - set(known))
    if unknown:
        raise ConfigError(
            f"[alerts] rules: unknown {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return list(settings.rules)


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


@dataclass
class CheckResult:
    fired: list[Alert] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    delivery_errors: list[str] = field(default_factory=list)


# -- rules ------------------------------------------------------------------------------------
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
    if "stale" in enabled:
        alerts += _stale_rules(lake, pipeline, settings.sla_minutes, now)
    for name, rule in (pipeline.alert_rules if pipeline else {}).items():
        if name in enabled:
            alerts += [_pipeline_alert(name, found) for found in rule(lake.rows)]
    return alerts


def _pipeline_alert(rule: str, found: dict[str, Any]) -> Alert:
    """An incident a pipeline's rule reported (see ``Pipeline.alert_rule``)."""
    return Alert(
        key=f"{rule}:{found['key']}",
        rule=rule,
        severity=str(found.get("severity") or "high"),
        title=str(found["title"]),
        where=str(found.get("where", "")),
        detail=str(found.get("detail", "")),
        look_at=str(found.get("look_at", "")),
    )


# -- incident state ---------------------------------------------------------------------------
def open_incidents(lake: LakeReader) -> dict[str, str]:
    """Incident key → rule, for every incident whose latest transition is ``firing``."""
    frame = lake.read(ALERTS)
    if frame is None or frame.is_empty():
        return {}
    latest = frame.sort("at").group_by("key").agg(pl.col("status").last(), pl.col("rule").last())
    return {r["key"]: r["rule"] for r in latest.iter_rows(named=True) if r["status"] == "firing"}


def _record(lake: LakeReader, rows: list[dict[str, object]]) -> None:
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


# -- channels ---------------------------------------------------------------------------------
Channel = Callable[[Sequence[Alert], AlertSettings], None]


def _clean(alert: Alert, settings: AlertSettings) -> str:
    return clean_text(alert.text(), pii=settings.mask_pii)


def send_webhook(alerts: Sequence[Alert], settings: AlertSettings) -> None:
    """One Slack-compatible message (``text`` plus one attachment per alert)."""
    assert settings.webhook_url
    body = {
        "text": f"shoplake: {len(alerts)} new alert(s)",
        "attachments": [
            {
                "color": "danger" if a.severity in ("critical", "high") else "warning",
                "title": clean_text(a.title, pii=settings.mask_pii),
                "text": _clean(a, settings),
            }
            for a in alerts
        ],
    }
    request = urllib.request.Request(
        settings.webhook_url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=settings.webhook_timeout_s) as response:
        response.read()


def send_email(alerts: Sequence[Alert], settings: AlertSettings) -> None:
    assert settings.smtp_host
    message = EmailMessage()
    first = clean_text(alerts[0].title, pii=settings.mask_pii)
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    message["Subject"] = f"[shoplake] {first}{more}"
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message.set_content("\n\n".join(_clean(a, settings) for a in alerts))
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


def write_log(alerts: Sequence[Alert], settings: AlertSettings) -> None:
    assert settings.log_file
    path = Path(settings.log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("a", encoding="utf-8") as out:
        for alert in alerts:
            out.write(
                json.dumps(
                    {
                        "at": stamp,
                        "key": alert.key,
                        "rule": alert.rule,
                        "severity": alert.severity,
                        "text": _clean(alert, settings),
                    }
                )
                + "\n"
            )


def channels(settings: AlertSettings) -> dict[str, Channel]:
    out: dict[str, Channel] = {}
    if settings.log_file:
        out["log"] = write_log
    if settings.webhook_url:
        out["webhook"] = send_webhook
    if settings.smtp_host and settings.email_to:
        out["email"] = send_email
    return out


# -- the check --------------------------------------------------------------------------------
def check(
    lake: LakeReader,
    settings: AlertSettings,
    pipeline: Pipeline | None = None,
    now: datetime | None = None,
) -> CheckResult:
    """Evaluate the rules, send what is new, resolve what cleared, and record both.

    An incident is recorded as firing only after at least one channel took it (or
    when no channel is configured), so a failed delivery is retried on the next check.
    """
    result = CheckResult()
    current = {a.key: a for a in evaluate(lake, settings, pipeline, now)}
    already = open_incidents(lake)
    new = [a for key, a in current.items() if key not in already]
    result.still_open = sorted(k for k in current if k in already)
    delivered = not new
    if new:
        targets = channels(settings)
        delivered = not targets
        for name, send in targets.items():
            try:
                send(new, settings)
                delivered = True
            except Exception as err:  # report every channel's failure; never crash a run
                result.delivery_errors.append(
                    clean_text(f"{name}: {type(err).__name__}: {err}", pii=True)
                )
    at = now or utcnow()
    rows: list[dict[str, object]] = []
    if delivered:
        result.fired = new
        rows += [
            {
                "key": a.key,
                "rule": a.rule,
                "status": "firing",
                "at": at,
                "severity": a.severity,
                "title": clean_text(a.title, pii=settings.mask_pii),
                "detail": clean_text(a.detail, pii=settings.mask_pii),
            }
            for a in new
        ]
    # Failed runs and a pipeline's own incidents are one-off: recorded, never "resolved".
    for key, rule in already.items():
        if key not in current and rule in RESOLVING:
            result.resolved.append(key)
            rows.append(
                {
                    "key": key,
                    "rule": rule,
                    "status": "resolved",
                    "at": at,
                    "severity": None,
                    "title": None,
                    "detail": None,
                }
            )
    _record(lake, rows)
    return result


def after_run(
    lake: str, pipeline: Pipeline | None = None, on_error: Callable[[str], None] | None = None
) -> CheckResult | None:
    """The hook ``shoplake run`` calls: check alerts, never let alerting break a run; why
    they could not be checked goes to ``on_error`` (secrets and personal data masked)."""
    try:
        settings = load_alert_settings()
        return check(LakeReader(lake), settings, pipeline)
    except Exception as err:
        if on_error is not None:
            on_error(clean_text(str(err)))
        return None
