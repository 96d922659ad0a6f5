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

from shoplake.observe.alerts.rules import Alert
from shoplake.observe.alerts.settings import AlertSettings
from shoplake.observe.redact import clean_text

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
