"""Charts for the optional gold marts (inventory, shipping, the real-time stream), each
chosen for the data it gets, and a fallback for a mart of unknown columns."""

from __future__ import annotations

from datetime import date

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from shoplake.dashboard.display import is_money, is_rate, time_axis

REORDER_COLOR = "#dc2626"
STOCKED_COLOR = "#60a5fa"
SHOWN_PRODUCTS = 15


def mart_chart(
    ref: str, frame: pl.DataFrame, names: dict[str, str] | None = None
) -> go.Figure | None:
    """The chart for one optional mart; ``names`` labels product ids when known."""
    if frame.is_empty():
        return None
    if ref == "gold.inventory_health" and {"product_id", "on_hand", "reorder_point"} <= set(
        frame.columns
    ):
        return inventory_chart(frame, names or {})
    if ref == "gold.shipping_performance" and {"carrier", "late_share"} <= set(frame.columns):
        return shipping_chart(frame)
    return generic_chart(ref, frame)


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def mart_rows(ref: str, frame: pl.DataFrame) -> pl.DataFrame:
    """A mart's rows in the order a reader needs them: inventory by urgency (to reorder
    first, then the least stock per reorder point)."""
    if ref == "gold.inventory_health" and {"on_hand", "reorder_point"} <= set(frame.columns):
        urgency = pl.col("on_hand") / pl.max_horizontal(pl.col("reorder_point"), pl.lit(1))
        first = [pl.col("reorder").fill_null(False)] if "reorder" in frame.columns else []
        return frame.sort([*first, urgency], descending=[True] * len(first) + [False])
    return frame


def inventory_chart(frame: pl.DataFrame, names: dict[str, str]) -> go.Figure:
    """Stock on hand against the reorder point for the products closest to running out
    (latest snapshot), those at or below it in red."""
    data = frame
    if "snapshot_date" in data.columns:
        # One snapshot per product: plotting snapshots over time says little with one date.
        data = data.sort("snapshot_date").group_by("product_id").agg(pl.all().last())
    if "reorder" not in data.columns:
        data = data.with_columns(reorder=pl.col("on_hand") <= pl.col("reorder_point"))
    total = data.height
    to_reorder = int(data["reorder"].fill_null(False).sum())
    data = (
        data.with_columns(
            cover=pl.col("on_hand") / pl.max_horizontal(pl.col("reorder_point"), pl.lit(1)),
            reorder=pl.col("reorder").fill_null(False),
        )
        .sort(["reorder", "cover"], descending=[True, False])
        .head(SHOWN_PRODUCTS)
        .reverse()  # horizontal bars draw bottom-up: the most urgent ends on top
    )
    labels = [f"{_cut(names[p], 28)} ({p})" if p in names else p for p in data["product_id"]]
    # Products to reorder are named in red too: one out of stock draws no bar at all.
    labels = [
        f'<span style="color:{REORDER_COLOR}">{label}</span>' if flag else label
        for label, flag in zip(labels, data["reorder"].to_list(), strict=True)
    ]
    hover_cover = (
        data["days_of_cover"].to_list() if "days_of_cover" in data.columns else [None] * data.height
    )
    fig = go.Figure()
    for flag, label, color in (
        (True, "to reorder", REORDER_COLOR),
        (False, "in stock", STOCKED_COLOR),
    ):
        rows = [i for i, r in enumerate(data["reorder"].to_list()) if r is flag]
        if not rows:
            continue
        fig.add_trace(
            go.Bar(
                x=[data["on_hand"][i] for i in rows],
                y=[labels[i] for i in rows],
                orientation="h",
                name=label,
                marker_color=color,
                customdata=[[hover_cover[i]] for i in rows],
                hovertemplate="%{y}<br>on hand %{x:,} units<br>days of cover %{customdata[0]:,.0f}"
                "<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=data["reorder_point"].to_list(),
            y=labels,
            mode="markers",
            name="reorder point",
            marker={"symbol": "line-ns-open", "size": 18, "line": {"width": 3}, "color": "#111827"},
            hovertemplate="%{y}<br>reorder at %{x:,} units<extra></extra>",
        )
    )
    when = ""
    latest = frame["snapshot_date"].max() if "snapshot_date" in frame.columns else None
    if isinstance(latest, date):
        when = f" on {latest:%b %d, %Y}"
    fig.update_layout(
        title=f"Stock vs reorder point{when}: {to_reorder} of {total} products to reorder",
        barmode="overlay",
        height=max(360, 28 * data.height + 140),
        xaxis_title="units on hand",
        # One order for both traces' bars: the most urgent on top, to reorder or not.
        yaxis={
            "type": "category",
            "automargin": True,
            "categoryorder": "array",
            "categoryarray": labels,
        },
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def shipping_chart(frame: pl.DataFrame) -> go.Figure:
    """Share of late deliveries per carrier, with volume and speed on hover."""
    data = frame.sort("late_share", descending=True)
    hover = [c for c in ("shipments", "delivered", "avg_delivery_days") if c in data.columns]
    fig = px.bar(
        data.to_pandas(),
        x="carrier",
        y="late_share",
        hover_data=hover,
        title="Late deliveries by carrier",
    )
    fig.update_layout(
        xaxis={"type": "category", "title": None},
        yaxis={"tickformat": ".0%", "title": "late share", "rangemode": "tozero"},
    )
    return fig


def generic_chart(ref: str, frame: pl.DataFrame) -> go.Figure | None:
    """A simple chart picked from an unknown table's columns: a time series when it has
    several times and a number, else a bar of the first number by the first label."""
    numbers = [c for c, t in frame.schema.items() if t.is_numeric()]
    times = [c for c, t in frame.schema.items() if t.is_temporal() and t != pl.Duration]
    labels = [c for c, t in frame.schema.items() if t == pl.String]
    if not numbers or frame.is_empty():
        return None
    value = next((c for c in numbers if is_money(c)), numbers[0])
    title = ref.split(".", 1)[1].replace("_", " ").capitalize()
    fig: go.Figure
    # A line needs two times at least; one snapshot is better told by its labels.
    if times and frame[times[0]].n_unique() > 1:
        data = frame.group_by(times[0]).agg(pl.col(value).sum()).sort(times[0])
        fig = px.line(data.to_pandas(), x=times[0], y=value, markers=True, title=title)
        time_axis(fig, data[times[0]])
    elif labels and frame[labels[0]].n_unique() > 1:
        data = (
            frame.group_by(labels[0]).agg(pl.col(value).sum()).sort(value, descending=True).head(20)
        )
        fig = px.bar(data.to_pandas(), x=labels[0], y=value, title=title)
        fig.update_layout(xaxis={"type": "category", "title": None})
    elif frame[value].n_unique() > 1:
        fig = px.histogram(frame.to_pandas(), x=value, title=title)
    else:
        return None  # one value: the table below says it better
    if is_money(value):
        fig.update_layout(yaxis_tickprefix="$", yaxis_tickformat=",.0f")
    elif is_rate(value):
        fig.update_layout(yaxis_tickformat=".0%")
    return fig
