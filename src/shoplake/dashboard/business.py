"""The business view as data and plotly figures, shared by the live dashboard and the report.

Everything here reads gold tables through :class:`LakeReader` and applies the
page's filters (date range, categories, regions); nothing here knows Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

# The formatting helpers live in display; re-exported for the page, report and tests.
from shoplake.dashboard.display import count, formatted, is_money, is_rate, money, pct
from shoplake.dashboard.marts import mart_chart, mart_rows
from shoplake.observe.lake import LakeReader

__all__ = ["count", "formatted", "is_money", "is_rate", "mart_rows", "money", "pct"]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TIER_ORDER = ("VIP", "Premium", "Standard", "Basic")
OPTIONAL = {
    "gold.inventory_health": "the inventory source and its gold mart run",
    "gold.shipping_performance": "the shipments source and its gold mart run",
    "gold.realtime_sales": "the Kafka order-event stream runs",
}


@dataclass(frozen=True)
class Filters:
    start: date | None = None
    end: date | None = None
    categories: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()  # region ids


@dataclass(frozen=True)
class Options:
    first_month: date | None
    last_month: date | None
    categories: tuple[str, ...]
    regions: dict[str, str] = field(default_factory=dict)  # id -> label


def options(lake: LakeReader) -> Options:
    months = lake.read("gold.monthly_revenue")
    sales = lake.read("gold.category_sales")
    regions_table = lake.read("silver.regions")
    segments = lake.read("gold.customer_segments")
    labels: dict[str, str] = {}
    if segments is not None:
        for rid in segments["region_id"].drop_nulls().unique().sort().to_list():
            labels[rid] = rid
    if regions_table is not None and "region_name" in regions_table.columns:
        for row in regions_table.select("region_id", "region_name").iter_rows():
            if row[0] in labels and row[1]:
                labels[row[0]] = f"{row[1]} ({row[0]})"
    return Options(
        first_month=None if months is None or months.is_empty() else months["month"].min(),  # type: ignore[arg-type]
        last_month=None if months is None or months.is_empty() else months["month"].max(),  # type: ignore[arg-type]
        categories=()
        if sales is None
        else tuple(sales["category"].drop_nulls().unique().sort().to_list()),
        regions=labels,
    )


def _in_range(frame: pl.DataFrame, column: str, f: Filters) -> pl.DataFrame:
    if f.start is not None:
        frame = frame.filter(pl.col(column).cast(pl.Date) >= f.start)
    if f.end is not None:
        frame = frame.filter(pl.col(column).cast(pl.Date) <= f.end)
    return frame


# -- KPIs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    delta: str | None = None
    help: str = ""


def kpis(lake: LakeReader) -> tuple[list[Kpi], list[Kpi]]:
    """(all-time KPIs, current-month KPIs with month-over-month change) from gold."""
    table = lake.read("gold.executive_kpis")
    if table is None or table.is_empty():
        return [], []
    rows = {r["scope"]: r for r in table.iter_rows(named=True)}
    overall = rows.get("overall", {})
    overall_kpis = [
        Kpi("Revenue", money(overall.get("revenue"))),
        Kpi("Orders", count(overall.get("orders"))),
        Kpi("Customers", count(overall.get("customers"))),
        Kpi("Avg order value", money(overall.get("avg_order_value"))),
        Kpi("Completion rate", pct(overall.get("completion_rate"))),
        Kpi("Return rate", pct(overall.get("return_rate"))),
    ]
    current = rows.get("current_month")
    if not current:
        return overall_kpis, []
    previous = _previous_month(lake, current.get("as_of"))

    started = bool(current.get("orders"))  # a month with no order yet is not a -100% drop

    def change(key: str) -> str | None:
        if not started or previous is None or not previous.get(key) or current.get(key) is None:
            return None
        return f"{(current[key] - previous[key]) / previous[key]:+.1%} vs last month"

    month_kpis = [
        Kpi("Revenue (month)", money(current.get("revenue")), change("revenue")),
        Kpi("Orders (month)", count(current.get("orders")), change("orders")),
        Kpi("Customers (month)", count(current.get("customers")), change("customers")),
        Kpi("AOV (month)", money(current.get("avg_order_value")), change("avg_order_value")),
    ]
    return overall_kpis, month_kpis


def _previous_month(lake: LakeReader, as_of: object) -> dict[str, object] | None:
    months = lake.read("gold.monthly_revenue")
    if months is None or months.height < 2 or as_of is None:
        return None
    current = date(as_of.year, as_of.month, 1)  # type: ignore[attr-defined]
    before = months.filter(pl.col("month") < current).sort("month")
    return None if before.is_empty() else before.row(-1, named=True)


# -- figures ------------------------------------------------------------------------------
def _empty(title: str, note: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, annotations=[{"text": note, "showarrow": False}])
    return fig


def revenue_trend(lake: LakeReader, f: Filters) -> go.Figure:
    """Monthly revenue (bars) and orders (line); by the selected categories if any."""
    if f.categories:
        sales = lake.read("gold.category_sales")
        if sales is None:
            return _empty("Monthly revenue", "no category sales yet")
        monthly = (
            _in_range(sales.filter(pl.col("category").is_in(f.categories)), "month", f)
            .group_by("month")
            .agg(pl.col("revenue").sum())
            .sort("month")
        )
        title = f"Monthly revenue — {', '.join(f.categories)}"
    else:
        table = lake.read("gold.monthly_revenue")
        if table is None:
            return _empty("Monthly revenue", "no revenue yet")
        monthly = _in_range(table, "month", f)
        title = "Monthly revenue"
    # Months as categories: a bar per month, labelled as a month, however few there are.
    monthly = monthly.sort("month").with_columns(label=pl.col("month").dt.strftime("%b %Y"))
    fig = px.bar(
        monthly.to_pandas(), x="label", y="revenue", title=title, hover_data={"label": False}
    )
    fig.update_layout(
        yaxis_tickprefix="$",
        yaxis_tickformat=",.0f",
        xaxis_title=None,
        xaxis_type="category",
        xaxis_dtick=max(1, -(-monthly.height // 12)),  # at most a dozen month labels
    )
    return fig


def category_chart(lake: LakeReader, f: Filters) -> go.Figure:
    sales = lake.read("gold.category_sales")
    if sales is None:
        return _empty("Sales by category", "no category sales yet")
    if f.categories:
        sales = sales.filter(pl.col("category").is_in(f.categories))
    totals = (
        _in_range(sales, "month", f)
        .group_by("category")
        .agg(pl.col("revenue").sum(), pl.col("margin").sum(), pl.col("units").sum())
        .sort("revenue", descending=True)
    )
    long = totals.unpivot(index="category", on=["revenue", "margin"], variable_name="measure")
    fig = px.bar(
        long.to_pandas(),
        x="category",
        y="value",
        color="measure",
        barmode="group",
        title="Sales by category",
    )
    fig.update_layout(
        yaxis_tickprefix="$", yaxis_tickformat=",.0f", yaxis_title=None, xaxis_title=None
    )
    return fig


def _segments(lake: LakeReader, f: Filters) -> pl.DataFrame | None:
    table = lake.read("gold.customer_segments")
    if table is None:
        return None
    if f.regions:
        table = table.filter(pl.col("region_id").is_in(f.regions))
    return table


def segment_summary(lake: LakeReader, f: Filters) -> pl.DataFrame | None:
    """Per tier: customers, revenue and the tier's share of revenue."""
    table = _segments(lake, f)
    if table is None:
        return None
    summary = table.group_by("tier").agg(
        customers=pl.len(), revenue=pl.col("total_spend").sum().round(2)
    )
    total = summary["revenue"].sum() or 1.0
    order = {t: i for i, t in enumerate(TIER_ORDER)}
    return (
        summary.with_columns(revenue_share=(pl.col("revenue") / total).round(4))
        .with_columns(_o=pl.col("tier").replace_strict(order, default=99))
        .sort("_o")
        .drop("_o")
    )


def segment_chart(lake: LakeReader, f: Filters) -> go.Figure:
    summary = segment_summary(lake, f)
    if summary is None or summary.is_empty():
        return _empty("Customer segments", "no customers yet")
    fig = px.pie(
        summary.to_pandas(),
        names="tier",
        values="revenue",
        hole=0.45,
        title="Share of revenue by customer segment",
        category_orders={"tier": list(TIER_ORDER)},
    )
    total = float(summary["revenue"].sum() or 1.0)
    # Slices under 5% keep their name to the legend and hover: their labels would
    # collide with each other and the title.
    fig.update_traces(
        texttemplate=[
            "%{label}<br>%{percent:.1%}" if (v or 0) / total >= 0.05 else ""
            for v in summary["revenue"].to_list()
        ],
        textposition="inside",
        insidetextorientation="horizontal",
        hovertemplate="%{label}: %{value:$,.2f} (%{percent:.1%})<extra></extra>",
        sort=False,
    )
    fig.update_layout(margin={"t": 70}, legend={"title": {"text": "tier"}})
    return fig


def products(lake: LakeReader, f: Filters, n: int = 10) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(top n, bottom n) products by revenue with margin and return rate."""
    table = lake.read("gold.product_performance")
    if table is None:
        empty = pl.DataFrame()
        return empty, empty
    if f.categories:
        table = table.filter(pl.col("category").is_in(f.categories))
    columns = [
        c
        for c in ("name", "category", "units", "revenue", "margin", "margin_pct", "return_rate")
        if c in table.columns
    ]
    ranked = table.sort("revenue", descending=True).select(columns)
    return ranked.head(n), ranked.tail(n).reverse()


def seasonal_heatmap(lake: LakeReader, f: Filters) -> go.Figure:
    table = lake.read("gold.seasonal_trends")
    if table is None:
        return _empty("Orders by weekday and hour", "no orders yet")
    month = pl.date(pl.col("year"), pl.col("month_of_year"), 1)
    if f.start is not None:
        table = table.filter(month >= date(f.start.year, f.start.month, 1))
    if f.end is not None:
        table = table.filter(month <= f.end)
    grid = table.group_by("weekday", "hour").agg(pl.col("orders").sum())
    matrix = [[0] * 24 for _ in range(7)]
    for weekday, hour, orders in grid.iter_rows():
        matrix[int(weekday) - 1][int(hour)] = int(orders)
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(range(24)),
            y=list(WEEKDAYS),
            colorscale="Blues",
            colorbar={"title": "orders"},
        )
    )
    fig.update_layout(
        title="Orders by weekday and hour (UTC)", xaxis_title="hour", yaxis_autorange="reversed"
    )
    return fig


def clv_chart(lake: LakeReader, f: Filters) -> go.Figure:
    table = lake.read("gold.customer_lifetime_value")
    if table is None:
        return _empty("Customer lifetime value", "no customers yet")
    if f.regions:
        segments = _segments(lake, f)
        if segments is not None:
            table = table.join(segments.select("customer_id"), on="customer_id", how="semi")
    fig = px.histogram(
        table.to_pandas(),
        x="predicted_clv_3y",
        nbins=30,
        title="Customer lifetime value (predicted, 3 years)",
    )
    fig.update_layout(
        xaxis_tickprefix="$",
        xaxis_tickformat=",.0f",
        xaxis_title="predicted CLV, 3 years",
        yaxis_title="customers",
    )
    return fig


def product_names(lake: LakeReader) -> dict[str, str]:
    """Product id → name, to label charts of product ids."""
    for ref in ("gold.dim_product", "silver.products"):
        table = lake.read(ref)
        if table is not None and {"product_id", "name"} <= set(table.columns):
            return dict(table.select("product_id", "name").drop_nulls().iter_rows())
    return {}


def optional_chart(lake: LakeReader, ref: str, frame: pl.DataFrame) -> go.Figure | None:
    """The chart of an optional mart, product ids named."""
    names = product_names(lake) if "product_id" in frame.columns else {}
    return mart_chart(ref, frame, names)


def fraud(lake: LakeReader) -> pl.DataFrame | None:
    return lake.read("gold.fraud_alerts")
