"""The e-commerce pipeline: landing sources, silver tables with their rules, gold marts.

Built with the public shoplake API only. Rules are declared in the order they
are reported: a row that fails several is quarantined under the first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import narwhals as nw

from shoplake import (
    ApplyChanges,
    Expectation,
    Materialized,
    Partitioned,
    Pipeline,
    ReplaceRows,
    Upsert,
    expect,
    expect_exists,
    expect_row_count,
    expect_unique,
)
from shoplake.ecommerce import hooks, marts, silver
from shoplake.ecommerce.aggregates import add_aggregate_tables
from shoplake.ecommerce.cleaning import well_formed
from shoplake.ecommerce.contract import SOURCES
from shoplake.ecommerce.governance import catalog
from shoplake.ecommerce.incremental import (
    OrderCustomers,
    OrderMonths,
    ReturnCustomers,
    by_year_month,
)
from shoplake.ecommerce.operations import add_operations_tables
from shoplake.ecommerce.star import add_star_tables
from shoplake.ecommerce.streaming import add_stream_tables


def _well_formed() -> Expectation:
    return expect(
        "well_formed",
        well_formed(),
        action="quarantine",
        severity="critical",
        description="the line could be parsed",
    )


def _not_null(column: str, severity: str = "critical") -> Expectation:
    return expect(
        f"{column}_not_null",
        ~nw.col(column).is_null(),
        action="quarantine",
        severity=severity,
        description=f"{column} is present and a valid id",
    )


def build_pipeline(now: datetime | None = None) -> Pipeline:
    """The whole e-commerce pipeline; ``now`` bounds what counts as a future date."""
    horizon = (now or datetime.now(UTC).replace(tzinfo=None)) + timedelta(days=1)
    p = Pipeline("ecommerce")
    for contract in SOURCES.values():
        described = catalog(f"bronze.{contract.name}", contract.columns)
        p.source(
            contract.name,
            format=contract.format,
            columns=described["columns"],
            owner=described["owner"],
            tags=described["tags"],
            description=f"{contract.name} as received",
        )

    @p.table(
        layer="silver",
        kind=Upsert(keys=["region_id"]),
        expectations=[_well_formed(), _not_null("region_id")],
        **catalog("silver.regions"),
    )
    def regions(bronze_regions: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Sales regions."""
        return silver.regions(bronze_regions)

    @p.table(
        layer="silver",
        kind=ApplyChanges(
            ["customer_id"],
            "updated_at",
            track=["email", "city", "state", "country", "region_id", "segment"],
        ),
        expectations=[
            _well_formed(),
            _not_null("customer_id"),
            expect(
                "email_present",
                ~nw.col("email").is_null(),
                severity="low",
                description="a valid email (invalid ones are blanked)",
            ),
            expect(
                "phone_present",
                ~nw.col("phone").is_null(),
                severity="low",
                description="a valid phone (invalid ones are blanked)",
            ),
        ],
        **catalog("silver.customers"),
    )
    def customers(bronze_customers: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Customers as SCD2 history: a new version when the e-mail, address or segment changes
        (names, phone and signup date are corrected in place); late changes slot in."""
        return silver.customers(bronze_customers)

    @p.table(
        layer="silver",
        kind=ApplyChanges(["product_id"], "updated_at", track=["category", "price", "active"]),
        zorder_by=["category"],
        expectations=[
            _well_formed(),
            _not_null("product_id"),
            expect("positive_price", nw.col("price") > 0, action="quarantine", severity="high"),
        ],
        **catalog("silver.products"),
    )
    def products(bronze_products: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Products as SCD2 history: a new version when the category, price or active flag
        changes (name, brand and cost are corrected in place)."""
        return silver.products(bronze_products)

    valid_date = (nw.col("order_ts").dt.year() >= 2000) & (nw.col("order_ts") <= nw.lit(horizon))
    order_total = expect(
        "order_total_present",
        ~nw.col("total_amount").is_null(),
        severity="low",
        description="the order carries its total",
    )

    @p.table(
        layer="silver",
        kind=Upsert(keys=["order_id"], sequence_by="updated_at"),
        zorder_by=["order_ts"],  # clusters orders by year and month
        expectations=[
            _well_formed(),
            _not_null("order_id"),
            _not_null("customer_id", "high"),
            expect(
                "valid_order_date",
                valid_date,
                action="quarantine",
                severity="high",
                description="a real calendar date, not in the future",
            ),
            order_total,
            expect_exists("customer_exists", "customer_id", ref="silver.customers"),
        ],
        **catalog("silver.orders"),
    )
    def orders(bronze_orders: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Orders, latest status of each."""
        return silver.orders(bronze_orders)

    @p.table(
        layer="silver",
        kind=Upsert(keys=["order_id", "line_number"]),
        expectations=[
            _well_formed(),
            _not_null("order_id"),
            _not_null("product_id"),
            expect(
                "positive_quantity", nw.col("quantity") > 0, action="quarantine", severity="high"
            ),
            expect(
                "positive_price", nw.col("unit_price") > 0, action="quarantine", severity="high"
            ),
            expect_exists("order_exists", "order_id", ref="silver.orders"),
            expect_exists("product_exists", "product_id", ref="silver.products"),
        ],
        **catalog("silver.order_items"),
    )
    def order_items(bronze_order_items: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Order lines with their amount."""
        return silver.order_items(bronze_order_items)

    @p.table(
        layer="silver",
        kind=Upsert(keys=["return_id"]),
        expectations=[
            _well_formed(),
            _not_null("return_id"),
            _not_null("order_id", "high"),
            expect_exists("order_exists", "order_id", ref="silver.orders"),
        ],
        **catalog("silver.returns"),
    )
    def returns(
        bronze_returns: nw.LazyFrame[Any], this: nw.LazyFrame[Any] | None
    ) -> nw.LazyFrame[Any]:
        """Returns, with a second filing of the same line flagged as suspected fraud."""
        return silver.returns(bronze_returns, this)

    # Full recompute (Materialized) where a batch can change every row: segments depend on
    # the latest order date (recency), product ranks are global within a category, the
    # KPIs are two rows over all history. Segments, ranks and KPIs are recomputed from
    # small incrementally maintained tables (per customer, per month and product, per
    # month), not from every order line.
    gold = Materialized()
    by_month = Partitioned(by=["month"], plan=OrderMonths(growth=True))

    @p.table(
        layer="gold",
        kind=by_month,
        expectations=[expect_unique("one_row_per_month", "month", action="fail")],
        **catalog("gold.monthly_revenue"),
    )
    def monthly_revenue(
        silver_orders: nw.LazyFrame[Any], silver_order_items: nw.LazyFrame[Any]
    ) -> nw.LazyFrame[Any]:
        """Revenue, orders and average order value by month, with month-over-month growth."""
        return marts.monthly_revenue(silver_orders, silver_order_items)

    @p.table(
        layer="gold",
        kind=Partitioned(by=["month"], plan=OrderMonths(products="silver_products")),
        zorder_by=["category"],
        **catalog("gold.category_sales"),
    )
    def category_sales(
        silver_orders: nw.LazyFrame[Any],
        silver_order_items: nw.LazyFrame[Any],
        silver_products: nw.LazyFrame[Any],
    ) -> nw.LazyFrame[Any]:
        """Revenue, units and margin by month and category."""
        return marts.category_sales(silver_orders, silver_order_items, silver_products)

    @p.table(layer="gold", kind=gold, zorder_by=["tier"], **catalog("gold.customer_segments"))
    def customer_segments(
        gold_customer_lifetime_value: nw.LazyFrame[Any],
        silver_orders: nw.LazyFrame[Any],
        silver_customers: nw.LazyFrame[Any],
    ) -> nw.LazyFrame[Any]:
        """VIP / Premium / Standard / Basic tiers by spend, with recency and frequency."""
        return marts.segments_from_totals(
            gold_customer_lifetime_value, silver_orders, silver_customers
        )

    @p.table(
        layer="gold",
        kind=ReplaceRows(by=["customer_id"], plan=OrderCustomers()),
        **catalog("gold.customer_lifetime_value"),
    )
    def customer_lifetime_value(
        silver_orders: nw.LazyFrame[Any], silver_order_items: nw.LazyFrame[Any]
    ) -> nw.LazyFrame[Any]:
        """First and last order, frequency, average value and a 3-year CLV per customer."""
        return marts.customer_lifetime_value(silver_orders, silver_order_items)

    @p.table(layer="gold", kind=gold, **catalog("gold.product_performance"))
    def product_performance(
        gold_product_month_sales: nw.LazyFrame[Any],
        silver_products: nw.LazyFrame[Any],
        silver_returns: nw.LazyFrame[Any],
    ) -> nw.LazyFrame[Any]:
        """Units, revenue, margin, return rate and rank in category per product."""
        return marts.performance_from_sales(
            gold_product_month_sales, silver_products, silver_returns
        )

    @p.table(
        layer="gold",
        kind=Partitioned(by=["year", "month_of_year"], plan=OrderMonths(keys=by_year_month)),
        **catalog("gold.seasonal_trends"),
    )
    def seasonal_trends(
        silver_orders: nw.LazyFrame[Any], silver_order_items: nw.LazyFrame[Any]
    ) -> nw.LazyFrame[Any]:
        """Orders and revenue by year, quarter, month, weekday and hour."""
        return marts.seasonal_trends(silver_orders, silver_order_items)

    @p.table(
        layer="gold",
        kind=gold,
        # Overall and the current month: anything else is a bug in the mart, not data.
        expectations=[expect_row_count("overall_and_month", min=1, max=2, action="fail")],
        **catalog("gold.executive_kpis"),
    )
    def executive_kpis(
        gold_order_month_facts: nw.LazyFrame[Any], gold_customer_lifetime_value: nw.LazyFrame[Any]
    ) -> nw.LazyFrame[Any]:
        """Headline KPIs overall and for the current month."""
        return marts.kpis_from_months(gold_order_month_facts, gold_customer_lifetime_value)

    @p.table(
        layer="gold",
        # A customer's alerts: one per repeated return, and one for an abnormal rate.
        kind=ReplaceRows(
            by=["customer_id"],
            plan=ReturnCustomers(),
            rows=["alert_type", "customer_id", "return_id"],
        ),
        **catalog("gold.fraud_alerts"),
    )
    def fraud_alerts(
        silver_returns: nw.LazyFrame[Any], silver_orders: nw.LazyFrame[Any]
    ) -> nw.LazyFrame[Any]:
        """Duplicate returns and customers with abnormal return rates."""
        return marts.fraud_alerts(silver_returns, silver_orders)

    add_operations_tables(p)
    add_aggregate_tables(p)
    add_star_tables(p)
    add_stream_tables(p)
    p.alert_rule("fraud")(hooks.fraud_alerts)
    p.headline(hooks.headline_kpis)
    return p
