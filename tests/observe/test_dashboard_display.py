"""Each number shown as what it is: units are not dollars, rates are percentages."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from shoplake.dashboard.display import formatted


def test_units_money_rates_and_times_are_each_shown_as_what_they_are() -> None:
    inventory = pl.DataFrame(
        {
            "product_id": ["P1", "P2"],
            "daily_sales": [0.17, 2.5],
            "days_of_cover": [3288.0, 12.0],
            "revenue": [1234.5, 99.0],
            "late_rate": [0.125, 0.0],
            "snapshot_at": [datetime(2026, 10, 31, 23, 59, 59, 999000)] * 2,
        }
    )
    shown = formatted(inventory).row(0, named=True)
    assert shown["daily_sales"] == 0.17  # a count per day, not "$0.17"
    assert shown["days_of_cover"] == 3288  # a whole number of days, not "3288.0"
    assert shown["revenue"] == "$1,234.50"
    assert shown["late_rate"] == "12.5%"
    assert shown["snapshot_at"] == "2026-10-31 23:59:59"  # to the second, no milliseconds
