"""Alerts reach a local webhook, a local SMTP server and a log file, once per incident."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import polars as pl
import pytest
from observe_shop import Shop

from shoplake.observe.alerts import AlertSettings, check, load_alert_settings, open_incidents
from shoplake.observe.lake import LakeReader


def _settings(url: str, port: int, log: Path, **extra: object) -> AlertSettings:
    return AlertSettings(
        webhook_url=url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        email_to=["ops@example.com"],
        log_file=str(log),
        **extra,  # type: ignore[arg-type]
    )


def test_each_incident_fires_once_on_every_channel_grouped_by_rule(
    fresh_shop: Shop, webhook, smtp, tmp_path: Path
) -> None:
    from shoplake.ecommerce.pipeline import build_pipeline

    url, posts = webhook
    port, mails = smtp
    pipeline = build_pipeline()
    lake = LakeReader(str(fresh_shop.lake))
    log = tmp_path / "alerts.log"
    settings = _settings(url, port, log, quarantine_share=0.0, sla_minutes={"gold.*": 60})
    fraud_rows = lake.read("gold.fraud_alerts")
    assert fraud_rows is not None

    first = check(lake, settings, pipeline)
    rules = {a.rule for a in first.fired}
    assert "quarantine_share" in rules  # any quarantined row is over a 0% threshold
    assert len([a for a in first.fired if a.rule == "fraud"]) == fraud_rows.height
    # One message per channel, one entry per rule, each naming its count.
    assert len(posts) == 1 and len(posts[0]["attachments"]) == len(rules)
    per_rule = {r: sum(1 for a in first.fired if a.rule == r) for r in rules}
    shown = {e["footer"].split()[1]: e["fields"][0]["value"] for e in posts[0]["attachments"]}
    assert shown == {r: f"{n:,}" for r, n in per_rule.items()}
    assert len(mails) == 1 and mails[0].rcpt_tos == ["ops@example.com"]
    body = mails[0].content.decode()
    assert "where:" in body and "look at:" in body
    assert len(log.read_text().splitlines()) == len(rules)

    # The same conditions on the next check: nothing new is sent.
    second = check(lake, settings, pipeline)
    assert second.fired == [] and len(second.still_open) == len(first.fired)
    assert len(posts) == 1 and len(mails) == 1

    # A table older than its SLA opens a stale incident once; it resolves when fresh again.
    later = lake.last_commit("gold.executive_kpis") + timedelta(minutes=90)  # type: ignore[operator]
    stale = check(lake, settings, pipeline, now=later)
    assert {a.rule for a in stale.fired} == {"stale"}
    assert all(a.key.startswith("stale:gold.") for a in stale.fired)
    assert check(lake, settings, pipeline, now=later).fired == []
    resolved = check(lake, settings, pipeline)
    assert set(resolved.resolved) == {a.key for a in stale.fired}
    assert len(posts) == 2 and len(posts[1]["attachments"]) == 1
    assert posts[1]["attachments"][0]["fields"][1]["value"] == f"{len(stale.fired):,}"
    state = pl.read_delta(str(fresh_shop.lake / "_system" / "alerts"))
    assert set(state["status"]) == {"firing", "resolved"}


def test_failed_run_and_fail_expectation_alert_without_pii(
    fresh_shop: Shop, webhook, smtp, tmp_path: Path
) -> None:
    import narwhals as nw

    import shoplake
    from shoplake.ecommerce.pipeline import build_pipeline
    from shoplake.engines.polars_delta import PolarsDeltaEngine
    from shoplake.pipeline.expectations import expect
    from shoplake.pipeline.tables import TableDef

    url, posts = webhook
    port, mails = smtp
    pipeline = build_pipeline()
    customers = pipeline.definitions["silver.customers"]
    assert isinstance(customers, TableDef)
    # A fail rule that every customer with an email breaks: the message samples emails.
    rule = expect("no_emails_allowed", nw.col("email").is_null(), action="fail")
    pipeline._definitions["silver.customers"] = TableDef(
        **{**customers.__dict__, "rules": (*customers.rules, rule)}
    )
    fresh_shop.land_the_rest()
    (fresh_shop.landing / "customers" / "customers-late.csv").write_text(
        # Same rows, different bytes: ingested as a new file, so silver checks them again.
        (fresh_shop.landing / "customers" / "customers-00001.csv").read_text() + "\n"
    )
    engine = PolarsDeltaEngine(str(fresh_shop.lake))
    run = shoplake.run(pipeline, engine=engine, landing=fresh_shop.landing)
    assert run.status == "failed"

    settings = _settings(url, port, tmp_path / "a.log", rules=["run_failed", "fail_expectation"])
    result = check(LakeReader(str(fresh_shop.lake)), settings)
    rules = sorted(a.rule for a in result.fired)
    assert rules == ["fail_expectation", "run_failed"]
    mail = message_from_bytes(mails[0].content).get_payload(decode=True).decode()
    text = json.dumps(posts) + mail + (tmp_path / "a.log").read_text()
    assert "no_emails_allowed" in text and "silver.customers" in text
    assert "Sample:" in mail and "***@" in mail  # offending rows shown, emails masked
    emails = [
        e
        for e in pl.read_delta(str(fresh_shop.lake / "silver" / "customers"))["email"]
        .drop_nulls()
        .to_list()
        if "@" in e
    ]
    assert not any(e in text for e in emails)  # PII never leaves in an alert
    assert check(LakeReader(str(fresh_shop.lake)), settings).fired == []
    assert "run_failed" in open_incidents(LakeReader(str(fresh_shop.lake))).values()


def test_a_dead_channel_is_reported_and_retried(fresh_shop: Shop, tmp_path: Path) -> None:
    lake = LakeReader(str(fresh_shop.lake))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    settings = AlertSettings(
        webhook_url=f"http://127.0.0.1:{dead}/",
        rules=["quarantine_share"],
        quarantine_share=0.0,
        webhook_timeout_s=2,
    )
    result = check(lake, settings)
    assert result.fired == [] and result.delivery_errors
    assert open_incidents(lake) == {}  # not recorded, so the next check tries again


def test_settings_come_from_toml_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "shoplake.toml"
    config.write_text(
        '[alerts]\nquarantine_share = 0.2\nemail_to = ["a@b.c"]\nsmtp_host = "localhost"\n'
        '[alerts.sla_minutes]\n"gold.*" = 30\n'
    )
    monkeypatch.setenv("SHOPLAKE_ALERTS_WEBHOOK_URL", "http://127.0.0.1:9/x")
    settings = load_alert_settings(config)
    assert settings.quarantine_share == 0.2 and settings.sla_minutes == {"gold.*": 30}
    assert settings.webhook_url == "http://127.0.0.1:9/x"
    config.write_text("[alerts]\nrules = ['nope']\n")
    from shoplake.ecommerce.pipeline import build_pipeline
    from shoplake.errors import ConfigError
    from shoplake.observe.alerts import enabled_rules

    with pytest.raises(ConfigError, match="unknown nope"):
        enabled_rules(load_alert_settings(config), build_pipeline())
