"""Order events for the Kafka topic: ``order_created``, ``order_updated``, ``order_cancelled``.

Customers, products, places and categories come from the batch generator: the
landing folder's ``customers`` and ``products`` files when they exist (so events
refer to real rows), else the generator's reference data and id ranges. Defects
real streams have are injected at ``defect_rate``: duplicates, late and
out-of-order events, malformed JSON, missing fields.
"""

from __future__ import annotations

import csv
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from shoplake.ecommerce.generator.reference import (
    CATEGORIES,
    CHANNELS,
    CURRENCY,
    PAYMENT_METHODS,
    REGIONS,
)

EVENT_TYPES = ("order_created", "order_updated", "order_cancelled")
DEFECTS = ("duplicate", "late", "out_of_order", "malformed", "missing_field")
FIRST_STREAM_ORDER = 90_000_001
"""Streamed orders are numbered from here, apart from the batch files' orders."""
_CUSTOMER = re.compile(r"^C\d{6}$")
_PRODUCT = re.compile(r"^P\d{5}$")


@dataclass(frozen=True)
class Customer:
    customer_id: str
    state: str
    country: str


@dataclass(frozen=True)
class Product:
    product_id: str
    category: str
    price: float


def _landing_rows(landing: Path, source: str) -> Iterator[dict[str, str]]:
    folder = landing / source
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            yield from csv.DictReader(handle)


def reference_data(
    landing: Path | None, rng: random.Random, customers: int = 500, products: int = 100
) -> tuple[list[Customer], list[Product]]:
    """The customers and products events refer to: the landing files' clean rows if
    there are any, else generated within the batch generator's id ranges."""
    found_c: dict[str, Customer] = {}
    found_p: dict[str, Product] = {}
    if landing is not None:
        for row in _landing_rows(landing, "customers"):
            cid = (row.get("customer_id") or "").strip()
            if _CUSTOMER.match(cid) and row.get("state") and row.get("country"):
                found_c[cid] = Customer(cid, row["state"].strip(), row["country"].strip())
        for row in _landing_rows(landing, "products"):
            pid = (row.get("product_id") or "").strip()
            try:
                price = float(row.get("price") or "")
            except ValueError:
                continue
            if _PRODUCT.match(pid) and row.get("category") and price > 0:
                found_p[pid] = Product(pid, row["category"].strip(), round(price, 2))
    if not found_c:
        for n in range(1, customers + 1):
            region = rng.choices(REGIONS, weights=[r.weight for r in REGIONS])[0]
            found_c[f"C{n:06d}"] = Customer(f"C{n:06d}", rng.choice(region.states), region.country)
    if not found_p:
        for n in range(1, products + 1):
            cat = rng.choices(CATEGORIES, weights=[c.weight for c in CATEGORIES])[0]
            price = round(cat.low * (cat.high / cat.low) ** rng.random(), 2)
            found_p[f"P{n:05d}"] = Product(f"P{n:05d}", cat.name, price)
    return list(found_c.values()), list(found_p.values())


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class EventFactory:
    """Makes order events one at a time, each as the bytes to send and its key.

    Example::

        factory = EventFactory(seed=1, defect_rate=0.05)
        key, value = factory.next(datetime.now(UTC))
    """

    def __init__(
        self,
        *,
        seed: int = 42,
        defect_rate: float = 0.0,
        landing: Path | None = None,
        first_order: int = FIRST_STREAM_ORDER,
        late_by: timedelta = timedelta(minutes=30),
    ) -> None:
        if not 0.0 <= defect_rate <= 1.0:
            raise ValueError(f"defect_rate must be within [0, 1], got {defect_rate}")
        self.rng = random.Random(seed)
        self.defect_rate = defect_rate
        self.customers, self.products = reference_data(landing, self.rng)
        self.next_order = first_order
        self.late_by = late_by
        self.open: list[dict[str, object]] = []  # recent orders that can still change
        self.last: tuple[bytes, bytes] | None = None
        self.defects: dict[str, int] = dict.fromkeys(DEFECTS, 0)

    def event(self, now: datetime) -> dict[str, object]:
        """A clean event happening at ``now``."""
        roll = self.rng.random()
        if self.open and roll < 0.15:
            order = self.open[self.rng.randrange(len(self.open))]
            kind, status = "order_updated", self.rng.choice(("paid", "shipped", "delivered"))
        elif self.open and roll < 0.22:
            order = self.open.pop(self.rng.randrange(len(self.open)))
            kind, status = "order_cancelled", "cancelled"
        else:
            order = self._new_order(now)
            kind, status = "order_created", "placed"
        return {
            "event_id": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "event_type": kind,
            **order,
            "items": [dict(i) for i in order["items"]],  # type: ignore[attr-defined]
            "status": status,
            "event_time": _iso(now),
        }

    def _new_order(self, now: datetime) -> dict[str, object]:
        customer = self.rng.choice(self.customers)
        items: list[dict[str, Any]] = []
        lines = min(len(self.products), self.rng.choice((1, 1, 2, 3)))
        for product in self.rng.sample(self.products, k=lines):
            items.append(
                {
                    "product_id": product.product_id,
                    "category": product.category,
                    "quantity": self.rng.choice((1, 1, 1, 2, 3)),
                    "price": product.price,
                }
            )
        order: dict[str, object] = {
            "order_id": f"O{self.next_order:08d}",
            "order_time": _iso(now),
            "customer_id": customer.customer_id,
            "channel": self.rng.choice(CHANNELS),
            "payment_method": self.rng.choice(PAYMENT_METHODS),
            "currency": CURRENCY,
            "state": customer.state,
            "country": customer.country,
            "items": items,
            "total_amount": round(sum(i["quantity"] * i["price"] for i in items), 2),
        }
        self.next_order += 1
        self.open.append(order)
        if len(self.open) > 1_000:
            self.open.pop(0)
        return order

    def next(self, now: datetime) -> tuple[bytes, bytes]:
        """(key, value) of the next message, with a defect at ``defect_rate``."""
        if self.last is not None and self.defect_rate and self.rng.random() < self.defect_rate:
            defect = self.rng.choice(DEFECTS)
        else:
            defect = ""
        if defect == "duplicate" and self.last is not None:
            self.defects[defect] += 1
            return self.last
        when = now
        if defect == "late":
            when = now - self.late_by
        elif defect == "out_of_order":
            when = now - timedelta(seconds=self.rng.uniform(1, 20))
        event = self.event(when)
        if defect == "missing_field":
            item_keys = ("price", "quantity")
            items = event.get("items")
            if isinstance(items, list) and items:
                items[0] = {k: v for k, v in items[0].items() if k != self.rng.choice(item_keys)}
        key = str(event["order_id"]).encode()
        value = orjson.dumps(event)
        if defect == "malformed":
            value = value[: len(value) // 2]
        if defect:
            self.defects[defect] += 1
        self.last = (key, value)
        return key, value
