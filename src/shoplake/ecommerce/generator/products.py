"""The `products` source (CSV): a catalogue with category price bands and Zipf popularity,
and its changes over time (`products-updates-NNNNN.csv`)."""

from __future__ import annotations

import math

import numpy as np

from shoplake.ecommerce.contract import SOURCES
from shoplake.ecommerce.generator.calendar import DAY, HOUR, uniform_ts
from shoplake.ecommerce.generator.defects import Defect, DefectPlan, offsets
from shoplake.ecommerce.generator.dimension import DimensionSource
from shoplake.ecommerce.generator.ids import PRODUCT, format_ids, format_timestamps, one_id, one_ts
from shoplake.ecommerce.generator.reference import CATEGORIES
from shoplake.ecommerce.generator.simulation import ProductTable
from shoplake.ecommerce.generator.writer import Interleaver

PRODUCT_DEFECTS = DefectPlan(
    [
        Defect("exact_duplicate", weight=1.5),
        Defect("older_version"),
        Defect("null_product_id", "product_id_not_null"),
        Defect("non_positive_price_update", "positive_price"),
    ]
)

LISTED_BEFORE_HISTORY = 0.6
ZIPF_EXPONENT = 1.1
INACTIVE_SHARE = 0.04


def _price_text(price: float) -> str:
    return f"{price:.2f}"


class ProductsSource(DimensionSource):
    """Products, their defects, and update rows (price, category, active changes)."""

    name = "products"
    format = SOURCES["products"].format
    columns = SOURCES["products"].columns
    rules = ("product_id_not_null", "positive_price")

    def begin(self) -> None:
        ctx, rng, rate = self.ctx, self.rng, self.ctx.rate
        n, history = ctx.params.products, ctx.history
        weights = np.array([c.weight for c in CATEGORIES])
        self.category = rng.choice(len(CATEGORIES), size=n, p=weights / weights.sum())
        low = np.array([c.low for c in CATEGORIES])[self.category]
        high = np.array([c.high for c in CATEGORIES])[self.category]
        raw = np.exp(rng.uniform(np.log(low), np.log(high)))
        self.price = np.where(raw >= 10, np.floor(raw) + 0.99, np.round(raw, 2))
        self.cost = np.round(self.price * rng.uniform(0.4, 0.8, size=n), 2)
        self.active = rng.random(n) >= INACTIVE_SHARE
        self.brand = [self._brand(int(c)) for c in self.category.tolist()]
        self.title = [self._name(i) for i in range(n)]

        before = int(n * LISTED_BEFORE_HISTORY)
        self.listed = np.sort(
            np.concatenate(
                [
                    uniform_ts(rng, history.start_ts - 2 * 365 * DAY, history.start_ts - 1, before),
                    uniform_ts(rng, history.start_ts, history.end_ts - 7 * DAY, n - before),
                ]
            )
        )
        rank = rng.permutation(n) + 1
        ctx.products = ProductTable(self.listed, self.price, np.cumsum(rank**-ZIPF_EXPONENT))

        ids = format_ids(PRODUCT, np.arange(1, n + 1, dtype=np.int64), rng, rate)
        stamps = format_timestamps(self.listed, rng, rate)
        rows = [
            self._row(
                i,
                ids[i],
                int(self.category[i]),
                float(self.price[i]),
                float(self.cost[i]),
                bool(self.active[i]),
                str(stamps[i]),
            )
            for i in range(n)
        ]
        self._write(rows)

    def _brand(self, category: int) -> str:
        brands = self.ctx.pools.brands[category]
        return brands[int(self.rng.integers(0, len(brands)))]

    def _name(self, i: int) -> str:
        rng = self.rng
        category = CATEGORIES[int(self.category[i])]
        adjective = category.adjectives[int(rng.integers(0, len(category.adjectives)))]
        noun = category.nouns[int(rng.integers(0, len(category.nouns)))]
        name = f"{self.brand[i]} {adjective} {noun}"
        if category.name in ("Electronics", "Sports & Outdoors"):
            letters = "ABCDEFGHJKLMNPRSTVXZ"
            model = f"{letters[int(rng.integers(0, len(letters)))]}{int(rng.integers(1, 100)) * 10}"
            return f"{name} {model}"
        colors = self.ctx.pools.colors
        return f"{name}, {colors[int(rng.integers(0, len(colors)))]}"

    def _row(
        self,
        i: int,
        product_id: str,
        category: int,
        price: float,
        cost: float,
        active: bool,
        updated_at: str,
    ) -> list[str]:
        return [
            product_id,
            self.title[i],
            CATEGORIES[category].name,
            self.brand[i],
            _price_text(price),
            _price_text(cost),
            "true" if active else "false",
            updated_at,
        ]

    def tracked(self, row: list[str]) -> tuple[str, str, str]:
        """Category, price and active flag: a change in any of them is a new version."""
        return row[2], row[4], row[6]

    def _version(self, i: int, ts: int, *, bad_price: bool = False) -> list[str]:
        """Product i as of `ts`: repriced, recategorised or (de)activated."""
        rng, rate = self.rng, self.ctx.rate
        category, price = int(self.category[i]), float(self.price[i])
        cost, active = float(self.cost[i]), bool(self.active[i])
        change = int(rng.choice(3, p=[0.6, 0.1, 0.3]))
        if change == 0:
            price = math.floor(price * rng.uniform(0.7, 1.3)) + 0.99
            cost = min(cost, round(price * 0.8, 2))
        elif change == 1:
            category = int(rng.integers(0, len(CATEGORIES)))
        else:
            active = not active
        if bad_price:
            price = 0.0 if rng.random() < 0.4 else -round(float(self.price[i]), 2)
        return self._row(
            i,
            one_id(PRODUCT, i + 1, rng, rate),
            category,
            price,
            cost,
            active,
            str(one_ts(ts, rng, rate)),
        )

    def _write(self, rows: list[list[str]]) -> None:
        rng, out = self.rng, self.outcomes
        n, end = len(rows), self.ctx.history.end_ts
        out.keep(n)
        for i, row in enumerate(rows):
            self.base_version(i, row)
        codes = PRODUCT_DEFECTS.draw(rng, n, self.ctx.rate)
        later = offsets(rng, n)
        extras: list[tuple[int, list[str]]] = []
        late_rows: list[list[str]] = []
        for i in np.flatnonzero(codes >= 0).tolist():
            kind = PRODUCT_DEFECTS.defects[codes[i]].name
            out.note(kind)
            position = i + int(later[i])
            if kind == "exact_duplicate":
                extras.append((position, list(rows[i])))
                out.duplicate()
            elif kind == "older_version":
                ts = int(self.listed[i]) - int(rng.integers(DAY, 60 * DAY))
                older = self._version(i, ts)
                self.later_version(i, ts, older)
                if rng.random() < 0.6:
                    late_rows.append(older)
                else:
                    extras.append((position, older))
                out.duplicate()
            elif kind == "null_product_id":
                extras.append((position, ["", *rows[i][1:]]))
                out.quarantine("product_id_not_null")
            elif kind == "non_positive_price_update":
                ts = int(rng.integers(int(self.listed[i]) + HOUR, end + 1))
                late_rows.append(self._version(i, ts, bad_price=True))
                out.quarantine("positive_price")
        stream, writer = Interleaver(), self.csv_writer()
        writer.write(stream.merge(rows, extras))
        writer.write(stream.drain())

        self.write_changes(self.listed, self._version, late_rows)
