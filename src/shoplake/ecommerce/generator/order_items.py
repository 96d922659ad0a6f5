"""The `order_items` source (CSV): the lines of each simulated order batch."""

from __future__ import annotations

import numpy as np

from shoplake.ecommerce.contract import SOURCES
from shoplake.ecommerce.generator.context import SourceGenerator
from shoplake.ecommerce.generator.defects import Defect, DefectPlan, malformed_csv, offsets
from shoplake.ecommerce.generator.ids import ORDER, PRODUCT, format_ids, one_id
from shoplake.ecommerce.generator.simulation import OrderBatch
from shoplake.ecommerce.generator.writer import Interleaver, Row

ITEM_DEFECTS = DefectPlan(
    [
        Defect("exact_duplicate", weight=1.5),
        Defect("null_order_id", "order_id_not_null"),
        Defect("null_product_id", "product_id_not_null"),
        Defect("non_positive_quantity", "positive_quantity"),
        Defect("non_positive_price", "positive_price"),
        Defect("unknown_product", "product_exists"),
        Defect("malformed", "well_formed"),
    ]
)


class OrderItemsSource(SourceGenerator):
    """Order lines; the lines of an order quarantined in silver cascade to `order_exists`."""

    name = "order_items"
    format = SOURCES["order_items"].format
    columns = SOURCES["order_items"].columns
    rules = (
        "well_formed",
        "order_id_not_null",
        "product_id_not_null",
        "positive_quantity",
        "positive_price",
        "order_exists",
        "product_exists",
    )

    def begin(self) -> None:
        self.writer = self.csv_writer()
        self.stream = Interleaver()
        self._small = np.array([str(k) for k in range(64)], dtype=object)

    def _text(self, values: np.ndarray, fmt: str) -> list[str]:
        """Values as text, formatting each distinct value once (prices, discounts)."""
        distinct, inverse = np.unique(values, return_inverse=True)
        table = np.array([fmt % v for v in distinct.tolist()], dtype=object)
        return table[inverse].tolist()

    def consume(self, batch: OrderBatch) -> None:
        rng, rate, out = self.rng, self.ctx.rate, self.outcomes
        size = batch.line_order.size
        order_ids = format_ids(ORDER, batch.order_no[batch.line_order], rng, rate)
        product_ids = format_ids(PRODUCT, batch.line_product_no, rng, rate)
        prices = self._text(batch.unit_price, "%.2f")
        rows: list[Row] = list(
            zip(
                order_ids,
                self._small[batch.line_number].tolist(),
                product_ids,
                self._small[batch.quantity].tolist(),
                prices,
                self._text(batch.discount, "%.2f"),
                strict=True,
            )
        )

        orphaned = batch.lost[batch.line_order]
        codes = ITEM_DEFECTS.draw(rng, size, rate, eligible=~orphaned)
        later = offsets(rng, size)
        extras: list[tuple[int, Row]] = []
        for k in np.flatnonzero(codes >= 0).tolist():
            kind = ITEM_DEFECTS.defects[codes[k]]
            out.note(kind.name)
            if kind.name == "exact_duplicate":
                extras.append((k + int(later[k]), rows[k]))
                out.duplicate()
                continue
            row = rows[k] = list(rows[k])
            if kind.name == "null_order_id":
                row[0] = ""
            elif kind.name == "null_product_id":
                row[2] = ""
            elif kind.name == "non_positive_quantity":
                row[3] = str(-int(rng.integers(0, 4)))
            elif kind.name == "non_positive_price":
                row[4] = "0.00" if rng.random() < 0.4 else f"-{prices[k]}"
            elif kind.name == "unknown_product":
                unknown = self.ctx.params.products + 1 + int(rng.integers(0, 50_000))
                row[2] = one_id(PRODUCT, unknown, rng, rate)
            elif kind.name == "malformed":
                rows[k] = malformed_csv(rng, row)
            assert kind.rule is not None
            out.quarantine(kind.rule)
        lost_lines = int(orphaned.sum())
        out.quarantine("order_exists", lost_lines)
        out.keep(size - lost_lines - int(ITEM_DEFECTS.rejecting(codes).sum()))
        self.writer.write(self.stream.merge(rows, extras))

    def finish(self) -> None:
        self.writer.write(self.stream.drain())
