"""A pipeline's own alert rules and headline, and the failing rule recorded in the event log."""

from __future__ import annotations

import json
from pathlib import Path

import narwhals as nw
import polars as pl
import pytest

from shoplake import ConfigError, Materialized, Pipeline, Upsert, expect
from shoplake.observe import monitor
from shoplake.observe.alerts import (
    ALERTS,
    AlertSettings,
    after_run,
    check,
    enabled_rules,
)
from shoplake.observe.lake import LakeReader
from shoplake.testing import TempLake


def refunds_pipeline(*, fail_on_negative: bool = False) -> Pipeline:
    p = Pipeline("refunds")
    p.source("refunds", format="jsonl", columns=["refund_id", "amount"])

    @p.table(
        layer="silver",
        kind=Upsert(keys=["refund_id"]),
        expectations=[
            expect(
                "not_negative",
                nw.col("amount") >= 0,
                action="fail" if fail_on_negative else "warn",
            )
        ],
    )
    def refunds(bronze_refunds: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_refunds.with_columns(nw.col("amount").cast(nw.Float64))

    @p.table(layer="gold", kind=Materialized())
    def big_refunds(silver_refunds: nw.LazyFrame) -> nw.LazyFrame:
        return silver_refunds.filter(nw.col("amount") > 1000)

    @p.alert_rule("big_refund")
    def big_refund(read):  # type: ignore[no-untyped-def]
        return [
            {
                "key": row["refund_id"],
                "title": f"refund {row['refund_id']} of {row['amount']:.0f}",
                "where": "gold.big_refunds",
                "detail": "a refund over 1000",
                "look_at": "shoplake sql 'SELECT * FROM gold.big_refunds'",
            }
            for row in read("gold.big_refunds") or []
        ]

    return p


def test_a_pipelines_own_rule_fires_once_through_the_channels(tmp_path: Path) -> None:
    pipeline = refunds_pipeline()
    log = tmp_path / "alerts.log"
    settings = AlertSettings(log_file=str(log))
    with TempLake(pipeline) as lake:
        lake.land(
            "refunds", [{"refund_id": "R1", "amount": "5000"}, {"refund_id": "R2", "amount": "3"}]
        )
        assert lake.run().status == "completed"
        reader = LakeReader(str(lake.lake))

        first = check(reader, settings, pipeline)
        again = check(reader, settings, pipeline)

    assert [(a.rule, a.key, a.title) for a in first.fired] == [
        ("big_refund", "big_refund:R1", "refund R1 of 5000")
    ]
    assert again.fired == [] and again.still_open == ["big_refund:R1"]
    assert "refund R1 of 5000" in log.read_text()


def test_rules_are_the_builtins_plus_the_pipelines() -> None:
    assert enabled_rules(AlertSettings(), refunds_pipeline()) == [
        "run_failed",
        "fail_expectation",
        "quarantine_share",
        "files_refused",
        "stale",
        "big_refund",
    ]
    with pytest.raises(ConfigError) as info:
        enabled_rules(AlertSettings(rules=["fraud"]), refunds_pipeline())
    assert str(info.value) == (
        "[alerts] rules: unknown fraud; choose from run_failed, fail_expectation, "
        "quarantine_share, files_refused, stale, big_refund"
    )


def test_the_ecommerce_pipeline_brings_the_fraud_rule_and_headline() -> None:
    from shoplake.ecommerce.pipeline import build_pipeline

    pipeline = build_pipeline()
    assert "fraud" in enabled_rules(AlertSettings(), pipeline)
    assert pipeline.headline_figures is not None
    kpis = [{"scope": "overall", "as_of": None, "revenue": 1234.5, "return_rate": 0.05}]
    assert pipeline.headline_figures(lambda ref: kpis) == {
        "revenue": "$1,234.50",
        "return rate": "5.0%",
    }
    assert Pipeline("plain").headline_figures is None


def test_the_failing_rule_is_an_event_log_field_even_after_an_older_log(tmp_path: Path) -> None:
    with TempLake(refunds_pipeline(fail_on_negative=True), root=tmp_path) as lake:
        lake.land("refunds", [{"refund_id": "R1", "amount": "5"}])
        assert lake.run().status == "completed"
        # An event log written before the column existed.
        log_path = str(lake.lake / "_system" / "event_log")
        old = pl.read_delta(log_path).drop("failed_rule", "failed_rows")
        old.write_delta(
            log_path, mode="overwrite", delta_write_options={"schema_mode": "overwrite"}
        )
        lake.land(
            "refunds", [{"refund_id": "R2", "amount": "-7"}, {"refund_id": "R3", "amount": "-1"}]
        )
        assert lake.run().status == "failed"

        reader = LakeReader(str(lake.lake))
        flows = monitor.flows(reader).filter(pl.col("table") == "silver.refunds")
        assert flows.select("status", "failed_rule", "failed_rows").rows() == [
            ("completed", None, None),
            ("failed", "not_negative", 2),
        ]
        result = check(reader, AlertSettings(rules=["fail_expectation"]), lake.pipeline)
    assert [a.title for a in result.fired] == [
        "fail expectation 'not_negative' stopped silver.refunds"
    ]
    assert result.fired[0].detail.startswith("2 row(s) broke 'not_negative'")


def test_a_pipelines_rule_reaches_the_webhook_in_the_same_message_as_the_builtins(
    tmp_path: Path, webhook
) -> None:
    url, posts = webhook
    settings = AlertSettings(
        webhook_url=url, log_file=str(tmp_path / "a.log"), severity={"big_refund": "critical"}
    )
    with TempLake(refunds_pipeline(fail_on_negative=True), root=tmp_path) as lake:
        lake.land("refunds", [{"refund_id": "R1", "amount": "5000"}])
        assert lake.run().status == "completed"
        lake.land("refunds", [{"refund_id": "R2", "amount": "-1"}])
        assert lake.run().status == "failed"
        result = check(LakeReader(str(lake.lake)), settings, lake.pipeline)

    assert sorted(a.rule for a in result.fired) == ["big_refund", "fail_expectation", "run_failed"]
    assert len(posts) == 1  # one message per channel per check, one entry per rule
    entries = {a["footer"]: a["title"] for a in posts[0]["attachments"]}
    assert entries["rule big_refund · critical"] == "refund R1 of 5000"
    assert "rule fail_expectation · critical" in entries
    logged = [json.loads(line) for line in (tmp_path / "a.log").read_text().splitlines()]
    assert {e["rule"]: e["severity"] for e in logged}["big_refund"] == "critical"


def test_configuring_a_rule_the_pipeline_lacks_is_reported_and_the_run_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fraud`` belongs to the e-commerce pipeline: with another pipeline the framework
    does not know it, so ``[alerts] rules`` naming it is a configuration error that lists
    the rules there are; after a run it is reported, never raised."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shoplake.toml").write_text('[alerts]\nrules = ["big_refund", "fraud"]\n')
    errors: list[str] = []
    with TempLake(refunds_pipeline(), root=tmp_path / "lake") as lake:
        lake.land("refunds", [{"refund_id": "R1", "amount": "5000"}])
        assert lake.run().status == "completed"
        assert after_run(str(lake.lake), lake.pipeline, on_error=errors.append) is None
        # Not half-applied: big_refund (which would fire on R1) was not evaluated either.
        assert not LakeReader(str(lake.lake)).exists(ALERTS)
    assert errors == [
        "[alerts] rules: unknown fraud; choose from run_failed, fail_expectation, "
        "quarantine_share, files_refused, stale, big_refund"
    ]

    from shoplake.ecommerce.pipeline import build_pipeline

    ecommerce = AlertSettings(rules=["run_failed", "fraud"])
    assert enabled_rules(ecommerce, build_pipeline()) == ["run_failed", "fraud"]
    assert "fraud" not in enabled_rules(AlertSettings(), None)
