"""The `orders` source (JSON lines): one row per order, plus its status history.

An order with a status history (probability `defect_rate`) is written as several versions
with increasing `updated_at`: in order or out of order, in the main files (where a later
version may land in a later file) or in `orders-updates-NNNNN.jsonl`. From the second
orders file on (update files included), every line carries the extra `coupon_code` key
(schema drift) when the defect rate is above zero.
"""

from __future__ import annotations

import numpy as np

from shoplake.ecommerce.contract import SOURCES
from shoplake.ecommerce.generator.context import SourceGenerator
from shoplake.ecommerce.generator.defects import offsets, truncated
from shoplake.ecommerce.generator.ids import (
    CUSTOMER,
    ORDER,
    bad_order_date,
    format_ids,
    format_timestamps,
    one_id,
    one_ts,
)
from shoplake.ecommerce.generator.reference import (
    CHANNELS,
    COUPON_CODES,
    CURRENCY,
    ORDER_STATUSES,
    PAYMENT_METHODS,
)
from shoplake.ecommerce.generator.simulation import NOT_REACHED, ORDER_DEFECTS, OrderBatch
from shoplake.ecommerce.generator.writer import Interleaver, Row

# How the versions of an order with a history are written.
IN_ORDER, IN_ORDER_TO_UPDATES, OUT_OF_ORDER, OUT_OF_ORDER_TO_UPDATES = range(4)
PLACEMENT_WEIGHTS = np.array([0.35, 0.30, 0.20, 0.15])
DRIFT_COLUMN = "coupon_code"


class OrdersSource(SourceGenerator):
    """Orders of each simulated batch, with defects and status histories."""

    name = "orders"
    format = SOURCES["orders"].format
    columns = SOURCES["orders"].columns
    rules = (
        "well_formed",
        "order_id_not_null",
        "customer_id_not_null",
        "valid_order_date",
        "customer_exists",
    )

    def begin(self) -> None:
        drift = DRIFT_COLUMN if self.ctx.params.drift else None
        self.main = self.jsonl_writer(drift_column=drift, drift_from=2)
        self.updates = self.jsonl_writer(f"{self.name}-updates", drift_column=drift, drift_from=0)
        self.stream = Interleaver()

    def consume(self, batch: OrderBatch) -> None:
        rng, rate, out = self.rng, self.ctx.rate, self.outcomes
        n = batch.size
        order_ids = format_ids(ORDER, batch.order_no, rng, rate)
        customer_ids = format_ids(CUSTOMER, batch.customer_no, rng, rate)
        placed = format_timestamps(batch.placed, rng, rate, epoch_as_int=True)
        updated = format_timestamps(batch.updated, rng, rate, epoch_as_int=True)
        channels = [CHANNELS[c] for c in batch.channel.tolist()]
        payments = [PAYMENT_METHODS[p] for p in batch.payment.tolist()]
        statuses = [ORDER_STATUSES[s] for s in batch.status.tolist()]
        coupons = [COUPON_CODES[c] if c >= 0 else None for c in batch.coupon.tolist()]
        totals = batch.total.tolist()
        rows: list[Row] = [
            (
                order_ids[i],
                customer_ids[i],
                placed[i],
                statuses[i],
                channels[i],
                payments[i],
                totals[i],
                CURRENCY,
                updated[i],
                coupons[i],
            )
            for i in range(n)
        ]

        has_history = (rng.random(n) < rate) & ~batch.lost & (batch.status != 0)
        later = offsets(rng, n)
        extras: list[tuple[int, Row]] = []
        to_updates: list[tuple[int, int, Row]] = []
        for i in np.flatnonzero(batch.defect >= 0).tolist():
            kind = ORDER_DEFECTS.defects[batch.defect[i]]
            out.note(kind.name)
            if kind.rule is not None:
                rows[i] = self._reject(kind.name, rows[i], batch, i)
                out.quarantine(kind.rule)
            else:  # exact duplicate
                extras.append((i + int(later[i]), rows[i]))
                out.duplicate()
        placement = rng.choice(4, size=n, p=PLACEMENT_WEIGHTS)
        two_versions = rng.random(n) < 0.3
        step = offsets(rng, n)
        for i in np.flatnonzero(has_history).tolist():
            self._history(
                batch,
                i,
                rows,
                extras,
                to_updates,
                int(placement[i]),
                bool(two_versions[i]),
                int(step[i]),
            )
        out.keep(int(n - batch.lost.sum()))

        self.main.write(self.stream.merge(rows, extras))
        to_updates.sort(key=lambda item: (item[0], item[1]))
        self.updates.write([row for _, _, row in to_updates])

    def finish(self) -> None:
        self.main.write(self.stream.drain())

    def _reject(self, kind: str, row: Row, batch: OrderBatch, i: int) -> Row:
        """The only version of order i, carrying the rejecting defect `kind`."""
        values = list(row)
        if kind == "null_order_id":
            values[0] = None
        elif kind == "null_customer_id":
            values[1] = None
        elif kind == "invalid_order_date":
            values[2], how = bad_order_date(self.rng, int(batch.placed[i]))
            self.outcomes.note(f"{how}_order_date")
        elif kind == "orphan_customer":
            unknown = self.ctx.params.customers + 1 + int(self.rng.integers(0, 100_000))
            values[1] = one_id(CUSTOMER, unknown, self.rng, self.ctx.rate)
        elif kind == "malformed":
            return truncated(self.rng, tuple(values))
        return tuple(values)

    def _history(
        self,
        batch: OrderBatch,
        i: int,
        rows: list[Row],
        extras: list[tuple[int, Row]],
        to_updates: list[tuple[int, int, Row]],
        placement: int,
        two_versions: bool,
        step: int,
    ) -> None:
        """Write order i as 1-2 earlier versions plus its final one."""
        out = self.outcomes
        stages = batch.stages[i].tolist()
        final = int(batch.status[i])
        earlier = [
            s
            for _, s in sorted(
                (t, s) for s, t in enumerate(stages) if t != NOT_REACHED and t < stages[final]
            )
        ]
        chosen = earlier[-2:] if two_versions and len(earlier) >= 2 else earlier[-1:]
        olds = [self._as_of(rows[i], batch, i, status) for status in chosen]
        final_row = rows[i]
        out.note("status_history")
        out.note("older_version", len(olds))
        out.duplicate(len(olds))
        if placement == IN_ORDER:
            rows[i] = olds[0]
            for k, row in enumerate([*olds[1:], final_row], start=1):
                extras.append((i + k * step, row))
        elif placement == IN_ORDER_TO_UPDATES:
            rows[i] = olds[0]
            for status, row in zip([*chosen[1:], final], [*olds[1:], final_row], strict=True):
                to_updates.append((int(stages[status]), i, row))
        elif placement == OUT_OF_ORDER:
            out.note("out_of_order")
            for k, row in enumerate(reversed(olds), start=1):
                extras.append((i + k * step, row))
        else:
            out.note("out_of_order")
            for status, row in zip(chosen, olds, strict=True):
                to_updates.append((int(stages[status]), i, row))

    def _as_of(self, row: Row, batch: OrderBatch, i: int, status: int) -> Row:
        """Order i as it was when it reached `status` (fresh id and date formats)."""
        rng, rate = self.rng, self.ctx.rate
        ts = int(batch.stages[i, status])
        return (
            one_id(ORDER, int(batch.order_no[i]), rng, rate),
            one_id(CUSTOMER, int(batch.customer_no[i]), rng, rate),
            one_ts(int(batch.placed[i]), rng, rate, epoch_as_int=True),
            ORDER_STATUSES[status],
            row[4],
            row[5],
            row[6],
            row[7],
            one_ts(ts, rng, rate, epoch_as_int=True),
            row[9],
        )
