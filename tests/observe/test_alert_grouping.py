"""Alerts people can live with: one entry per rule and check, rate limits, quiet hours,
digests and severity subscriptions, on a burst of a thousand incidents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import narwhals as nw
import pytest

from shoplake import Materialized, Pipeline
from shoplake.cli.console import alert_check_lines
from shoplake.observe.alerts import AlertSettings, ChannelPolicy, check
from shoplake.observe.lake import LakeReader
from shoplake.testing import TempLake

T0 = datetime(2026, 11, 28, 12, 0)


def suspects_pipeline() -> Pipeline:
    p = Pipeline("suspects")
    p.source("suspects", format="jsonl", columns=["suspect_id", "amount"])

    @p.table(layer="gold", kind=Materialized())
    def suspects(bronze_suspects: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_suspects.select("suspect_id", nw.col("amount").cast(nw.Float64))

    @p.alert_rule("fraud")
    def fraud(read):  # type: ignore[no-untyped-def]
        return [
            {
                "key": r["suspect_id"],
                "title": f"suspect {r['suspect_id']} moved {r['amount']:.0f}",
                "where": "gold.suspects",
                "look_at": "shoplake sql 'SELECT * FROM gold.suspects'",
            }
            for r in read("gold.suspects") or []
        ]

    return p


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[TempLake]:
    with TempLake(suspects_pipeline(), root=tmp_path) as scratch:
        scratch.land("suspects", [{"suspect_id": f"S{i:04d}", "amount": i} for i in range(1000)])
        assert scratch.run().status == "completed"
        yield scratch


def land_more(lake: TempLake, first: int, count: int) -> None:
    rows = [{"suspect_id": f"S{i:04d}", "amount": i} for i in range(first, first + count)]
    lake.land("suspects", rows)
    assert lake.run().status == "completed"


def test_a_burst_is_one_message_per_channel_with_one_entry_per_rule(
    lake: TempLake,
    webhook: tuple[str, list],
    smtp: tuple[int, list],
    tmp_path: Path,
) -> None:
    url, posts = webhook
    port, mails = smtp
    settings = AlertSettings(
        webhook_url=url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        email_to=["ops@example.com"],
        log_file=str(tmp_path / "alerts.log"),
    )
    reader = LakeReader(str(lake.lake))

    first = check(reader, settings, lake.pipeline, now=T0)

    assert len(first.fired) == 1000
    assert len(posts) == 1 and len(posts[0]["attachments"]) == 1
    entry = posts[0]["attachments"][0]
    assert entry["title"] == "fraud: 1,000 open, 1,000 new since the last notification"
    assert "… and 995 more new" in entry["text"]
    assert len(mails) == 1
    subject = [h for h in mails[0].content.decode().splitlines() if h.startswith("Subject:")]
    assert subject == [
        "Subject: [shoplake] fraud: 1,000 open, 1,000 new since the last notification"
    ]
    assert len((tmp_path / "alerts.log").read_text().splitlines()) == 1
    lines = alert_check_lines(first)
    assert len(lines) <= 10
    assert lines[0].startswith("[bold yellow]alert[/] warning fraud: 1,000 open, 1,000 new")

    land_more(lake, 1000, 10)
    second = check(reader, settings, lake.pipeline, now=T0 + timedelta(minutes=5))

    assert len(second.fired) == 10
    assert len(posts) == 2 and len(mails) == 2
    assert posts[1]["attachments"][0]["title"] == (
        "fraud: 1,010 open, 10 new since the last notification"
    )
    assert check(reader, settings, lake.pipeline, now=T0 + timedelta(minutes=6)).fired == []
    assert len(posts) == 2


def test_a_rate_limit_folds_what_it_holds_back_into_the_next_message(
    lake: TempLake,
    webhook: tuple[str, list],
) -> None:
    url, posts = webhook
    settings = AlertSettings(webhook_url=url, channels={"webhook": ChannelPolicy(max_per_hour=1)})
    reader = LakeReader(str(lake.lake))
    check(reader, settings, lake.pipeline, now=T0)
    land_more(lake, 1000, 10)

    held = check(reader, settings, lake.pipeline, now=T0 + timedelta(minutes=10))
    land_more(lake, 1010, 5)
    still = check(reader, settings, lake.pipeline, now=T0 + timedelta(minutes=20))
    after = check(reader, settings, lake.pipeline, now=T0 + timedelta(minutes=61))

    assert held.deferred == ["webhook: rate limit 1/h reached"] and len(held.fired) == 10
    assert still.deferred == ["webhook: rate limit 1/h reached"]
    assert len(posts) == 2
    assert posts[1]["attachments"][0]["title"] == (
        "fraud: 1,015 open, 15 new since the last notification"
    )
    assert after.deferred == [] and after.fired == []


def test_quiet_hours_hold_messages_until_they_end(
    lake: TempLake,
    webhook: tuple[str, list],
) -> None:
    url, posts = webhook
    settings = AlertSettings(
        webhook_url=url, channels={"webhook": ChannelPolicy(quiet_hours="22-07")}
    )
    reader = LakeReader(str(lake.lake))
    night = datetime(2026, 11, 28, 23, 30)

    held = check(reader, settings, lake.pipeline, now=night)
    assert held.deferred == ["webhook: quiet hours 22-07 UTC"] and posts == []
    morning = check(reader, settings, lake.pipeline, now=night + timedelta(hours=8))

    assert len(posts) == 1
    assert posts[0]["attachments"][0]["title"].startswith("fraud: 1,000 open, 1,000 new")
    assert morning.fired == []  # fired at night, told in the morning


def test_a_digest_summarises_every_open_incident_once_per_interval(
    lake: TempLake, tmp_path: Path
) -> None:
    log = tmp_path / "digest.log"
    settings = AlertSettings(log_file=str(log), channels={"log": ChannelPolicy(digest_minutes=60)})
    reader = LakeReader(str(lake.lake))
    check(reader, settings, lake.pipeline, now=T0)
    land_more(lake, 1000, 3)
    within = check(reader, settings, lake.pipeline, now=T0 + timedelta(minutes=30))
    due = check(reader, settings, lake.pipeline, now=T0 + timedelta(minutes=60))

    import json

    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert within.deferred == ["log: next digest 60 min after the last"]
    assert [(e["open"], e["new"]) for e in entries] == [(1000, 1000), (1003, 3)]
    assert due.deferred == []


def test_channels_subscribe_by_severity(
    lake: TempLake,
    webhook: tuple[str, list],
    smtp: tuple[int, list],
) -> None:
    url, posts = webhook
    port, mails = smtp
    policies = {"email": ChannelPolicy(min_severity="critical")}
    settings = AlertSettings(
        webhook_url=url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        email_to=["oncall@example.com"],
        channels=policies,
    )
    reader = LakeReader(str(lake.lake))

    check(reader, settings, lake.pipeline, now=T0)
    assert len(posts) == 1 and mails == []  # fraud is a warning: not for the on-call mail

    raised = settings.model_copy(update={"severity": {"fraud": "critical"}})
    land_more(lake, 1000, 1)
    check(reader, raised, lake.pipeline, now=T0 + timedelta(minutes=1))
    assert len(mails) == 1  # a critical rule reaches it, with everything it had not heard
    assert "fraud: 1,001 open, 1,001 new" in mails[0].content.decode()
