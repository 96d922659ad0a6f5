"""The simulated shop: orders, their lines, status timelines and returns, batch by batch.

This is the ground truth the fact sources (orders, order_items, returns, later shipments)
write from. It also decides which orders carry a rejecting defect (and so will be
quarantined in silver), because that decision cascades: the lines and returns of such an
order are quarantined `order_exists`, so every fact source must see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from shoplake.ecommerce.generator.calendar import DAY, HOUR, History, OrderClock
from shoplake.ecommerce.generator.defects import Defect, DefectPlan
from shoplake.ecommerce.generator.params import ORDER_BATCH, Params
from shoplake.ecommerce.generator.reference import (
    CANCEL_RATE,
    CANCELLED,
    CHANNEL_WEIGHTS,
    COUPON_CODES,
    COUPON_RATE,
    DELIVERED,
    DISCOUNT_WEIGHTS,
    DISCOUNTS,
    LINES_PER_ORDER_WEIGHTS,
    PAYMENT_WEIGHTS,
    PENDING,
    PROCESSING,
    QUANTITY_WEIGHTS,
    RETURN_LINE_RATE,
    RETURNED,
    SHIPPED,
)

ORDER_DEFECTS = DefectPlan(
    [
        Defect("exact_duplicate", weight=1.5),
        Defect("null_order_id", "order_id_not_null"),
        Defect("null_customer_id", "customer_id_not_null"),
        Defect("invalid_order_date", "valid_order_date"),
        Defect("orphan_customer", "customer_exists"),
        Defect("malformed", "well_formed"),
    ]
)

NOT_REACHED = -1


@dataclass(frozen=True)
class CustomerTable:
    """Customers as the order simulation needs them (index i is customer number i + 1)."""

    signup_ts: np.ndarray
    """Signup time, ascending (customer ids are chronological)."""
    cum_weight: np.ndarray
    """Prefix sums of the customers' order propensity (heavy-tailed: repeat buyers)."""

    @property
    def count(self) -> int:
        return int(self.signup_ts.size)


@dataclass(frozen=True)
class ProductTable:
    """Products as the order simulation needs them (index i is product number i + 1)."""

    launch_ts: np.ndarray
    """First listing time, ascending (product ids are chronological)."""
    price: np.ndarray
    cum_weight: np.ndarray
    """Prefix sums of the products' popularity (Zipf: a long tail)."""

    @property
    def count(self) -> int:
        return int(self.launch_ts.size)


@dataclass(frozen=True)
class OrderBatch:
    """A batch of consecutive orders with their lines; arrays are per order or per line."""

    first: int
    """Global 0-based index of the first order (order number = index + 1)."""
    order_no: np.ndarray
    placed: np.ndarray
    customer_no: np.ndarray
    channel: np.ndarray
    payment: np.ndarray
    coupon: np.ndarray
    """Index into COUPON_CODES, or -1."""
    stages: np.ndarray
    """(orders, 6): when each status of ORDER_STATUSES was reached, or NOT_REACHED."""
    status: np.ndarray
    updated: np.ndarray
    total: np.ndarray
    defect: np.ndarray
    """Index into ORDER_DEFECTS, or -1."""
    lost: np.ndarray
    """The order is quarantined in silver (it carries a rejecting defect)."""
    line_order: np.ndarray
    """Per line: position of its order in the batch."""
    line_number: np.ndarray
    line_product_no: np.ndarray
    quantity: np.ndarray
    unit_price: np.ndarray
    discount: np.ndarray
    amount: np.ndarray
    returned: np.ndarray
    """Per line: the line was returned (by the history's end)."""
    return_ts: np.ndarray
    """Per line: when it was returned, or NOT_REACHED."""
    refund: np.ndarray

    @property
    def size(self) -> int:
        return int(self.order_no.size)


def _pick(rng: np.random.Generator, cum_weight: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Indices drawn by weight among the first `eligible[i]` entries (at least one)."""
    limit = np.maximum(eligible, 1)
    target = rng.random(limit.size) * cum_weight[limit - 1]
    return np.minimum(np.searchsorted(cum_weight, target, side="right"), limit - 1)


def _repeated(line_order: np.ndarray, product_index: np.ndarray) -> np.ndarray:
    """Mask of lines whose product already appears on an earlier line of the same order."""
    key = line_order.astype(np.int64) * (int(product_index.max(initial=0)) + 1) + product_index
    _, first = np.unique(key, return_index=True)
    repeated = np.ones(key.size, dtype=bool)
    repeated[first] = False
    return repeated


def _choice(rng: np.random.Generator, weights: tuple[float, ...], size: int) -> np.ndarray:
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(p.size, size=size, p=p / p.sum())


class Shop:
    """Simulates order batches for a run; deterministic for the run's seed."""

    def __init__(
        self, params: Params, history: History, customers: CustomerTable, products: ProductTable
    ) -> None:
        self.params = params
        self.history = history
        self.customers = customers
        self.products = products
        self.clock = OrderClock(history)
        self.rng = params.rng("shop")

    def batches(self) -> Iterator[OrderBatch]:
        total = self.params.orders
        for first in range(0, total, ORDER_BATCH):
            yield self._batch(first, min(first + ORDER_BATCH, total))

    def _batch(self, first: int, stop: int) -> OrderBatch:
        rng, end = self.rng, self.history.end_ts
        n = stop - first
        placed = self.clock.sample_sorted(rng, first, stop, self.params.orders)
        signed_up = np.searchsorted(self.customers.signup_ts, placed, side="right")
        customer_no = _pick(rng, self.customers.cum_weight, signed_up) + 1
        channel = _choice(rng, CHANNEL_WEIGHTS, n)
        payment = _choice(rng, PAYMENT_WEIGHTS, n)
        coupon = np.where(
            rng.random(n) < COUPON_RATE, rng.integers(0, len(COUPON_CODES), size=n), -1
        )

        # Lines: 1-5 per order, products by popularity among those already listed.
        lines = _choice(rng, LINES_PER_ORDER_WEIGHTS, n) + 1
        line_order = np.repeat(np.arange(n), lines)
        starts = np.cumsum(lines) - lines
        line_number = np.arange(line_order.size) - starts[line_order] + 1
        listed = np.searchsorted(self.products.launch_ts, placed[line_order], side="right")
        product_index = _pick(rng, self.products.cum_weight, listed)
        for _ in range(3):  # an order rarely lists one product twice: draw such lines again
            repeated = _repeated(line_order, product_index)
            if not repeated.any():
                break
            product_index[repeated] = _pick(rng, self.products.cum_weight, listed[repeated])
        quantity = _choice(rng, QUANTITY_WEIGHTS, line_order.size) + 1
        unit_price = self.products.price[product_index]
        discount = np.asarray(DISCOUNTS)[_choice(rng, DISCOUNT_WEIGHTS, line_order.size)]
        amount = np.round(quantity * unit_price * (1.0 - discount), 2)
        total = np.round(np.bincount(line_order, weights=amount, minlength=n), 2)

        # Status timeline: pending -> processing -> shipped -> delivered (-> returned),
        # or pending (-> processing) -> cancelled.
        stages = np.full((n, 6), NOT_REACHED, dtype=np.int64)
        stages[:, PENDING] = placed
        processing = placed + rng.integers(HOUR, 20 * HOUR, size=n)
        shipped = processing + rng.integers(12 * HOUR, 72 * HOUR, size=n)
        delivered = shipped + rng.integers(DAY, 7 * DAY, size=n)
        cancelled = placed + rng.integers(HOUR, 48 * HOUR, size=n)
        is_cancel = rng.random(n) < CANCEL_RATE
        stages[:, PROCESSING] = np.where(
            ~is_cancel | (processing < cancelled), processing, NOT_REACHED
        )
        stages[:, SHIPPED] = np.where(is_cancel, NOT_REACHED, shipped)
        stages[:, DELIVERED] = np.where(is_cancel, NOT_REACHED, delivered)
        stages[:, CANCELLED] = np.where(is_cancel, cancelled, NOT_REACHED)

        # Returns: a few percent of the lines of delivered orders, one return date per order.
        order_return = delivered + rng.integers(DAY, 30 * DAY, size=n)
        candidate = rng.random(line_order.size) < RETURN_LINE_RATE
        returnable = ~is_cancel & (order_return <= end)
        returned = candidate & returnable[line_order]
        has_return = np.bincount(line_order, weights=returned, minlength=n) > 0
        stages[:, RETURNED] = np.where(has_return, order_return, NOT_REACHED)
        stages[stages > end] = NOT_REACHED
        return_ts = np.where(returned, order_return[line_order], NOT_REACHED)
        partial = rng.random(line_order.size) < 0.1
        refund = np.round(np.where(partial, amount * 0.5, amount), 2)

        reached = stages != NOT_REACHED
        # Stage times increase along every path, so the status is the latest stage reached.
        status = np.argmax(np.where(reached, stages, NOT_REACHED), axis=1)
        updated = stages[np.arange(n), status]

        defect = ORDER_DEFECTS.draw(rng, n, self.params.defect_rate)
        return OrderBatch(
            first=first,
            order_no=np.arange(first, stop, dtype=np.int64) + 1,
            placed=placed,
            customer_no=customer_no.astype(np.int64),
            channel=channel,
            payment=payment,
            coupon=coupon,
            stages=stages,
            status=status,
            updated=updated,
            total=total,
            defect=defect,
            lost=ORDER_DEFECTS.rejecting(defect),
            line_order=line_order,
            line_number=line_number,
            line_product_no=product_index.astype(np.int64) + 1,
            quantity=quantity,
            unit_price=unit_price,
            discount=discount,
            amount=amount,
            returned=returned,
            return_ts=return_ts,
            refund=refund,
        )
