"""The ``[alerts]`` settings: ``shoplake.toml`` and ``SHOPLAKE_ALERTS_<KEY>`` variables, and
which rules are enabled for a pipeline."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError

from shoplake.config import load_section
from shoplake.errors import ConfigError
from shoplake.pipeline.tables import Pipeline

RULES = ("run_failed", "fail_expectation", "quarantine_share", "files_refused", "stale")
"""The built-in rules; a pipeline adds its own (``Pipeline.alert_rule``)."""
RESOLVING = ("quarantine_share", "stale")
"""Rules whose incidents resolve when they stop firing; the others are one-off."""
SEVERITIES = ("info", "warning", "critical")
RULE_SEVERITY = {
    "run_failed": "critical",
    "fail_expectation": "critical",
    "quarantine_share": "warning",
    "files_refused": "warning",
    "stale": "warning",
}
"""Each built-in rule's severity (``[alerts.severity]`` overrides any rule's)."""
_LEGACY = {"high": "critical", "medium": "warning", "low": "info"}
CHANNELS = ("log", "webhook", "email")
# What each channel needs before it sends anything: a policy for a channel missing it
# would never fire, silently.
_CHANNEL_NEEDS = {"log": "log_file", "webhook": "webhook_url", "email": "smtp_host"}


def severity_rank(severity: str) -> int:
    """``info`` < ``warning`` < ``critical`` (older names map: high, medium, low)."""
    return SEVERITIES.index(_LEGACY.get(severity, severity))


class ChannelPolicy(BaseModel):
    """How one channel (``log``, ``webhook``, ``email``) is fed: ``[alerts.channels.<name>]``."""

    model_config = ConfigDict(extra="forbid")

    min_severity: str = "info"
    """Only incidents at or above this severity go to the channel."""
    max_per_hour: int | None = Field(default=None, ge=1)
    """At most this many messages in any hour; the rest fold into the next message."""
    digest_minutes: int | None = Field(default=None, ge=1)
    """One message per this many minutes, summarising every open incident."""
    quiet_hours: str | None = None
    """``"22-07"`` (UTC hours): nothing is sent then; it folds into the first message after."""

    def quiet_at(self, hour: int) -> bool:
        if not self.quiet_hours:
            return False
        start, _, end = self.quiet_hours.partition("-")
        first, last = int(start), int(end)
        return first <= hour < last if first <= last else hour >= first or hour < last


class AlertSettings(BaseModel):
    """The ``[alerts]`` section; every key can also come from ``SHOPLAKE_ALERTS_<KEY>``."""

    model_config = ConfigDict(extra="forbid")

    rules: list[str] | None = None
    """The enabled rules (default: every built-in rule and every rule of the pipeline)."""
    quarantine_share: float = Field(0.05, ge=0, le=1)
    sla_minutes: dict[str, NonNegativeInt] = Field(default_factory=dict)
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(10.0, gt=0)
    smtp_host: str | None = None
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    email_from: str = "shoplake@localhost"
    email_to: list[str] = Field(default_factory=list)
    log_file: str | None = None
    mask_pii: bool = True
    dashboard_url: str | None = None
    severity: dict[str, str] = Field(default_factory=dict)
    """Rule → ``info``, ``warning`` or ``critical``, over the rule's own severity."""
    channels: dict[str, ChannelPolicy] = Field(default_factory=dict)
    """Per channel: minimum severity, rate limit, digest interval, quiet hours."""
    examples: int = Field(5, ge=0)
    """Incidents shown by name in each rule's entry of a message."""

    def policy(self, channel: str) -> ChannelPolicy:
        return self.channels.get(channel, ChannelPolicy())

    def severity_of(self, rule: str, found: str | None = None) -> str:
        chosen = self.severity.get(rule) or found or RULE_SEVERITY.get(rule, "warning")
        return SEVERITIES[severity_rank(chosen)]


def load_alert_settings(config: Path | None = None) -> AlertSettings:
    values: dict[str, object] = dict(load_section("alerts", config))
    for key, info in AlertSettings.model_fields.items():
        env = os.environ.get(f"SHOPLAKE_ALERTS_{key.upper()}")
        if env is None:
            continue
        if key == "rules" or info.annotation in (list[str],):
            values[key] = [v.strip() for v in env.split(",") if v.strip()]
        elif key in ("sla_minutes", "severity", "channels"):
            try:
                values[key] = json.loads(env)
            except json.JSONDecodeError as err:
                raise ConfigError(
                    f'SHOPLAKE_ALERTS_{key.upper()} must be JSON like {{"gold.*": 60}}: {err}'
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
    for where, severity in [
        *((f"severity.{r}", s) for r, s in settings.severity.items()),
        *((f"channels.{c}.min_severity", p.min_severity) for c, p in settings.channels.items()),
    ]:
        if _LEGACY.get(severity, severity) not in SEVERITIES:
            raise ConfigError(f"[alerts] {where} = {severity!r}: use {', '.join(SEVERITIES)}")
    _check_channels(settings)
    for name, policy in settings.channels.items():
        hours = (policy.quiet_hours or "0-0").partition("-")
        if not (hours[0].isdigit() and hours[2].isdigit() and int(hours[0]) < 24 > int(hours[2])):
            raise ConfigError(
                f"[alerts] channels.{name}.quiet_hours = {policy.quiet_hours!r}: write UTC "
                'hours as "22-07"'
            )
    return settings


def _check_channels(settings: AlertSettings) -> None:
    for name in settings.channels:
        if name not in CHANNELS:
            raise ConfigError(
                f"[alerts.channels.{name}]: no such channel; use {', '.join(CHANNELS)}"
            )
        needed = _CHANNEL_NEEDS[name]
        if not getattr(settings, needed):
            raise ConfigError(
                f"[alerts.channels.{name}] is set but [alerts] has no {needed}, so nothing "
                f"would be sent: set {needed} (or SHOPLAKE_ALERTS_{needed.upper()})"
            )
    if settings.email_to and not settings.smtp_host:
        raise ConfigError(
            "[alerts] email_to is set but smtp_host is not, so no e-mail would be sent: "
            "set smtp_host (or SHOPLAKE_ALERTS_SMTP_HOST)"
        )
    if settings.smtp_host and not settings.email_to:
        raise ConfigError(
            "[alerts] smtp_host is set but email_to is not, so no e-mail would be sent: "
            'set email_to = ["ops@example.com"]'
        )
    for key in ("webhook_url", "dashboard_url"):
        url = getattr(settings, key)
        if url and not url.startswith(("http://", "https://")):
            # The value is not echoed: a webhook's path often is its secret.
            raise ConfigError(
                f"[alerts] {key} does not start with http:// or https://: write it as "
                "https://host/path"
            )


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
