"""Seasonal timestamps: the 24-month history window and when orders are placed.

All timestamps are UTC epoch seconds in int64 numpy arrays. Order times follow a
weighted hourly grid (month seasonality, Black Friday week, weekends, an evening peak in
the day and business growth); batches draw stratified, sorted samples from it so that
order ids increase with time across batches without holding all orders in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

DAY = 86_400
HOUR = 3_600

# Relative order volume per calendar month (Jan..Dec).
MONTH_WEIGHTS = np.array([0.85, 0.80, 0.90, 0.90, 0.95, 0.95, 0.95, 1.00, 0.95, 1.00, 1.35, 1.60])
# Relative order volume per weekday (Mon..Sun).
WEEKDAY_WEIGHTS = np.array([0.95, 0.90, 0.90, 0.95, 1.05, 1.25, 1.20])
# Relative order volume per hour of the day: quiet nights, a lunch bump, an evening peak.
HOUR_WEIGHTS = np.array(
    [
        0.25,
        0.15,
        0.10,
        0.08,
        0.08,
        0.12,
        0.25,
        0.45,
        0.60,
        0.75,
        0.85,
        0.90,
        1.00,
        0.95,
        0.90,
        0.90,
        0.95,
        1.05,
        1.20,
        1.35,
        1.45,
        1.30,
        0.90,
        0.50,
    ]
)
GROWTH_PER_YEAR = 0.35


def epoch(d: date) -> int:
    """Epoch seconds of midnight UTC at the start of `d`."""
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def months_back(d: date, months: int) -> date:
    """The same day `months` months before `d` (clamped to the month's last day)."""
    total = d.year * 12 + (d.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    day = d.day
    while True:
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1


def _black_friday(year: int) -> date:
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(days=22)


@dataclass(frozen=True)
class History:
    """The history window: `months` months ending at `end_date` (inclusive)."""

    end_date: date
    months: int = 24
    start_date: date = field(init=False)
    start_ts: int = field(init=False)
    end_ts: int = field(init=False)

    def __post_init__(self) -> None:
        start = months_back(self.end_date, self.months) + timedelta(days=1)
        object.__setattr__(self, "start_date", start)
        object.__setattr__(self, "start_ts", epoch(start))
        object.__setattr__(self, "end_ts", epoch(self.end_date) + DAY - 1)

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days + 1

    def day_weights(self) -> np.ndarray:
        """Relative order volume of every day of the window."""
        days = np.datetime64(self.start_date, "D") + np.arange(self.days)
        month = (days.astype("M8[M]") - days.astype("M8[Y]")).astype(np.int64)
        weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        weights = MONTH_WEIGHTS[month] * WEEKDAY_WEIGHTS[weekday]
        weights = weights * (1.0 + GROWTH_PER_YEAR * np.arange(self.days) / 365.0)
        for year in range(self.start_date.year, self.end_date.year + 1):
            friday = _black_friday(year)
            for offset, boost in ((0, 3.0), (1, 1.8), (2, 1.6), (3, 2.6), (4, 1.4)):
                index = (friday - self.start_date).days + offset
                if 0 <= index < self.days:
                    weights[index] *= boost
            for day, factor in ((24, 0.7), (25, 0.35), (26, 1.3)):
                index = (date(year, 12, day) - self.start_date).days
                if 0 <= index < self.days:
                    weights[index] *= factor
        return weights


class OrderClock:
    """Draws order timestamps from the seasonal hourly grid of a history window."""

    def __init__(self, history: History) -> None:
        self.history = history
        weights = np.outer(history.day_weights(), HOUR_WEIGHTS / HOUR_WEIGHTS.mean()).ravel()
        self._cdf = np.cumsum(weights) / weights.sum()
        self._cdf[-1] = 1.0
        self._lower = np.concatenate(([0.0], self._cdf[:-1]))

    def sample_sorted(
        self, rng: np.random.Generator, start: int, stop: int, total: int
    ) -> np.ndarray:
        """Sorted timestamps for orders `start..stop-1` of `total` (stratified quantiles)."""
        q = np.sort(rng.uniform(start / total, stop / total, size=stop - start))
        bins = np.minimum(np.searchsorted(self._cdf, q, side="right"), self._cdf.size - 1)
        width = self._cdf[bins] - self._lower[bins]
        within = np.clip((q - self._lower[bins]) / np.where(width > 0, width, 1.0), 0.0, 0.9999)
        seconds = np.floor(within * HOUR).astype(np.int64)
        return self.history.start_ts + bins.astype(np.int64) * HOUR + seconds


def uniform_ts(rng: np.random.Generator, low: int, high: int, size: int) -> np.ndarray:
    """`size` uniform timestamps in [low, high]."""
    if high <= low:
        return np.full(size, low, dtype=np.int64)
    return rng.integers(low, high + 1, size=size, dtype=np.int64)
