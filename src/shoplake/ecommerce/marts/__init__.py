"""The gold marts: pure narwhals functions from silver lazy frames to gold lazy frames.

Every function takes ``narwhals.LazyFrame``s of silver tables (columns as in
``docs/data-contract.md``; extra columns such as ``_source`` are ignored) and
returns a sorted ``narwhals.LazyFrame``. Only narwhals is used, so the same code
runs on Polars, DuckDB and any other narwhals lazy backend. Shared definitions
(sale lines, the as-of, rounding) are in :mod:`shoplake.ecommerce.marts.common`.
"""

from shoplake.ecommerce.marts.customers import customer_lifetime_value, customer_segments
from shoplake.ecommerce.marts.fraud import fraud_alerts
from shoplake.ecommerce.marts.kpis import executive_kpis
from shoplake.ecommerce.marts.operations import inventory_health, shipping_performance
from shoplake.ecommerce.marts.products import product_performance
from shoplake.ecommerce.marts.revenue import category_sales, monthly_revenue
from shoplake.ecommerce.marts.seasonal import seasonal_trends

__all__ = [
    "category_sales",
    "customer_lifetime_value",
    "customer_segments",
    "executive_kpis",
    "fraud_alerts",
    "inventory_health",
    "monthly_revenue",
    "product_performance",
    "seasonal_trends",
    "shipping_performance",
]
