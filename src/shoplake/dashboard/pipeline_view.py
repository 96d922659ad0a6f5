"""The pipeline view as frames and plotly figures: runs, rows, rules, freshness, the graph."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from shoplake.observe import monitor
from shoplake.observe.lake import LakeReader
from shoplake.pipeline.tables import Pipeline

_LAYER_COLOR = {"bronze": "#b08d57", "silver": "#9ca3af", "gold": "#d4a017"}


def run_durations(runs: pl.DataFrame) -> go.Figure:
    data = runs.sort("ended").with_columns(run=pl.col("run_id").str.slice(0, 16))
    fig = px.bar(
        data.to_pandas(),
        x="run",
        y="duration_s",
        color="status",
        hover_data=["run_id", "rows_written", "quality_score"],
        title="Runs: duration (s)",
        color_discrete_map={"completed": "#16a34a", "failed": "#dc2626"},
    )
    fig.update_layout(xaxis_title=None, yaxis_title="seconds", xaxis_type="category")
    return fig


def rows_per_table(flows: pl.DataFrame) -> go.Figure:
    data = flows.filter(pl.col("status") == "completed").with_columns(
        run=pl.col("run_id").str.slice(0, 16)
    )
    fig = px.bar(
        data.to_pandas(),
        x="run",
        y="rows_written",
        color="table",
        title="Rows written per table per run",
    )
    fig.update_layout(xaxis_title=None, xaxis_type="category")
    return fig


def rule_chart(rules: pl.DataFrame) -> go.Figure:
    data = (
        rules.with_columns(rule_name=pl.col("table") + " · " + pl.col("rule"))
        .group_by("timestamp", "rule_name")
        .agg(pl.col("failed").sum())
        .sort("timestamp")
    )
    fig = px.line(
        data.to_pandas(),
        x="timestamp",
        y="failed",
        color="rule_name",
        markers=True,
        title="Failed rows per expectation over time",
    )
    fig.update_layout(xaxis_title=None, showlegend=data.height < 200)
    return fig


def freshness_frame(items: list[monitor.Freshness]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "table": [f.table for f in items],
            "last_commit": [f.last_commit for f in items],
            "age_min": [None if f.age_minutes is None else round(f.age_minutes, 1) for f in items],
            "sla_min": [f.sla_minutes for f in items],
            "state": [
                "behind SLA" if f.stale else ("no SLA" if f.sla_minutes is None else "fresh")
                for f in items
            ],
        },
        schema={
            "table": pl.String,
            "last_commit": pl.Datetime("us"),
            "age_min": pl.Float64,
            "sla_min": pl.Int64,
            "state": pl.String,
        },
    )


def dependency_graph(pipeline: Pipeline, lake: LakeReader | None = None) -> go.Figure:
    """Tables as nodes placed by depth (left to right), edges from input to output."""
    edges = monitor.dependency_edges(pipeline)
    refs = list(pipeline.definitions)
    depth: dict[str, int] = {}
    for ref in refs:  # definitions' dependency order is resolved by the graph's edges
        depth.setdefault(ref, 0)
    changed = True
    while changed:
        changed = False
        for up, down in edges:
            if depth.get(down, 0) <= depth.get(up, 0):
                depth[down] = depth.get(up, 0) + 1
                changed = True
    columns: dict[int, list[str]] = {}
    for ref in refs:
        columns.setdefault(depth[ref], []).append(ref)
    pos: dict[str, tuple[float, float]] = {}
    for x, members in columns.items():
        for i, ref in enumerate(sorted(members)):
            pos[ref] = (float(x), -(i - (len(members) - 1) / 2))
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for up, down in edges:
        if up in pos and down in pos:
            edge_x += [pos[up][0], pos[down][0], None]
            edge_y += [pos[up][1], pos[down][1], None]
    versions = lake.versions() if lake is not None else {}
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=edge_x,
            y=edge_y,
            mode="lines",
            line={"color": "#cbd5e1"},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[pos[r][0] for r in refs],
            y=[pos[r][1] for r in refs],
            mode="markers+text",
            text=refs,
            textposition="top center",
            marker={
                "size": 14,
                "color": [_LAYER_COLOR.get(r.split(".")[0], "#64748b") for r in refs],
            },
            hovertext=[f"{r} — version {versions.get(r, '—')}" for r in refs],
            hoverinfo="text",
            showlegend=False,
        )
    )
    fig.update_layout(
        title="Table dependency graph",
        height=520,
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return fig
