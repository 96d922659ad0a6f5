"""The gold marts: pure narwhals functions from silver lazy frames to gold lazy frames.

Every function takes ``narwhals.LazyFrame``s of silver tables (columns as in
``docs/data-contract.md``; extra columns such as ``_source`` are ignored) and
returns a sorted ``narwhals.LazyFrame``. Only narwhals is used, so the same code
runs on Polars, DuckDB and any other narwhals lazy backend. Shared definitions
(sale lines, the as-of, rounding) are in :mod:`shoplake.ecommerce.marts.common`.
"""

from shoplake.ecommerce.marts.aggregates import order_month_facts, product_month_sales
from shoplake.ecommerce.marts.customers import (
    customer_lifetime_value,
    customer_segments,
    segments_from_totals,
)
from shoplake.ecommerce.marts.fraud import fraud_alerts
from shoplake.ecommerce.marts.kpis import executive_kpis, kpis_from_months
from shoplake.ecommerce.marts.operations import inventory_health, shipping_performance
from shoplake.ecommerce.marts.products import performance_from_sales, product_performance
from shoplake.ecommerce.marts.revenue import category_sales, monthly_revenue
from shoplake.ecommerce.marts.seasonal import seasonal_trends

__all__ = [
    "category_sales",
    "customer_lifetime_value",
    "customer_segments",
    "executive_kpis",
    "fraud_alerts",
    "inventory_health",
    "kpis_from_months",
    "monthly_revenue",
    "order_month_facts",
    "performance_from_sales",
    "product_month_sales",
    "product_performance",
    "seasonal_trends",
    "segments_from_totals",
    "shipping_performance",
]
