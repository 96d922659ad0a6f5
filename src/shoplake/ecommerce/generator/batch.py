"""`generate_batch`: one follow-up batch of new orders for an already generated landing folder.

A shop keeps selling after the first export: this writes new orders (fresh ids after
every order written so far) placed on one day, by existing customers, of existing
products at their listed prices, with their lines, as
`orders/orders-batch-NNNNN.jsonl` and `order_items/order_items-batch-NNNNN.csv`. The
batches written so far are listed in `<landing>/_generator/batches.json`. Batches are
clean (no injected defects): every row must reach silver, which makes the expected
counts exact (`BatchReport.orders`, `BatchReport.lines`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import orjson

from shoplake.ecommerce.contract import SOURCES
from shoplake.ecommerce.generator.ids import CUSTOMER, ORDER, PRODUCT
from shoplake.ecommerce.generator.manifest import read_manifest
from shoplake.ecommerce.generator.params import Params
from shoplake.ecommerce.generator.reference import CHANNELS, CURRENCY, PAYMENT_METHODS

BATCHES_FILE = "batches.json"
STATUSES = ("pending", "processing", "shipped", "delivered")


@dataclass(frozen=True)
class BatchReport:
    """What one `generate_batch` wrote."""

    number: int
    day: date
    first_order: int
    orders: int
    lines: int
    files: tuple[str, ...]


def _batches(landing: Path) -> list[dict[str, object]]:
    path = landing / "_generator" / BATCHES_FILE
    return list(orjson.loads(path.read_bytes())) if path.exists() else []


CATALOG_FILE = "catalog.json"


def save_catalog(landing: Path) -> None:
    """Record the orderable products (valid id, positive price) in `_generator/`, so later
    batches still find them once `run` has archived the product files out of landing."""
    numbers: dict[int, float] = {}
    columns = SOURCES["products"].columns
    for path in sorted((landing / "products").glob("products-*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                if len(row) != len(columns) or None in row.values():
                    continue
                digits = "".join(ch for ch in row["product_id"] or "" if ch.isdigit())
                try:
                    price = float(row["price"] or "")
                except ValueError:
                    continue
                if digits and price > 0:
                    numbers[int(digits)] = price
    path = landing / "_generator" / CATALOG_FILE
    path.write_bytes(orjson.dumps({str(k): v for k, v in sorted(numbers.items())}))


def _catalog(landing: Path) -> tuple[np.ndarray, np.ndarray]:
    """Numbers and listed prices of the orderable products, as `generate` recorded them."""
    path = landing / "_generator" / CATALOG_FILE
    numbers = {int(k): float(v) for k, v in orjson.loads(path.read_bytes()).items()}
    if not numbers:
        raise FileNotFoundError(f"{path} lists no valid product to order")
    keys = np.array(sorted(numbers), dtype=np.int64)
    return keys, np.array([numbers[k] for k in keys.tolist()])


def generate_batch(
    landing: str | Path, *, orders: int = 1000, seed: int = 0, day: date | None = None
) -> BatchReport:
    """Write one batch of `orders` new orders (1-3 lines each) into a generated landing folder.

    Order ids continue after every order written so far (the initial `generate` and
    earlier batches); customers are drawn among those `generate` wrote, products among
    the valid listed ones. `day` defaults to the day after the history's end plus one
    day per earlier batch. Raises FileNotFoundError if `landing` was never generated.

    Example::

        >>> generate("/tmp/landing", orders=2_000)
        >>> generate_batch("/tmp/landing", orders=1_000).orders
        1000
    """
    root = Path(landing)
    if orders < 1:
        raise ValueError(f"orders must be at least 1, got {orders}")
    try:
        manifest = read_manifest(root)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{root} has no _generator/manifest.json: run generate there first"
        ) from None
    generator = manifest["generator"]
    params = Params(
        orders=int(generator["orders"]),
        seed=int(generator["seed"]),
        defect_rate=0.0,
        chunk_rows=1,
        end_date=date.fromisoformat(generator["end_date"]),
    )
    earlier = _batches(root)
    number = len(earlier) + 1
    first = params.orders + sum(int(b["orders"]) for b in earlier) + 1  # type: ignore[call-overload]
    when = day or params.end_date + timedelta(days=number)
    rng = np.random.default_rng(np.random.SeedSequence([params.seed, seed, number]))
    product_no, prices = _catalog(root)

    start = datetime.combine(when, time(), tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 86_400, size=orders))
    customers = rng.integers(1, params.customers + 1, size=orders)
    statuses = rng.integers(0, len(STATUSES), size=orders)
    channels = rng.integers(0, len(CHANNELS), size=orders)
    payments = rng.integers(0, len(PAYMENT_METHODS), size=orders)
    lines_per_order = rng.integers(1, 4, size=orders)
    line_order = np.repeat(np.arange(orders), lines_per_order)
    line_number = (
        np.arange(line_order.size) - (np.cumsum(lines_per_order) - lines_per_order)[line_order] + 1
    )
    picks = rng.integers(0, product_no.size, size=line_order.size)
    quantity = rng.integers(1, 4, size=line_order.size)
    amount = np.round(quantity * prices[picks], 2)
    totals = np.round(np.bincount(line_order, weights=amount, minlength=orders), 2)

    stem = f"batch-{number:05d}"
    orders_file = Path("orders") / f"orders-{stem}.jsonl"
    items_file = Path("order_items") / f"order_items-{stem}.csv"
    order_columns = SOURCES["orders"].columns
    with _create(root / orders_file) as out:
        for i in range(orders):
            ts = (start + timedelta(seconds=int(seconds[i]))).strftime("%Y-%m-%dT%H:%M:%S")
            values = (
                ORDER.canonical(first + i),
                CUSTOMER.canonical(int(customers[i])),
                ts,
                STATUSES[int(statuses[i])],
                CHANNELS[int(channels[i])],
                PAYMENT_METHODS[int(payments[i])],
                float(totals[i]),
                CURRENCY,
                ts,
            )
            out.write(orjson.dumps(dict(zip(order_columns, values, strict=True))) + b"\n")
    with _create(root / items_file, text=True) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SOURCES["order_items"].columns)
        for k in range(line_order.size):
            writer.writerow(
                (
                    ORDER.canonical(first + int(line_order[k])),
                    int(line_number[k]),
                    PRODUCT.canonical(int(product_no[picks[k]])),
                    int(quantity[k]),
                    f"{prices[picks[k]]:.2f}",
                    "0.0",
                )
            )
    report = BatchReport(
        number, when, first, orders, int(line_order.size), (str(orders_file), str(items_file))
    )
    earlier.append(
        {
            "batch": number,
            "day": when.isoformat(),
            "first_order": first,
            "orders": orders,
            "lines": report.lines,
            "files": list(report.files),
        }
    )
    path = root / "_generator" / BATCHES_FILE
    path.write_bytes(orjson.dumps(earlier, option=orjson.OPT_INDENT_2) + b"\n")
    return report


def _create(path: Path, *, text: bool = False):
    """Exclusive create: a batch never overwrites landing data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("x", newline="", encoding="utf-8") if text else path.open("xb")
