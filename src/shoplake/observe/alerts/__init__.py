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

The package: ``settings`` (the ``[alerts]`` section), ``rules`` (incidents), ``incidents``
(their state in ``_system.alerts``), ``channels`` (webhook, e-mail, log) and, here, the
check that ties them together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from shoplake.names import utcnow
from shoplake.observe.alerts.channels import channels
from shoplake.observe.alerts.incidents import ALERTS, open_incidents, record
from shoplake.observe.alerts.rules import Alert, evaluate
from shoplake.observe.alerts.settings import (
    RESOLVING,
    RULES,
    AlertSettings,
    enabled_rules,
    load_alert_settings,
)
from shoplake.observe.lake import LakeReader
from shoplake.observe.redact import clean_text
from shoplake.pipeline.tables import Pipeline

__all__ = [
    "ALERTS",
    "RULES",
    "Alert",
    "AlertSettings",
    "CheckResult",
    "after_run",
    "check",
    "enabled_rules",
    "evaluate",
    "load_alert_settings",
    "open_incidents",
]


@dataclass
class CheckResult:
    fired: list[Alert] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    delivery_errors: list[str] = field(default_factory=list)


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
    record(lake, rows)
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
