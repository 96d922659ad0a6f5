"""Where alerts go: a Slack-compatible webhook, e-mail over SMTP, a log file. Every text
is cleaned of secrets (and of personal data unless ``mask_pii = false``)."""

from __future__ import annotations

import json
import smtplib
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from shoplake.observe.alerts.groups import AlertGroup
from shoplake.observe.alerts.settings import AlertSettings
from shoplake.observe.redact import clean_text

Channel = Callable[[Sequence[AlertGroup], AlertSettings], None]
"""Sends ONE message holding at most one entry per rule."""


def _clean(text: str, settings: AlertSettings) -> str:
    return clean_text(text, pii=settings.mask_pii)


def _summary(groups: Sequence[AlertGroup]) -> str:
    new = sum(len(g.new) for g in groups)
    return f"shoplake: {new:,} new alert(s) in {len(groups)} rule(s)"


def send_webhook(groups: Sequence[AlertGroup], settings: AlertSettings) -> None:
    """One Slack-compatible message: ``text`` plus one attachment per rule (Slack takes
    at most 100 attachments; there are as many as rules)."""
    assert settings.webhook_url
    body = {
        "text": _summary(groups),
        "attachments": [
            {
                "color": {"critical": "danger", "warning": "warning"}.get(g.severity, "good"),
                "title": _clean(g.title, settings),
                "text": _clean(g.text(), settings),
                "footer": f"rule {g.rule} · {g.severity}",
                "fields": [
                    {"title": "open", "value": f"{g.open:,}", "short": True},
                    {"title": "new", "value": f"{len(g.new):,}", "short": True},
                ],
            }
            for g in groups
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


def send_email(groups: Sequence[AlertGroup], settings: AlertSettings) -> None:
    assert settings.smtp_host
    message = EmailMessage()
    first = _clean(groups[0].title, settings)
    more = f" (+{len(groups) - 1} more rule(s))" if len(groups) > 1 else ""
    message["Subject"] = f"[shoplake] {first}{more}"
    message["From"] = settings.email_from
    message["To"] = ", ".join(settings.email_to)
    message.set_content("\n\n".join(_clean(g.text(), settings) for g in groups))
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user and settings.smtp_password:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


def write_log(groups: Sequence[AlertGroup], settings: AlertSettings) -> None:
    """One JSON line per rule."""
    assert settings.log_file
    path = Path(settings.log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("a", encoding="utf-8") as out:
        for g in groups:
            entry = {
                "at": stamp,
                "rule": g.rule,
                "severity": g.severity,
                "open": g.open,
                "new": len(g.new),
                "keys": [a.key for a in g.examples],
                "text": _clean(g.text(), settings),
            }
            out.write(json.dumps(entry) + "\n")


def channels(settings: AlertSettings) -> dict[str, Channel]:
    out: dict[str, Channel] = {}
    if settings.log_file:
        out["log"] = write_log
    if settings.webhook_url:
        out["webhook"] = send_webhook
    if settings.smtp_host and settings.email_to:
        out["email"] = send_email
    return out
