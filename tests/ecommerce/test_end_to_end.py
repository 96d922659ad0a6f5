"""The e-commerce pipeline end to end on generated data, checked against the manifest.

The generator records, per source, the rows it wrote and what silver must make of
them (rows kept, duplicates dropped, rows quarantined per rule), from its own ground
truth. The pipeline must reproduce those counts exactly.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import shoplake
from shoplake import RunResult
from shoplake.ecommerce.generator import generate, read_manifest
from shoplake.ecommerce.pipeline import SOURCES, build_pipeline
from shoplake.engines.polars_delta import PolarsDeltaEngine

# Generates and runs three shops of 1,000-2,000 orders: the slow end-to-end check.
pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 1)  # the generator's default data ends on 2026-10-31
GOLD = (
    "monthly_revenue", "category_sales", "customer_segments", "customer_lifetime_value",
    "product_performance", "seasonal_trends", "executive_kpis", "fraud_alerts",
    "inventory_health", "shipping_performance",
    "dim_customer", "dim_product", "dim_date", "fact_sales",
    "order_month_facts", "product_month_sales",
)
Versions = Callable[[Path], dict[str, int]]


@dataclass(frozen=True)
class Shop:
    landing: Path
    lake: Path
    manifest: dict[str, Any]
    run: RunResult

    def read(self, ref: str) -> pl.DataFrame:
        layer, _, name = ref.partition(".")
        return pl.read_delta(str(self.lake / layer / name))

    def expected(self, source: str) -> dict[str, Any]:
        return self.manifest["sources"][source]["expected"]  # type: ignore[no-any-return]

    def rerun(self, lake: Path | None = None, landing: Path | None = None) -> RunResult:
        return shoplake.run(
            build_pipeline(now=NOW),
            engine=PolarsDeltaEngine(str(lake or self.lake)),
            landing=landing or self.landing,
        )


def generated_shop(root: Path, **options: Any) -> Shop:
    landing, lake = root / "landing", root / "lake"
    generate(landing, **options)
    run = shoplake.run(
        build_pipeline(now=NOW), engine=PolarsDeltaEngine(str(lake)), landing=landing
    )
    return Shop(landing, lake, read_manifest(landing), run)


@pytest.fixture(scope="session")
def default_shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """1,000 orders, seed 42, the default defect rate."""
    return generated_shop(tmp_path_factory.mktemp("default"), orders=1000, seed=42)


@pytest.fixture(scope="session")
def defective_shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """2,000 orders with a defect in one row of five."""
    return generated_shop(
        tmp_path_factory.mktemp("defective"), orders=2000, seed=42, defect_rate=0.2
    )


@pytest.fixture(scope="session")
def clean_shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    return generated_shop(
        tmp_path_factory.mktemp("clean"), orders=1000, seed=42, defect_rate=0.0
    )


@pytest.fixture(params=["default_shop", "defective_shop"])
def shop(request: pytest.FixtureRequest) -> Shop:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


BY_SOURCE = pytest.mark.parametrize("source", list(SOURCES))


def test_the_generated_manifest_covers_every_source(shop: Shop) -> None:
    assert set(shop.manifest["sources"]) == set(SOURCES)
    assert shop.manifest["generator"]["seed"] == 42


# The order-event stream has no files here: its tables wait for events.
STREAM_TABLES = {"bronze.order_events", "silver.order_events", "gold.realtime_sales"}


def test_every_flow_completes(shop: Shop) -> None:
    assert shop.run.status == "completed"
    waiting = {f.table for f in shop.run.flows if f.status == "skipped"}
    assert waiting == STREAM_TABLES
    assert [f.table for f in shop.run.flows if f.status not in ("completed", "skipped")] == []
    assert len(shop.run.flows) == len(SOURCES) * 2 + len(GOLD) + len(STREAM_TABLES)


@BY_SOURCE
def test_bronze_keeps_every_generated_row(shop: Shop, source: str) -> None:
    rows = shop.manifest["sources"][source]["rows"]
    assert shop.read(f"bronze.{source}").height == rows
    flow = shop.run.flow(f"bronze.{source}")
    assert flow.rows_written == rows
    assert flow.files == len(shop.manifest["sources"][source]["files"])


@BY_SOURCE
def test_silver_rows_match_the_manifest(shop: Shop, source: str) -> None:
    silver = shop.read(f"silver.{source}")
    assert silver.height == shop.expected(source)["silver"]
    key = {
        "order_items": ["order_id", "line_number"],
        "inventory": ["snapshot_date", "product_id", "warehouse"],
    }.get(source, [f"{source[:-1]}_id"])
    assert silver.select(key).null_count().sum_horizontal().item() == 0
    if "is_current" in silver.columns:
        # SCD2 history: one row per version, exactly one current version per key.
        assert silver.select(*key, "valid_from").is_duplicated().sum() == 0
        current = silver.filter(pl.col("is_current"))
        assert current.height == silver.select(key).n_unique()
        silver = current
    assert silver.select(key).is_duplicated().sum() == 0


@BY_SOURCE
def test_quarantine_rows_per_rule_match_the_manifest(shop: Shop, source: str) -> None:
    quarantine = shop.read(f"quarantine.{source}")
    counts = dict(quarantine.group_by("rule").len().iter_rows())
    expected = {rule: n for rule, n in shop.expected(source)["rules"].items() if n}
    assert counts == expected
    assert quarantine.get_column("table").unique().to_list() in ([], [f"silver.{source}"])
    assert shop.run.flow(f"silver.{source}").rows_quarantined == shop.expected(source)[
        "quarantined"
    ]
    bronze_sources = set(shop.read(f"bronze.{source}").get_column("_source"))
    assert set(quarantine.get_column("_source")) <= bronze_sources
    for record in quarantine.get_column("record").head(20):
        assert json.loads(record)["_source"] in bronze_sources


@BY_SOURCE
def test_duplicates_match_the_manifest(shop: Shop, source: str) -> None:
    assert shop.run.flow(f"silver.{source}").rows_duplicate == shop.expected(source)[
        "duplicates"
    ]


@BY_SOURCE
def test_every_generated_row_is_kept_dropped_or_quarantined_once(shop: Shop, source: str) -> None:
    flow = shop.run.flow(f"silver.{source}")
    silver = shop.read(f"silver.{source}").height
    quarantined = shop.read(f"quarantine.{source}").height
    assert shop.manifest["sources"][source]["rows"] == silver + flow.rows_duplicate + quarantined
    assert flow.rows_dropped == 0
    kept = set(shop.read(f"silver.{source}").get_column("_source"))
    assert kept.isdisjoint(shop.read(f"quarantine.{source}").get_column("_source"))


@BY_SOURCE
def test_clean_data_quarantines_nothing_and_has_no_duplicates(
    clean_shop: Shop, source: str
) -> None:
    rows = clean_shop.manifest["sources"][source]["rows"]
    assert clean_shop.read(f"quarantine.{source}").height == 0
    assert clean_shop.run.flow(f"silver.{source}").rows_duplicate == 0
    assert clean_shop.read(f"bronze.{source}").height == rows
    assert clean_shop.read(f"silver.{source}").height == rows


@pytest.mark.parametrize("table", GOLD)
def test_every_gold_table_exists_and_has_rows(default_shop: Shop, table: str) -> None:
    assert default_shop.read(f"gold.{table}").height > 0


def test_fact_sales_carries_the_versions_valid_at_each_order(default_shop: Shop) -> None:
    facts = default_shop.read("gold.fact_sales")
    orders = default_shop.read("silver.orders").filter(pl.col("status") != "cancelled")
    lines = default_shop.read("silver.order_items").join(orders, on="order_id", how="semi")
    assert facts.height == lines.height
    for dim, sk in (("dim_customer", "customer_sk"), ("dim_product", "product_sk")):
        versions = default_shop.read(f"gold.{dim}")
        joined = facts.join(versions, on=sk, how="left")
        covers = (pl.col("is_first_version") | (pl.col("valid_from") <= pl.col("order_ts"))) & (
            pl.col("valid_to").is_null() | (pl.col("order_ts") < pl.col("valid_to"))
        )
        assert joined.filter(covers.fill_null(False)).height == facts.height, dim
    # Some sales happened under an older version than today's.
    products = default_shop.read("gold.dim_product")
    assert facts.join(products, on="product_sk").filter(~pl.col("is_current")).height > 0
    days = default_shop.read("gold.dim_date").get_column("date_key")
    assert set(facts.get_column("date_key")) <= set(days)


def test_overall_revenue_equals_the_sum_of_monthly_revenue(shop: Shop) -> None:
    monthly = shop.read("gold.monthly_revenue")
    kpis = shop.read("gold.executive_kpis")
    overall = kpis.filter(pl.col("scope") == "overall").get_column("revenue").item()
    total = monthly.get_column("revenue").sum()
    assert overall > 0
    assert abs(overall - total) <= 0.01 * monthly.height
    assert monthly.get_column("month").is_unique().all()


def test_a_second_run_writes_no_new_version(
    default_shop: Shop, tmp_path: Path, versions_of: Versions
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(default_shop.lake, lake)
    before = versions_of(lake)
    assert len(before) == len(SOURCES) * 3 + len(GOLD) + 1  # bronze, silver, quarantine, log
    run = default_shop.rerun(lake=lake)
    assert [f.table for f in run.flows if f.status != "skipped"] == []
    assert versions_of(lake) == before


def test_a_new_order_file_flows_through_to_gold(
    default_shop: Shop, tmp_path: Path, versions_of: Versions
) -> None:
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    shutil.copytree(default_shop.lake, lake)
    shutil.copytree(default_shop.landing, landing)  # copy2 keeps sizes and mtimes
    with pytest.raises(FileExistsError):
        generate(landing, orders=500, seed=7)  # the generator refuses a used landing folder

    orders = default_shop.read("silver.orders")
    customer = orders.get_column("customer_id").sort()[0]
    product = default_shop.read("silver.products").get_column("product_id").sort()[0]
    assert "O09999999" not in orders.get_column("order_id").to_list()
    new_order = {
        "order_id": "O09999999", "customer_id": customer, "order_date": "2026-10-15T12:00:00",
        "status": "delivered", "channel": "web", "payment_method": "card",
        "total_amount": 59.97, "currency": "USD", "updated_at": "2026-10-15T12:00:00",
    }
    (landing / "orders" / "orders-extra-00001.jsonl").write_text(json.dumps(new_order) + "\n")
    (landing / "order_items" / "order_items-extra-00001.csv").write_text(
        "order_id,line_number,product_id,quantity,unit_price,discount\n"
        f"O09999999,1,{product},3,19.99,0\n"
    )
    before = versions_of(lake)
    revenue_before = monthly_revenue(default_shop.read("gold.monthly_revenue"))

    run = default_shop.rerun(lake=lake, landing=landing)
    assert run.status == "completed"
    changed = {f.table for f in run.flows if f.status == "completed"}
    assert {"bronze.orders", "bronze.order_items", "silver.orders", "silver.order_items",
            "gold.monthly_revenue"} <= changed
    assert {"bronze.customers", "bronze.products", "bronze.regions", "bronze.returns",
            "silver.customers"}.isdisjoint(changed)
    assert run.flow("silver.orders").rows_read == 1
    assert run.flow("silver.order_items").rows_read == 1

    def read(ref: str) -> pl.DataFrame:
        layer, _, name = ref.partition(".")
        return pl.read_delta(str(lake / layer / name))

    assert read("silver.orders").height == orders.height + 1
    assert read("silver.order_items").height == default_shop.read("silver.order_items").height + 1
    row = read("silver.order_items").filter(pl.col("order_id") == "O09999999").row(0, named=True)
    assert row["line_amount"] == 59.97
    after = versions_of(lake)
    assert after["gold.monthly_revenue"] == before["gold.monthly_revenue"] + 1
    assert after["silver.customers"] == before["silver.customers"]
    revenue_after = monthly_revenue(read("gold.monthly_revenue"))
    october = date(2026, 10, 1)
    assert revenue_after[october] - revenue_before.get(october, 0.0) == pytest.approx(
        59.97, abs=0.011
    )
    assert {m: v for m, v in revenue_after.items() if m != october} == {
        m: v for m, v in revenue_before.items() if m != october
    }


def test_a_batch_quarantined_whole_rewrites_no_gold_table(
    default_shop: Shop, tmp_path: Path, versions_of: Versions
) -> None:
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    shutil.copytree(default_shop.lake, lake)
    shutil.copytree(default_shop.landing, landing)
    order = {
        "order_id": None, "customer_id": "C000001", "order_date": "2026-10-15T12:00:00",
        "status": "delivered", "channel": "web", "payment_method": "card",
        "total_amount": 10.0, "currency": "USD", "updated_at": "2026-10-15T12:00:00",
    }
    lines = [json.dumps({**order, "total_amount": 10.0 + n}) for n in range(3)]
    (landing / "orders" / "orders-bad-00001.jsonl").write_text("\n".join(lines) + "\n")
    before = versions_of(lake)

    run = default_shop.rerun(lake=lake, landing=landing)
    assert run.flow("silver.orders").rows_quarantined == 3
    assert run.flow("silver.orders").rows_written == 0
    after = versions_of(lake)
    moved = {ref for ref in after if after[ref] != before.get(ref)}
    # The batch's bookkeeping commits, and nothing downstream of them.
    assert moved == {"bronze.orders", "silver.orders", "quarantine.orders", "_system.event_log"}
    assert all(f.status == "skipped" for f in run.flows if f.table.startswith("gold."))

    # A later order that passes still reaches gold.
    good = {**order, "order_id": "O09999998", "total_amount": 20.0}
    (landing / "orders" / "orders-good-00001.jsonl").write_text(json.dumps(good) + "\n")
    run = default_shop.rerun(lake=lake, landing=landing)
    assert run.flow("gold.monthly_revenue").status == "completed"
    assert versions_of(lake)["gold.monthly_revenue"] == after["gold.monthly_revenue"] + 1


def monthly_revenue(frame: pl.DataFrame) -> dict[date, float]:
    return dict(frame.select("month", "revenue").iter_rows())


def test_inventory_and_shipping_marts_cover_every_product_and_carrier(
    defective_shop: Shop,
) -> None:
    inventory = defective_shop.read("silver.inventory")
    health = defective_shop.read("gold.inventory_health")
    assert health.height == inventory["product_id"].n_unique()
    assert inventory["snapshot_date"].n_unique() == 1  # every date format parsed alike
    shipping = defective_shop.read("gold.shipping_performance")
    assert sorted(shipping["carrier"].to_list()) == ["dhl", "fedex", "ups", "usps"]
    assert shipping["shipments"].sum() == defective_shop.read("silver.shipments").height
    assert all(0 < share < 1 for share in shipping["late_share"].to_list())
    kpis = defective_shop.read("gold.executive_kpis")
    assert kpis["on_time_delivery_rate"].is_between(0, 1).all()


@pytest.mark.parametrize("source", ["customers", "products"])
def test_daily_snapshots_leave_the_history_unchanged(
    default_shop: Shop, tmp_path: Path, source: str
) -> None:
    """The same shop plus three full daily snapshots (newest first): the snapshot rows
    repeat known versions, so silver history is the same and the counts stay exact."""
    snapped = generated_shop(tmp_path, orders=1000, seed=42, snapshot_days=3)
    flow = snapped.run.flow(f"silver.{source}")
    history = snapped.read(f"silver.{source}")
    assert history.height == snapped.expected(source)["silver"]
    assert flow.rows_duplicate == snapped.expected(source)["duplicates"]
    lineage = ["_source", "_batch_id", "_rescued_data", "_scd_part"]
    key = f"{source[:-1]}_id"

    def versions(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.drop(lineage, strict=False).sort(key, "valid_from")

    assert versions(history).equals(versions(default_shop.read(f"silver.{source}")))


def _tables(lake: Path) -> list[str]:
    return sorted(
        f"{log.parent.parent.name}.{log.parent.name}"
        for log in lake.glob("*/*/_delta_log")
        if log.parent.parent.name != "_system"  # run ids, timings: differ by nature
    )


def _comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows without what differs between two runs by nature (run ids, wall clock)."""
    rest = frame.drop(c for c in frame.columns if c in RUN_SPECIFIC)
    if "record" in rest.columns:  # a quarantined row keeps its lineage columns inside
        lineage = r'"(_batch_id|_ingested_at)":("[^"]*"|null)'
        rest = rest.with_columns(pl.col("record").str.replace_all(lineage, ""))
    return rest.sort(rest.columns, nulls_last=True)


RUN_SPECIFIC = {"_batch_id", "_ingested_at", "run_id", "quarantined_at"}


def test_a_parallel_run_builds_the_same_lake_as_a_serial_one(
    defective_shop: Shop, tmp_path: Path
) -> None:
    serial = tmp_path / "serial"
    run = shoplake.run(
        build_pipeline(now=NOW),
        engine=PolarsDeltaEngine(str(serial)),
        landing=defective_shop.landing,
        parallelism=1,
    )
    parallel = tmp_path / "parallel"
    shoplake.run(
        build_pipeline(now=NOW),
        engine=PolarsDeltaEngine(str(parallel)),
        landing=defective_shop.landing,
        parallelism=4,
    )
    assert run.status == "completed"
    lakes = (serial, parallel)
    tables = _tables(serial)
    assert tables == _tables(parallel)
    assert len(tables) == len(SOURCES) * 3 + len(GOLD)
    for ref in tables:
        layer, _, name = ref.partition(".")
        one, many = (_comparable(pl.read_delta(str(lake / layer / name))) for lake in lakes)
        assert one.height > 0 or layer == "quarantine", ref
        differing = [c for c in one.columns if not one[c].equals(many[c], check_names=True)]
        assert one.height == many.height and not differing, f"{ref}: {differing}"


def test_a_limited_batch_takes_the_same_files_whatever_the_parallelism(
    default_shop: Shop, tmp_path: Path
) -> None:
    from shoplake.ingest.bronze import IngestOptions
    from shoplake.ingest.update import run_update

    taken: list[dict[str, list[str]]] = []
    for parallelism in (1, 4):
        lake = tmp_path / f"lake-{parallelism}"
        run = run_update(
            build_pipeline(now=NOW),
            engine=PolarsDeltaEngine(str(lake)),
            landing=default_shop.landing,
            ingest=IngestOptions(max_files=5),
            parallelism=parallelism,
        )
        files = {
            f.table: sorted(
                pl.read_delta(str(lake / "bronze" / f.table.partition(".")[2]))
                .get_column("_source")
                .str.replace(r":\d+$", "")
                .unique()
            )
            for f in run.flows
            if f.kind == "source" and f.status == "completed" and f.rows_written
        }
        taken.append(files)
    assert sum(len(names) for names in taken[0].values()) == 5
    assert taken[0] == taken[1]
