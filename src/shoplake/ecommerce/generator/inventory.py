"""The `inventory` source (CSV): one stock snapshot per product and warehouse at the end.

Written in `finish`, once the products are known: on-hand quantities and reorder points
per warehouse on the history's last day. Defects: exact duplicates, a null product id,
a product id the catalogue does not know, a negative stock count, a malformed line.
"""

from __future__ import annotations

import numpy as np

from shoplake.ecommerce.contract import SOURCES
from shoplake.ecommerce.generator.context import SourceGenerator
from shoplake.ecommerce.generator.defects import Defect, DefectPlan, malformed_csv
from shoplake.ecommerce.generator.ids import PRODUCT, format_dates, format_ids, one_id

WAREHOUSES = ("east", "west")
INVENTORY_DEFECTS = DefectPlan(
    [
        Defect("exact_duplicate", weight=1.5),
        Defect("null_product_id", "product_id_not_null"),
        Defect("negative_stock", "non_negative_stock"),
        Defect("unknown_product", "product_exists"),
        Defect("malformed", "well_formed"),
    ]
)


class InventorySource(SourceGenerator):
    """Stock snapshots of every product in every warehouse on the history's last day."""

    name = "inventory"
    format = SOURCES["inventory"].format
    columns = SOURCES["inventory"].columns
    rules = ("well_formed", "product_id_not_null", "non_negative_stock", "product_exists")

    def begin(self) -> None:
        self.writer = self.csv_writer()

    def finish(self) -> None:
        rng, rate, out = self.rng, self.ctx.rate, self.outcomes
        products = self.ctx.require_products().count
        numbers = np.tile(np.arange(1, products + 1, dtype=np.int64), len(WAREHOUSES))
        warehouses = np.repeat(np.arange(len(WAREHOUSES)), products)
        size = numbers.size
        ids = format_ids(PRODUCT, numbers, rng, rate)
        on_hand = rng.integers(0, 400, size=size)
        reorder = rng.integers(10, 60, size=size)
        # The snapshot date in ISO, US or European form, like every date in the feeds.
        days = format_dates(np.full(size, self.ctx.history.end_ts, dtype=np.int64), rng, rate)
        rows: list[list[str]] = [
            [days[k], ids[k], WAREHOUSES[warehouses[k]], str(on_hand[k]), str(reorder[k])]
            for k in range(size)
        ]
        written: list[list[str]] = []
        codes = INVENTORY_DEFECTS.draw(rng, size, rate)
        for k in range(size):
            code = int(codes[k])
            if code < 0:
                out.keep()
                written.append(rows[k])
                continue
            kind = INVENTORY_DEFECTS.defects[code]
            out.note(kind.name)
            row = rows[k]
            if kind.name == "exact_duplicate":
                out.keep()
                out.duplicate()
                written.extend([row, list(row)])
                continue
            if kind.name == "null_product_id":
                row[1] = ""
            elif kind.name == "negative_stock":
                row[3] = str(-int(rng.integers(1, 50)))
            elif kind.name == "unknown_product":
                row[1] = one_id(PRODUCT, products + 1 + int(rng.integers(0, 50_000)), rng, rate)
            elif kind.name == "malformed":
                row = malformed_csv(rng, row)
            assert kind.rule is not None
            out.quarantine(kind.rule)
            written.append(row)
        self.writer.write(written)
