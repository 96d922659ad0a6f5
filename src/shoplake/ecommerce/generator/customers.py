"""The `customers` source (CSV): people with a heavy-tailed order propensity, and their
changes over time (`customers-updates-NNNNN.csv`): moves, new e-mail addresses and
segment changes."""

from __future__ import annotations

import numpy as np

from shoplake.ecommerce.contract import SOURCES
from shoplake.ecommerce.generator.calendar import DAY, HOUR, uniform_ts
from shoplake.ecommerce.generator.defects import (
    Defect,
    DefectPlan,
    invalid_email,
    invalid_phone,
    malformed_csv,
    offsets,
)
from shoplake.ecommerce.generator.dimension import DimensionSource
from shoplake.ecommerce.generator.ids import (
    CUSTOMER,
    format_dates,
    format_ids,
    format_timestamps,
    one_date,
    one_id,
    one_ts,
)
from shoplake.ecommerce.generator.pools import slug
from shoplake.ecommerce.generator.reference import REGIONS
from shoplake.ecommerce.generator.simulation import CustomerTable
from shoplake.ecommerce.generator.writer import Interleaver

CUSTOMER_DEFECTS = DefectPlan(
    [
        Defect("exact_duplicate", weight=1.5),
        Defect("older_version"),
        Defect("null_customer_id", "customer_id_not_null"),
        Defect("malformed", "well_formed"),
        Defect("invalid_email"),
        Defect("invalid_phone"),
    ]
)

SEGMENTS = ("consumer", "small_business", "corporate")
SEGMENT_WEIGHTS = (0.75, 0.18, 0.07)
SIGNED_UP_BEFORE_HISTORY = 0.35
PARETO_SHAPE = 1.3
SLICE = 50_000


def _phone(prefix: str, digits: str) -> str:
    if prefix == "+1":
        return f"+1-{digits[0:3]}-{digits[3:6]}-{digits[6:10]}"
    if prefix == "+44":
        return f"+44 {digits[0:4]} {digits[4:10]}"
    if prefix == "+49":
        return f"+49 {digits[0:3]} {digits[3:10]}"
    return f"{prefix} {digits[0]} {digits[1:3]} {digits[3:5]} {digits[5:7]} {digits[7:9]}"


class CustomersSource(DimensionSource):
    """Customers, their defects, and update rows (moves, new e-mail addresses)."""

    name = "customers"
    format = SOURCES["customers"].format
    columns = SOURCES["customers"].columns
    rules = ("well_formed", "customer_id_not_null")

    def begin(self) -> None:
        ctx, rng = self.ctx, self.rng
        n, history, pools = ctx.params.customers, ctx.history, ctx.pools
        weights = np.array([r.weight for r in REGIONS])
        self.region = rng.choice(len(REGIONS), size=n, p=weights / weights.sum())
        self.city = self._pick([len(c) for c in pools.cities])
        self.first = self._pick([len(pools.first_names[r.locale]) for r in REGIONS])
        self.last = self._pick([len(pools.last_names[r.locale]) for r in REGIONS])
        self.email = self._email_parts(n)
        self.phone = rng.integers(2_000_000_000, 10_000_000_000, size=n)
        before = int(n * SIGNED_UP_BEFORE_HISTORY)
        self.signup = np.sort(
            np.concatenate(
                [
                    uniform_ts(rng, history.start_ts - 3 * 365 * DAY, history.start_ts - 1, before),
                    uniform_ts(rng, history.start_ts, history.end_ts - DAY, n - before),
                ]
            )
        )
        self.updated = np.minimum(
            self.signup + rng.integers(2 * DAY, 40 * DAY, size=n), history.end_ts
        )
        propensity = rng.pareto(PARETO_SHAPE, size=n) + 1.0
        ctx.customers = CustomerTable(self.signup, np.cumsum(propensity))
        self.segment = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_WEIGHTS)
        self._write()

    def _pick(self, sizes: list[int]) -> np.ndarray:
        """Per customer an index into a per-region pool of the given sizes."""
        size = np.asarray(sizes)[self.region]
        return np.floor(self.rng.random(self.region.size) * size).astype(np.int64)

    def _email_parts(self, n: int) -> np.ndarray:
        """(n, 2): per address a domain (>= 0: free-mail pool, < 0: ~index of the other
        pool) and a numeric suffix (0: none)."""
        rng, pools = self.rng, self.ctx.pools
        free = rng.random(n) < 0.8
        domain = np.where(
            free,
            rng.integers(0, len(pools.free_email_domains), size=n),
            ~rng.integers(0, len(pools.other_email_domains), size=n),
        )
        suffix = np.where(rng.random(n) < 0.6, rng.integers(1, 1000, size=n), 0)
        return np.stack([domain, suffix], axis=1)

    def _row(
        self,
        i: int,
        customer_id: str,
        region: int,
        city: int,
        email: tuple[int, int],
        signup: str,
        updated_at: str,
        segment: int,
    ) -> list[str]:
        pools, home = self.ctx.pools, REGIONS[int(self.region[i])]
        first = pools.first_names[home.locale][self.first[i]]
        last = pools.last_names[home.locale][self.last[i]]
        domain, suffix = email
        host = (
            pools.free_email_domains[domain] if domain >= 0 else pools.other_email_domains[~domain]
        )
        address = f"{slug(first)}.{slug(last)}{suffix or ''}@{host}"
        where = REGIONS[region]
        city_name, state = pools.cities[region][city]
        return [
            customer_id,
            first,
            last,
            address,
            _phone(home.phone_prefix, str(self.phone[i])),
            city_name,
            state,
            where.country,
            where.region_id,
            signup,
            updated_at,
            SEGMENTS[segment],
        ]

    def tracked(self, row: list[str]) -> tuple[str | None, ...]:
        """E-mail, address (city, state, country, region) and segment: a change in any of
        them is a new version; names, phone and signup date are corrected in place."""
        return row[3], row[5], row[6], row[7], row[8], row[11]

    def _version(self, i: int, ts: int) -> list[str]:
        """Customer i as of `ts`: moved (maybe to another region), new e-mail, both, or
        another segment."""
        rng, rate = self.rng, self.ctx.rate
        region, city = int(self.region[i]), int(self.city[i])
        email = (int(self.email[i, 0]), int(self.email[i, 1]))
        segment = int(self.segment[i])
        change = int(rng.integers(0, 4))
        if change == 3:
            segment = (segment + int(rng.integers(1, len(SEGMENTS)))) % len(SEGMENTS)
        if change in (0, 2):
            if rng.random() < 0.3:
                region = int(rng.integers(0, len(REGIONS)))
            city = int(rng.integers(0, len(self.ctx.pools.cities[region])))
        if change in (1, 2):
            parts = self._email_parts(1)
            email = (int(parts[0, 0]), int(parts[0, 1]))
        return self._row(
            i,
            one_id(CUSTOMER, i + 1, rng, rate),
            region,
            city,
            email,
            one_date(int(self.signup[i]), rng, rate),
            str(one_ts(ts, rng, rate)),
            segment,
        )

    def _write(self) -> None:
        rng, out, rate = self.rng, self.outcomes, self.ctx.rate
        n = self.region.size
        out.keep(n)
        codes = CUSTOMER_DEFECTS.draw(rng, n, rate)
        later = offsets(rng, n)
        late_versions: list[list[str]] = []
        stream, writer = Interleaver(), self.csv_writer()
        for first in range(0, n, SLICE):
            stop = min(first + SLICE, n)
            numbers = np.arange(first + 1, stop + 1, dtype=np.int64)
            ids = format_ids(CUSTOMER, numbers, rng, rate)
            signups = format_dates(self.signup[first:stop], rng, rate)
            stamps = format_timestamps(self.updated[first:stop], rng, rate)
            rows = [
                self._row(
                    i,
                    ids[i - first],
                    int(self.region[i]),
                    int(self.city[i]),
                    (int(self.email[i, 0]), int(self.email[i, 1])),
                    signups[i - first],
                    str(stamps[i - first]),
                    int(self.segment[i]),
                )
                for i in range(first, stop)
            ]
            for i in range(first, stop):
                self.base_version(i, rows[i - first])
            extras: list[tuple[int, list[str]]] = []
            for i in (first + np.flatnonzero(codes[first:stop] >= 0)).tolist():
                kind = CUSTOMER_DEFECTS.defects[codes[i]].name
                out.note(kind)
                row, position = rows[i - first], i - first + int(later[i])
                if kind == "exact_duplicate":
                    extras.append((position, list(row)))
                    out.duplicate()
                elif kind == "older_version":
                    ts = int(rng.integers(int(self.signup[i]), int(self.updated[i]) - HOUR))
                    older = self._version(i, ts)
                    self.later_version(i, ts, older)
                    if rng.random() < 0.6:
                        late_versions.append(older)
                    else:
                        extras.append((position, older))
                    out.duplicate()
                elif kind == "null_customer_id":
                    extras.append((position, ["", *row[1:]]))
                    out.quarantine("customer_id_not_null")
                elif kind == "malformed":
                    extras.append((position, malformed_csv(rng, list(row))))
                    out.quarantine("well_formed")
                elif kind == "invalid_email":
                    row[3] = invalid_email(rng, row[3])
                    # Silver blanks the address: a later valid one is a change.
                    self.base_version(i, row, (None, *row[5:9], row[11]))
                elif kind == "invalid_phone":
                    row[4] = invalid_phone(rng)
            writer.write(stream.merge(rows, extras))
        writer.write(stream.drain())

        # Changes over time: later versions, in updated_at order, with the out-of-order
        # older versions scattered among them.
        self.write_changes(self.updated, self._version, late_versions)
