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

The package: ``settings`` (the ``[alerts]`` section), ``rules`` (the built-in rules and
a pipeline's own, as incidents), ``incidents`` (their state in ``_system.alerts``),
``groups`` (one entry per rule), ``channels`` (webhook, e-mail, log; the terminal is the
CLI's) and, here, the check that ties them together. The rules know the lake's system
tables, never a domain: a pipeline brings its own with ``Pipeline.alert_rule``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shoplake.errors import first_line
from shoplake.names import utcnow
from shoplake.observe.alerts.channels import channels
from shoplake.observe.alerts.groups import AlertGroup, group
from shoplake.observe.alerts.incidents import (
    ALERTS,
    delivered,
    open_incidents,
    open_since,
    record,
    record_deliveries,
)
from shoplake.observe.alerts.rules import Alert, evaluate
from shoplake.observe.alerts.settings import (
    RESOLVING,
    RULES,
    AlertSettings,
    ChannelPolicy,
    enabled_rules,
    load_alert_settings,
    severity_rank,
)
from shoplake.observe.lake import LakeReader
from shoplake.observe.redact import clean_text
from shoplake.pipeline.tables import Pipeline

__all__ = [
    "ALERTS",
    "RULES",
    "Alert",
    "AlertGroup",
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
    groups: list[AlertGroup] = field(default_factory=list)
    """The new incidents grouped by rule: what the terminal shows."""
    sent: dict[str, list[AlertGroup]] = field(default_factory=dict)
    """Channel → the groups its message held."""
    deferred: list[str] = field(default_factory=list)
    """Channels that held their message back (rate limit, quiet hours, digest), and why."""


def _held_back(policy: ChannelPolicy, times: list[datetime], at: datetime) -> str | None:
    """Why a channel sends nothing now, or None."""
    if policy.quiet_at(at.hour):
        return f"quiet hours {policy.quiet_hours} UTC"
    if policy.digest_minutes and times and at - times[0] < timedelta(minutes=policy.digest_minutes):
        return f"next digest {policy.digest_minutes} min after the last"
    if policy.max_per_hour:
        recent = [t for t in times if at - t < timedelta(hours=1)]
        if len(recent) >= policy.max_per_hour:
            return f"rate limit {policy.max_per_hour}/h reached"
    return None


def check(
    lake: LakeReader,
    settings: AlertSettings,
    pipeline: Pipeline | None = None,
    now: datetime | None = None,
) -> CheckResult:
    """Evaluate the rules, tell each channel what is new for it (one message, one entry
    per rule), resolve what cleared, and record it all.

    Each channel keeps its own account of what it was told, so a rate limit, quiet hours
    or a digest fold what is held back into that channel's next message, and a failed
    delivery is retried on the next check. An incident is recorded as firing once a
    channel took it or deliberately held it back (or when no channel is configured).
    """
    result = CheckResult()
    at = now or utcnow()
    current = {a.key: a for a in evaluate(lake, settings, pipeline, now)}
    already = open_since(lake)
    new = [a for key, a in current.items() if key not in already]
    fired_at = {key: already[key][1] if key in already else at for key in current}
    result.still_open = sorted(k for k in current if k in already)
    targets = channels(settings)
    taken = not targets
    told = delivered(lake)
    deliveries: list[dict[str, object]] = []
    for name, send in targets.items():
        policy = settings.policy(name)
        floor = severity_rank(policy.min_severity)
        relevant = [a for a in current.values() if severity_rank(a.severity) >= floor]
        known, times = told.get(name, (set(), []))
        pending = [a for a in relevant if (a.key, fired_at[a.key]) not in known]
        if not (pending or (policy.digest_minutes and relevant)):
            taken = True  # nothing new at this channel's severity
            continue
        why = _held_back(policy, times, at)
        if why is not None:
            result.deferred.append(f"{name}: {why}")
            taken = True
            continue
        groups = group(relevant, pending, settings.examples)
        if not policy.digest_minutes:
            groups = [g for g in groups if g.new]
        try:
            send(groups, settings)
        except Exception as err:  # report every channel's failure; never crash a run
            result.delivery_errors.append(
                clean_text(f"{name}: {type(err).__name__}: {err}", pii=True)
            )
            continue
        taken = True
        result.sent[name] = groups
        included = relevant if policy.digest_minutes else pending
        deliveries += [
            {"channel": name, "key": a.key, "fired_at": fired_at[a.key], "at": at} for a in included
        ]
    rows: list[dict[str, object]] = []
    if taken:
        result.fired = new
        result.groups = [g for g in group(list(current.values()), new, settings.examples) if g.new]
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
    for key, (rule, _) in already.items():
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
    record_deliveries(lake, deliveries)
    return result


def after_run(
    lake: str, pipeline: Pipeline | None = None, on_error: Callable[[str], None] | None = None
) -> CheckResult | None:
    """The hook ``shoplake run`` calls: check alerts, never let alerting break a run; why
    they could not be checked goes to ``on_error`` (secrets and personal data masked)."""
    try:
        settings = load_alert_settings()
        # One reader per check, caching by version: a table several rules read (the event
        # log) is read once.
        reader = LakeReader(lake, cache=True)
        with reader.engine.pinned_snapshots():  # one view of each table for every rule
            return check(reader, settings, pipeline)
    except Exception as err:
        if on_error is not None:
            on_error(clean_text(first_line(err)))
        return None
