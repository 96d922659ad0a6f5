"""`generate`: run every source generator over one simulated shop and write the manifest."""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import date
from pathlib import Path

from shoplake.ecommerce.generator.batch import save_catalog
from shoplake.ecommerce.generator.calendar import History
from shoplake.ecommerce.generator.context import Context, SourceGenerator
from shoplake.ecommerce.generator.customers import CustomersSource
from shoplake.ecommerce.generator.inventory import InventorySource
from shoplake.ecommerce.generator.manifest import GenerationReport
from shoplake.ecommerce.generator.order_items import OrderItemsSource
from shoplake.ecommerce.generator.orders import OrdersSource
from shoplake.ecommerce.generator.params import Params
from shoplake.ecommerce.generator.pools import build_pools
from shoplake.ecommerce.generator.products import ProductsSource
from shoplake.ecommerce.generator.regions import RegionsSource
from shoplake.ecommerce.generator.returns import ReturnsSource
from shoplake.ecommerce.generator.shipments import ShipmentsSource
from shoplake.ecommerce.generator.simulation import Shop

SOURCES: tuple[type[SourceGenerator], ...] = (
    RegionsSource,
    CustomersSource,
    ProductsSource,
    OrdersSource,
    OrderItemsSource,
    ReturnsSource,
    InventorySource,
    ShipmentsSource,
)
"""The source generators, in run order: dimensions first (facts sample from them)."""


def generate(
    landing: str | Path,
    *,
    orders: int = 1000,
    seed: int = 42,
    defect_rate: float = 0.03,
    chunk_rows: int = 100_000,
    end_date: date = date(2026, 10, 31),
    snapshot_days: int = 0,
    progress: Callable[[str, int], None] | None = None,
) -> GenerationReport:
    """Write a synthetic e-commerce data set into the landing folder `landing`.

    Writes the sources of docs/data-contract.md (`regions`, `customers`, `products`,
    `orders`, `order_items`, `returns`, `inventory`, `shipments`) as
    `<landing>/<source>/<source>-NNNNN.<ext>` files of
    at most `chunk_rows` rows (plus `-updates-` files for changes over time), covering the
    24 months up to `end_date`, and `<landing>/_generator/manifest.json` with the rows
    written and the outcomes silver must produce (rows kept, duplicates, quarantined per
    rule). `orders` sets the scale: max(500, orders // 5) customers, max(100, min(20000,
    orders // 50)) products, ~2.2 lines per order. Each row gets one defect with
    probability `defect_rate` (0 gives clean data). The same arguments give the same bytes.
    Orders are generated and written in batches, so memory stays bounded at any size.

    `snapshot_days` > 0 also writes, for customers and products, a full snapshot at the
    end of each of the last `snapshot_days` days (`<source>-snapshot-YYYYMMDD-` files,
    newest first): each row repeats the version current then, so silver counts it once.

    `progress(source, rows_written_so_far)` is called as rows are written.
    Raises FileExistsError if the landing folder already holds generated files.

    Example (into an empty folder)::

        >>> from shoplake.ecommerce.generator import generate
        >>> report = generate("/tmp/landing", orders=2_000, seed=7)
        >>> orders = report.sources["orders"]
        >>> orders.rows, orders.expected  # doctest: +NORMALIZE_WHITESPACE
        (2081, Expected(silver=1948, duplicates=81, quarantined=52, rules={'well_formed': 9,
        'order_id_not_null': 9, 'customer_id_not_null': 11, 'valid_order_date': 15,
        'customer_exists': 8}))
        >>> report.files["orders"]
        ('orders/orders-00001.jsonl', 'orders/orders-updates-00001.jsonl')
    """
    params = Params(
        orders=orders,
        seed=seed,
        defect_rate=defect_rate,
        chunk_rows=chunk_rows,
        end_date=end_date,
        snapshot_days=snapshot_days,
    )
    root = Path(landing)
    _refuse_existing(root)
    history = History(end_date)
    pools = build_pools(seed, brands_per_category=max(8, min(200, params.products // 25)))
    ctx = Context(root, params, history, pools, progress)
    sources = [source(ctx) for source in SOURCES]
    # Millions of short-lived rows and no reference cycles: cyclic garbage collection would
    # only rescan the heap (a third of the run time), so it is paused while generating.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for source in sources:
            source.begin()
        shop = Shop(params, history, ctx.require_customers(), ctx.require_products())
        for batch in shop.batches():
            for source in sources:
                source.consume(batch)
        for source in sources:
            source.finish()
    finally:
        if collecting:
            gc.enable()
        for source in sources:
            for writer in source.writers:
                writer.close()
    report = GenerationReport(
        landing=root,
        orders=orders,
        seed=seed,
        defect_rate=defect_rate,
        chunk_rows=chunk_rows,
        end_date=end_date,
        start_date=history.start_date,
        sources={source.name: source.report() for source in sources},
    )
    report.write_manifest()
    save_catalog(root)
    return report


def _refuse_existing(root: Path) -> None:
    """Never mix two runs in one landing folder: the manifest would not match the files."""
    manifest = root / "_generator" / "manifest.json"
    if manifest.exists():
        raise FileExistsError(f"{manifest} exists: generate into an empty landing folder")
    for source in SOURCES:
        folder = root / source.name
        if folder.is_dir() and any(not p.name.startswith(".") for p in folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty: generate into an empty landing folder")
