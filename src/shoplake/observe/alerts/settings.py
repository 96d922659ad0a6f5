"""The ``[alerts]`` settings: ``shoplake.toml`` and ``SHOPLAKE_ALERTS_<KEY>`` variables, and
which rules are enabled for a pipeline."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shoplake.config import load_section
from shoplake.errors import ConfigError
from shoplake.pipeline.tables import Pipeline

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
