"""The `shipments` source (JSON lines): one shipment per order that reached "shipped".

Carriers differ in speed; a shipment promised within `PROMISE_DAYS` and delivered
later is late. An order still in transit at the history's end has no `delivered_at`.
Shipments of orders quarantined in silver cascade to `order_exists`. Defects: exact
duplicates, a null shipment id, an unknown order, delivered before shipped, a
malformed line.
"""

from __future__ import annotations

import numpy as np

from shoplake.ecommerce.contract import SOURCES
from shoplake.ecommerce.generator.calendar import DAY, HOUR
from shoplake.ecommerce.generator.context import SourceGenerator
from shoplake.ecommerce.generator.defects import Defect, DefectPlan, offsets, truncated
from shoplake.ecommerce.generator.ids import ORDER, IdKind, format_ids, one_id, one_ts
from shoplake.ecommerce.generator.reference import DELIVERED, SHIPPED
from shoplake.ecommerce.generator.simulation import NOT_REACHED, OrderBatch
from shoplake.ecommerce.generator.writer import Interleaver, Row

SHIPMENT = IdKind("SH", 8)
CARRIERS = ("ups", "fedex", "dhl", "usps")
PROMISE_DAYS = 5
SHIPMENT_DEFECTS = DefectPlan(
    [
        Defect("exact_duplicate", weight=1.5),
        Defect("null_shipment_id", "shipment_id_not_null"),
        Defect("delivered_before_shipped", "delivered_after_shipped"),
        Defect("unknown_order", "order_exists"),
        Defect("malformed", "well_formed"),
    ]
)


class ShipmentsSource(SourceGenerator):
    """Shipments of the shipped orders of each batch; shipment ids are sequential."""

    name = "shipments"
    format = SOURCES["shipments"].format
    columns = SOURCES["shipments"].columns
    rules = ("well_formed", "shipment_id_not_null", "delivered_after_shipped", "order_exists")

    def begin(self) -> None:
        self.writer = self.jsonl_writer()
        self.stream = Interleaver()
        self.next_id = 1

    def consume(self, batch: OrderBatch) -> None:
        rng, rate, out = self.rng, self.ctx.rate, self.outcomes
        shipped = np.flatnonzero(batch.stages[:, SHIPPED] != NOT_REACHED)
        size = shipped.size
        carriers = rng.integers(0, len(CARRIERS), size=size)
        shipped_ts = batch.stages[shipped, SHIPPED]
        delivered_ts = batch.stages[shipped, DELIVERED]
        order_ids = format_ids(ORDER, batch.order_no[shipped], rng, rate)
        rows: list[Row] = []
        for k in range(size):
            ts = int(shipped_ts[k])
            done = int(delivered_ts[k])
            rows.append(
                (
                    SHIPMENT.canonical(self.next_id + k),
                    order_ids[k],
                    CARRIERS[int(carriers[k])],
                    one_ts(ts, rng, rate, epoch_as_int=True),
                    None if done == NOT_REACHED else one_ts(done, rng, rate, epoch_as_int=True),
                    _day(ts + PROMISE_DAYS * DAY),
                )
            )
        self.next_id += size
        orphaned = batch.lost[shipped]
        codes = SHIPMENT_DEFECTS.draw(rng, size, rate, eligible=~orphaned)
        later = offsets(rng, size, mean=5.0)
        extras: list[tuple[int, Row]] = []
        for k in np.flatnonzero(codes >= 0).tolist():
            kind = SHIPMENT_DEFECTS.defects[codes[k]]
            out.note(kind.name)
            if kind.name == "exact_duplicate":
                extras.append((k + int(later[k]), rows[k]))
                out.duplicate()
                continue
            values = list(rows[k])
            if kind.name == "null_shipment_id":
                values[0] = None
            elif kind.name == "delivered_before_shipped":
                values[4] = one_ts(int(shipped_ts[k]) - int(rng.integers(HOUR, 3 * DAY)), rng, 0.0)
            elif kind.name == "unknown_order":
                unknown = self.ctx.params.orders + 1 + int(rng.integers(0, 1_000_000))
                values[1] = one_id(ORDER, unknown, rng, rate)
            rows[k] = truncated(rng, tuple(values)) if kind.name == "malformed" else tuple(values)
            assert kind.rule is not None
            out.quarantine(kind.rule)
        lost = int(orphaned.sum())
        out.quarantine("order_exists", lost)
        out.keep(size - lost - int(SHIPMENT_DEFECTS.rejecting(codes).sum()))
        self.writer.write(self.stream.merge(rows, extras))

    def finish(self) -> None:
        self.writer.write(self.stream.drain())


def _day(ts: int) -> str:
    return np.datetime64(ts, "s").astype("datetime64[D]").astype(str)
