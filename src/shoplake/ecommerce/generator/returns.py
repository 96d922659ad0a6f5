"""The `returns` source (JSON lines): returned order lines, and returns filed twice."""

from __future__ import annotations

import numpy as np

from shoplake.ecommerce.contract import SOURCES
from shoplake.ecommerce.generator.calendar import DAY
from shoplake.ecommerce.generator.context import SourceGenerator
from shoplake.ecommerce.generator.defects import Defect, DefectPlan, offsets, truncated
from shoplake.ecommerce.generator.ids import (
    CUSTOMER,
    ORDER,
    PRODUCT,
    RETURN,
    format_ids,
    format_timestamps,
    one_id,
    one_ts,
)
from shoplake.ecommerce.generator.reference import RETURN_REASON_WEIGHTS, RETURN_REASONS
from shoplake.ecommerce.generator.simulation import OrderBatch
from shoplake.ecommerce.generator.writer import Interleaver, Row

RETURN_DEFECTS = DefectPlan(
    [
        Defect("exact_duplicate", weight=1.5),
        Defect("null_return_id", "return_id_not_null"),
        Defect("null_order_id", "order_id_not_null"),
        Defect("unknown_order", "order_exists"),
        Defect("malformed", "well_formed"),
        Defect("filed_twice", weight=1.5),
    ]
)


class ReturnsSource(SourceGenerator):
    """Returns of the returned lines of each batch; return ids are sequential."""

    name = "returns"
    format = SOURCES["returns"].format
    columns = SOURCES["returns"].columns
    rules = ("well_formed", "return_id_not_null", "order_id_not_null", "order_exists")

    def begin(self) -> None:
        self.writer = self.jsonl_writer()
        self.stream = Interleaver()
        self.next_id = 1
        weights = np.asarray(RETURN_REASON_WEIGHTS)
        self.reason_p = weights / weights.sum()

    def consume(self, batch: OrderBatch) -> None:
        rng, rate, out = self.rng, self.ctx.rate, self.outcomes
        lines = np.flatnonzero(batch.returned)
        size = lines.size
        orders = batch.line_order[lines]
        return_no = np.arange(self.next_id, self.next_id + size, dtype=np.int64)
        self.next_id += size
        return_ids = [RETURN.canonical(r) for r in return_no.tolist()]
        order_ids = format_ids(ORDER, batch.order_no[orders], rng, rate)
        product_ids = format_ids(PRODUCT, batch.line_product_no[lines], rng, rate)
        customer_ids = format_ids(CUSTOMER, batch.customer_no[orders], rng, rate)
        dates = format_timestamps(batch.return_ts[lines], rng, rate, epoch_as_int=True)
        reasons = rng.choice(len(RETURN_REASONS), size=size, p=self.reason_p).tolist()
        refunds = batch.refund[lines].tolist()
        rows: list[Row] = [
            (
                return_ids[k],
                order_ids[k],
                product_ids[k],
                customer_ids[k],
                dates[k],
                RETURN_REASONS[reasons[k]],
                refunds[k],
            )
            for k in range(size)
        ]

        orphaned = batch.lost[orders]
        codes = RETURN_DEFECTS.draw(rng, size, rate, eligible=~orphaned)
        later = offsets(rng, size, mean=5.0)
        extras: list[tuple[int, Row]] = []
        for k in np.flatnonzero(codes >= 0).tolist():
            kind = RETURN_DEFECTS.defects[codes[k]]
            out.note(kind.name)
            values = list(rows[k])
            if kind.name == "exact_duplicate":
                extras.append((k + int(later[k]), rows[k]))
                out.duplicate()
                continue
            if kind.name == "filed_twice":
                extras.append((k + int(later[k]), self._second_filing(batch, lines[k], rows[k])))
                out.keep()
                continue
            if kind.name == "null_return_id":
                values[0] = None
            elif kind.name == "null_order_id":
                values[1] = None
            elif kind.name == "unknown_order":
                unknown = self.ctx.params.orders + 1 + int(rng.integers(0, 1_000_000))
                values[1] = one_id(ORDER, unknown, rng, rate)
            rows[k] = truncated(rng, tuple(values)) if kind.name == "malformed" else tuple(values)
            assert kind.rule is not None
            out.quarantine(kind.rule)
        lost_returns = int(orphaned.sum())
        out.quarantine("order_exists", lost_returns)
        out.keep(size - lost_returns - int(RETURN_DEFECTS.rejecting(codes).sum()))
        self.writer.write(self.stream.merge(rows, extras))

    def finish(self) -> None:
        self.writer.write(self.stream.drain())

    def _second_filing(self, batch: OrderBatch, line: int, first: Row) -> Row:
        """The same return filed again by the same customer: a new return id, days later."""
        rng, rate = self.rng, self.ctx.rate
        order = int(batch.line_order[line])
        ts = min(
            int(batch.return_ts[line]) + int(rng.integers(DAY, 20 * DAY)), self.ctx.history.end_ts
        )
        return_id = RETURN.canonical(self.next_id)
        self.next_id += 1
        reason = RETURN_REASONS[int(rng.choice(len(RETURN_REASONS), p=self.reason_p))]
        return (
            return_id,
            one_id(ORDER, int(batch.order_no[order]), rng, rate),
            one_id(PRODUCT, int(batch.line_product_no[line]), rng, rate),
            one_id(CUSTOMER, int(batch.customer_no[order]), rng, rate),
            one_ts(ts, rng, rate, epoch_as_int=True),
            reason,
            first[6],
        )
