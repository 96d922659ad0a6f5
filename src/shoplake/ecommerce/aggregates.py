"""Gold aggregate tables, maintained month by month, that the history-wide marts read.

``executive_kpis`` and ``product_performance`` summarise every order ever placed.
Rather than rescan silver on each batch, they are projected from these small
tables, which a batch updates only for the months it touched (``Partitioned`` with
:class:`~shoplake.ecommerce.incremental.OrderMonths`).
"""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake import Partitioned, Pipeline
from shoplake.ecommerce.governance import catalog
from shoplake.ecommerce.incremental import OrderMonths
from shoplake.ecommerce.marts.aggregates import order_month_facts, product_month_sales


def add_aggregate_tables(p: Pipeline) -> None:
    """Declare ``gold.order_month_facts`` and ``gold.product_month_sales``."""

    @p.table(
        layer="gold",
        name="order_month_facts",
        kind=Partitioned(
            by=["month"], plan=OrderMonths(related=("silver_returns", "silver_shipments"))
        ),
        **catalog("gold.order_month_facts"),
    )
    def order_month_facts_table(
        silver_orders: nw.LazyFrame[Any],
        silver_order_items: nw.LazyFrame[Any],
        silver_returns: nw.LazyFrame[Any],
        silver_shipments: nw.LazyFrame[Any],
    ) -> nw.LazyFrame[Any]:
        """Per order month: order counts by status, revenue, buyers, returns, deliveries."""
        return order_month_facts(
            silver_orders, silver_order_items, silver_returns, silver_shipments
        )

    @p.table(
        layer="gold",
        name="product_month_sales",
        kind=Partitioned(by=["month"], plan=OrderMonths()),
        **catalog("gold.product_month_sales"),
    )
    def product_month_sales_table(
        silver_orders: nw.LazyFrame[Any], silver_order_items: nw.LazyFrame[Any]
    ) -> nw.LazyFrame[Any]:
        """Per order month and product: units and revenue of sale lines."""
        return product_month_sales(silver_orders, silver_order_items)
