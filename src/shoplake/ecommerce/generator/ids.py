"""How ids and timestamps are written: canonical forms and the variants of raw feeds.

Ids: canonical `C000123`, lower-case dashed `c-123`, bare `123` (customers, products,
orders). Timestamps: ISO `2024-03-15T14:22:05` (canonical), `2024-03-15 14:22:05`,
`2024-03-15T14:22:05Z`, US `03/15/2024 14:22:05`, European `15.03.2024 14:22` and epoch
seconds. Dates: `2024-03-15`, `03/15/2024`, `15.03.2024`. A variant is used for each value
independently with probability `rate` (the defect rate); rate 0 writes canonical forms only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np


@dataclass(frozen=True)
class IdKind:
    """An id family: its prefix and the digits of its canonical form."""

    prefix: str
    width: int

    def canonical(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.width}d}"

    def variant(self, number: int, form: int) -> str:
        """Form 0: canonical, 1: lower-case dashed, 2: bare number."""
        if form == 1:
            return f"{self.prefix.lower()}-{number}"
        if form == 2:
            return str(number)
        return self.canonical(number)


REGION = IdKind("R", 2)
CUSTOMER = IdKind("C", 6)
PRODUCT = IdKind("P", 5)
ORDER = IdKind("O", 8)
RETURN = IdKind("RT", 7)

ID_FORMS = ("canonical", "dashed", "bare")
TS_FORMATS = ("iso", "space", "zulu", "us", "eu", "epoch")
DATE_FORMATS = ("iso", "us", "eu")


def format_ids(
    kind: IdKind, numbers: np.ndarray, rng: np.random.Generator, rate: float
) -> list[str]:
    """Ids for `numbers`, each in a non-canonical form with probability `rate`."""
    template = f"{kind.prefix}%0{kind.width}d"
    out = [template % n for n in numbers.tolist()]
    noisy = rng.random(len(out)) < rate
    forms = rng.integers(1, 3, size=len(out))
    for i in np.flatnonzero(noisy).tolist():
        out[i] = kind.variant(int(numbers[i]), int(forms[i]))
    return out


def iso_strings(ts: np.ndarray) -> list[str]:
    """Canonical `YYYY-MM-DDTHH:MM:SS` strings of epoch seconds."""
    return np.datetime_as_string(ts.astype("datetime64[s]"), unit="s").tolist()


def render_iso(iso: str, fmt: int) -> str:
    """Re-render a canonical ISO timestamp string in a string format (not epoch).

    Works by slicing, so it also renders impossible dates such as `2024-02-30T10:00:00`.
    """
    if fmt == 1:
        return iso.replace("T", " ")
    if fmt == 2:
        return iso + "Z"
    if fmt == 3:
        return f"{iso[5:7]}/{iso[8:10]}/{iso[0:4]} {iso[11:19]}"
    if fmt == 4:
        return f"{iso[8:10]}.{iso[5:7]}.{iso[0:4]} {iso[11:16]}"
    return iso


def render_ts(ts: int, fmt: int, *, epoch_as_int: bool = False) -> str | int:
    """One timestamp in format `fmt` (an index into TS_FORMATS)."""
    if fmt == 5:
        return ts if epoch_as_int else str(ts)
    iso = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return render_iso(iso, fmt)


def format_timestamps(
    ts: np.ndarray, rng: np.random.Generator, rate: float, *, epoch_as_int: bool = False
) -> list[str | int]:
    """Timestamps, each in one of the five non-canonical formats with probability `rate`.

    With `epoch_as_int` (JSON), epoch seconds are written as numbers, else as text.
    """
    iso = iso_strings(ts)
    out: list[str | int] = list(iso)
    noisy = rng.random(len(out)) < rate
    formats = rng.integers(1, len(TS_FORMATS), size=len(out))
    for i in np.flatnonzero(noisy).tolist():
        fmt = int(formats[i])
        if fmt == 5:
            out[i] = int(ts[i]) if epoch_as_int else str(int(ts[i]))
        else:
            out[i] = render_iso(iso[i], fmt)
    return out


def format_dates(ts: np.ndarray, rng: np.random.Generator, rate: float) -> list[str]:
    """Dates (`signup_date`): ISO, or with probability `rate` US or European."""
    out = [s[:10] for s in iso_strings(ts)]
    noisy = rng.random(len(out)) < rate
    formats = rng.integers(1, len(DATE_FORMATS), size=len(out))
    for i in np.flatnonzero(noisy).tolist():
        s = out[i]
        out[i] = (
            f"{s[5:7]}/{s[8:10]}/{s[0:4]}" if formats[i] == 1 else f"{s[8:10]}.{s[5:7]}.{s[0:4]}"
        )
    return out


# (month, day) pairs that exist in no year, so every reading of them is invalid: a day
# beyond the month's end, or month 13 with a day above 12 (invalid as day-first too).
_IMPOSSIBLE_DAYS = (
    (2, 30),
    (2, 31),
    (4, 31),
    (6, 31),
    (9, 31),
    (11, 31),
    (13, 14),
    (13, 20),
    (13, 27),
    (1, 32),
    (7, 32),
)


def bad_order_date(rng: np.random.Generator, ts: int) -> tuple[str | int, str]:
    """An impossible or far-future order date derived from `ts`, and which of the two.

    Impossible dates are written in one of the string formats; future dates (year 2099 or
    later) in any format, epoch seconds included.
    """
    time_part = datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S")
    if rng.random() < 0.5:
        month, day = _IMPOSSIBLE_DAYS[int(rng.integers(len(_IMPOSSIBLE_DAYS)))]
        year = datetime.fromtimestamp(ts, tz=UTC).year
        iso = f"{year:04d}-{month:02d}-{day:02d}T{time_part}"
        return render_iso(iso, int(rng.integers(0, 5))), "impossible"
    moment = datetime.fromtimestamp(ts, tz=UTC)
    year = int(rng.integers(2099, 2151))
    day = min(moment.day, 28)
    future = moment.replace(year=year, day=day)
    return render_ts(int(future.timestamp()), int(rng.integers(0, 6)), epoch_as_int=True), "future"


def one_id(kind: IdKind, number: int, rng: np.random.Generator, rate: float) -> str:
    """A single id, non-canonical with probability `rate` (for extra and update rows)."""
    form = int(rng.integers(1, 3)) if rng.random() < rate else 0
    return kind.variant(number, form)


def one_ts(
    ts: int, rng: np.random.Generator, rate: float, *, epoch_as_int: bool = False
) -> str | int:
    """A single timestamp, in a non-canonical format with probability `rate`."""
    fmt = int(rng.integers(1, len(TS_FORMATS))) if rng.random() < rate else 0
    return render_ts(ts, fmt, epoch_as_int=epoch_as_int)


def one_date(ts: int, rng: np.random.Generator, rate: float) -> str:
    """A single date, in US or European format with probability `rate`."""
    s = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")
    if rng.random() >= rate:
        return s
    return f"{s[5:7]}/{s[8:10]}/{s[0:4]}" if rng.random() < 0.5 else f"{s[8:10]}.{s[5:7]}.{s[0:4]}"
