"""How values show: money, rates, counts and times formatted as what they are, table
columns sized to fit, time axes ticked at their data's resolution.

Shared by the live dashboard and the report; nothing here knows Streamlit.
"""

from __future__ import annotations

from datetime import date, datetime

import plotly.graph_objects as go
import polars as pl

from shoplake.observe.redact import clean_frame

_MONEY_WORDS = ("revenue", "spend", "value", "amount", "price", "cost", "margin", "clv", "sales")
_RATE_WORDS = ("rate", "share", "pct", "growth", "ratio")
# A column named with one of these counts things, whatever else its name says:
# inventory's daily_sales is units a day, not dollars.
_UNIT_WORDS = ("units", "qty", "quantity", "daily", "days", "cover", "count", "orders", "stock")

CHAR_PX = 7.5  # a character of the grid's font, on average
CELL_PAD_PX = 26  # a cell's padding and its sort arrow
MIN_COLUMN_PX = 56


def money(value: object) -> str:
    return "—" if value is None else f"${float(value):,.2f}"  # type: ignore[arg-type]


def pct(value: object) -> str:
    return "—" if value is None else f"{float(value):.1%}"  # type: ignore[arg-type]


def count(value: object) -> str:
    return "—" if value is None else f"{int(value):,}"  # type: ignore[call-overload]


def _words(column: str) -> set[str]:
    return set(column.lower().replace("-", "_").split("_"))


def is_rate(column: str) -> bool:
    return bool(_words(column) & set(_RATE_WORDS))


def is_units(column: str) -> bool:
    return not is_rate(column) and bool(_words(column) & set(_UNIT_WORDS))


def is_money(column: str) -> bool:
    words = _words(column)
    return not is_rate(column) and not is_units(column) and bool(words & set(_MONEY_WORDS))


def _time_text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"  # runs and events: seconds are their unit
    return f"{value:%Y-%m-%d}" if isinstance(value, date) else str(value)


def formatted(frame: pl.DataFrame, *, pii: bool = True) -> pl.DataFrame:
    """Display copy: money as $, rates as %, other decimals rounded, times to the second,
    secrets hidden, PII masked."""
    out = clean_frame(frame, pii=pii)
    changes = []
    for name, dtype in out.schema.items():
        column = pl.col(name)
        if dtype.is_numeric() and is_rate(name):
            changes.append(column.map_elements(pct, return_dtype=pl.String))
        elif dtype.is_float() and is_money(name):
            changes.append(column.map_elements(money, return_dtype=pl.String))
        elif dtype.is_float():
            whole = bool((out[name].drop_nulls() % 1 == 0).all())
            # Whole numbers (days of cover) without a ".0"; other decimals to two places.
            changes.append(column.cast(pl.Int64) if whole else column.round(2))
        elif dtype.is_temporal() and dtype != pl.Duration:
            changes.append(column.map_elements(_time_text, return_dtype=pl.String))
    return out.with_columns(changes) if changes else out


def column_widths(frame: pl.DataFrame, budget_px: int) -> dict[str, int]:
    """Pixel widths that show every number and short label whole and fit ``budget_px``:
    free-text columns share what the others leave (their cells end in "…", the grid
    never scrolls sideways)."""
    natural: dict[str, int] = {}
    for name in frame.columns:
        lengths = frame[name].cast(pl.String).str.len_chars().drop_nulls()
        chars = max(len(name), int(lengths.max() or 0) if lengths.len() else 1)  # type: ignore[arg-type]
        natural[name] = max(MIN_COLUMN_PX, int(chars * CHAR_PX) + CELL_PAD_PX)
    if sum(natural.values()) <= budget_px:
        return natural
    wide = [n for n, t in frame.schema.items() if t == pl.String and natural[n] > 160]
    fixed = sum(w for n, w in natural.items() if n not in wide)
    share = max(120, (budget_px - fixed) // max(1, len(wide)))
    return {n: min(w, share) if n in wide else w for n, w in natural.items()}


def count_axis(largest: int) -> dict[str, object]:
    """Axis settings for whole counts: no fractional ticks ("0, 0, 0, 1") for small ones."""
    axis: dict[str, object] = {"tickformat": ",d", "rangemode": "tozero"}
    if largest <= 5:
        axis["dtick"] = 1
    return axis


# -- time axes ----------------------------------------------------------------------------
def time_format(values: pl.Series) -> str:
    """The d3 tick format for a time axis at the resolution of its values: months,
    days, minutes or seconds — never the fractions plotly picks for a narrow range."""
    if values.dtype == pl.Date:
        days = values.drop_nulls()
        return "%b %Y" if days.len() and bool((days.dt.day() == 1).all()) else "%b %d, %Y"
    stamps = values.drop_nulls()
    if stamps.is_empty():
        return "%b %d, %Y"
    if bool((stamps.dt.truncate("1d") == stamps).all()):
        return "%b %d, %Y"
    if bool((stamps.dt.truncate("1m") == stamps).all()):
        return "%b %d %H:%M"
    return "%b %d %H:%M:%S"


def time_axis(fig: go.Figure, values: pl.Series, axis: str = "xaxis") -> go.Figure:
    """Tick a time axis at its data's resolution; with few distinct values, tick exactly
    those (plotly would otherwise add ticks between them, at hours or milliseconds)."""
    distinct = values.drop_nulls().unique().sort()
    settings: dict[str, object] = {"tickformat": time_format(values), "title": None}
    if distinct.len() <= 12:
        settings["tickvals"] = distinct.to_list()
    fig.update_layout({axis: settings})
    return fig


# -- table graphs -------------------------------------------------------------------------
LAYER_COLOR = {"bronze": "#b08d57", "silver": "#9ca3af", "gold": "#d4a017"}
GRAPH_WIDTH_PX = 900  # the main column at a 1400-pixel window, as for tables
LABEL_CHAR_PX = 6.6  # a character of plotly's 11-pixel node labels
NODE_ROW_PX = 40  # two label heights: a label above one node clears the next one up


def node_labels(refs: list[str], columns: int) -> list[str]:
    """Table names (the colour tells the layer) cut to what fits between two columns, so
    labels of neighbouring columns never run into each other; hover shows the full ref."""
    room = max(8, int(GRAPH_WIDTH_PX / (columns + 0.5) / LABEL_CHAR_PX) - 1)
    names = [ref.split(".", 1)[-1] for ref in refs]
    return [n if len(n) <= room else n[: room - 1] + "…" for n in names]


def layered_layout(fig: go.Figure, columns: dict[int, list[str]]) -> go.Figure:
    """Room for a left-to-right graph's labels: a row per node of the fullest column, and
    margins so the first and last columns' labels are not cut at the edges."""
    tallest = max((len(members) for members in columns.values()), default=1)
    half = (tallest - 1) / 2
    fig.update_traces(textfont={"size": 11}, showlegend=False)
    layers = {ref.split(".")[0] for members in columns.values() for ref in members}
    for layer, color in LAYER_COLOR.items():
        if layer in layers:  # labels drop the layer: the legend says which colour is which
            fig.add_trace(
                go.Scatter(x=[None], y=[None], mode="markers", name=layer, marker={"color": color})
            )
    fig.update_layout(
        height=max(420, NODE_ROW_PX * tallest + 160),
        xaxis={"visible": False, "range": [-0.6, max(columns, default=0) + 0.6]},
        yaxis={"visible": False, "range": [-half - 0.6, half + 0.9]},
        legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
    )
    return fig
