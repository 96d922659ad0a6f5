"""The stream's silver dedupe/watermark and gold windows are narwhals: the same on
Polars and DuckDB."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from backends import Backend
from shoplake.ecommerce.streaming import SILVER_COLUMNS, dedupe_and_mark_late, realtime_windows

T = datetime(2026, 5, 1, 12, 0, 0)


def _rows(events: list[tuple[str, str, int, float, int]]) -> pl.DataFrame:
    """(event_id, type, seconds after T, price, quantity) → silver-shaped rows."""
    n = len(events)
    data: dict[str, list[object]] = {c: [None] * n for c in SILVER_COLUMNS}
    data.update(
        event_id=[e[0] for e in events],
        line_number=[1] * n,
        event_type=[e[1] for e in events],
        order_id=[f"O-{e[0]}" for e in events],
        event_ts=[T + timedelta(seconds=e[2]) for e in events],
        state=["Texas"] * n,
        country=["United States"] * n,
        category=["Electronics"] * n,
        price=[e[3] for e in events],
        quantity=[e[4] for e in events],
        line_amount=[e[3] * e[4] for e in events],
        _too_late=[False] * n,
        _source=[f"t:0:{i}" for i in range(n)],
    )
    schema = {
        "line_number": pl.Int64,
        "event_ts": pl.Datetime("us"),
        "price": pl.Float64,
        "quantity": pl.Int64,
        "line_amount": pl.Float64,
        "event_amount": pl.Float64,
        "_too_late": pl.Boolean,
    }
    return pl.DataFrame(data, schema_overrides=schema).with_columns(
        pl.col(c).cast(pl.String) for c in SILVER_COLUMNS if c not in schema and c != "event_ts"
    )


def test_dedupe_and_watermark(backend: Backend) -> None:
    stored = _rows([("a", "order_created", 0, 10.0, 1), ("b", "order_created", 600, 5.0, 2)])
    batch = _rows(
        [
            ("a", "order_created", 0, 10.0, 1),  # already stored
            ("c", "order_created", 400, 1.0, 1),  # inside the 5-minute watermark
            ("c", "order_created", 400, 1.0, 1),  # repeated within the batch
            ("d", "order_created", 100, 1.0, 1),  # older than the watermark
        ]
    )
    out = backend.polars(
        dedupe_and_mark_late(backend.lazy(batch), backend.lazy(stored), timedelta(minutes=5))
    )
    assert sorted(out.select("event_id", "_too_late").rows()) == [("c", False), ("d", True)]


def test_windows_count_orders_units_and_cancellations(backend: Backend) -> None:
    events = _rows(
        [
            ("a", "order_created", 5, 10.0, 2),
            ("b", "order_created", 50, 4.0, 1),
            ("c", "order_cancelled", 55, 4.0, 1),
            ("d", "order_created", 65, 3.0, 1),
        ]
    )
    new = events.filter(pl.col("event_id") == "c")  # only the first window was touched
    windows = realtime_windows(backend.lazy(new), backend.lazy(events), timedelta(minutes=1))
    out = backend.polars(windows)
    got = out.select(
        "window_start", "events", "orders", "cancellations", "units", "revenue", "net_revenue"
    ).rows()
    assert got == [(T, 3, 2, 1, 3, 24.0, 20.0)]
