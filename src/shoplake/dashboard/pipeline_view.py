"""The pipeline view as frames and plotly figures: runs, rows, rules, freshness, the graph."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import plotly.express as px
import plotly.graph_objects as go
import polars as pl

from shoplake.dashboard.display import LAYER_COLOR, count_axis, layered_layout, node_labels
from shoplake.observe import monitor
from shoplake.observe.lake import LakeReader
from shoplake.pipeline.tables import Pipeline


def run_labels(run_ids: list[str]) -> dict[str, str]:
    """Run id → a short label of its start, to the second (runs are the unit, not
    milliseconds); the id's suffix is added only where two runs share a second."""
    labels: dict[str, str] = {}
    for run_id in run_ids:
        try:
            started = datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ")
            labels[run_id] = f"{started:%b %d %H:%M:%S}"
        except ValueError:
            labels[run_id] = run_id[:24]
    seen = Counter(labels.values())
    return {r: f"{t} · {r[17:23]}" if seen[t] > 1 else t for r, t in labels.items()}


def _runs_axis(fig: go.Figure, order: list[str]) -> go.Figure:
    fig.update_layout(
        xaxis={"type": "category", "categoryorder": "array", "categoryarray": order, "title": None}
    )
    return fig


def _latest_flows(flows: pl.DataFrame) -> pl.DataFrame:
    done = flows.filter(pl.col("status") == "completed")
    if done.is_empty():
        return done
    latest = done.sort("timestamp")["run_id"].last()
    return done.filter(pl.col("run_id") == latest)


def _table_bars(data: pl.DataFrame, value: str, title: str, xaxis: dict[str, str]) -> go.Figure:
    """One run's tables as horizontal bars coloured by layer, one row per table."""
    fig = px.bar(
        data.to_pandas(),
        x=value,
        y="table",
        color="layer",
        orientation="h",
        title=title,
        color_discrete_map=LAYER_COLOR,
    )
    fig.update_layout(
        xaxis=xaxis,
        yaxis={"type": "category", "title": None, "automargin": True},
        height=max(360, 22 * data.height + 140),
    )
    return fig


def run_durations(runs: pl.DataFrame, flows: pl.DataFrame | None = None) -> go.Figure:
    """Several runs: each run's duration. One run: where its time went, per table."""
    if runs.height < 2 and flows is not None and not _latest_flows(flows).is_empty():
        data = _latest_flows(flows).sort("duration_s", descending=True).head(25)
        return _table_bars(
            data.reverse(), "duration_s", "The run's time per table (s)", {"title": "seconds"}
        )
    data = runs.sort("started")
    labels = run_labels(data["run_id"].to_list())
    data = data.with_columns(run=pl.col("run_id").replace_strict(labels))
    fig = px.bar(
        data.to_pandas(),
        x="run",
        y="duration_s",
        color="status",
        hover_data=["run_id", "rows_written", "quality_score"],
        title="Runs: duration (s)",
        color_discrete_map={"completed": "#16a34a", "failed": "#dc2626"},
    )
    fig.update_layout(yaxis_title="seconds")
    return _runs_axis(fig, data["run"].to_list())


def rows_per_table(flows: pl.DataFrame) -> go.Figure:
    """Several runs: rows written per run, stacked by layer. One run: per table."""
    done = flows.filter(pl.col("status") == "completed")
    if done["run_id"].n_unique() < 2:
        data = _latest_flows(flows).filter(pl.col("rows_written") > 0)
        data = data.sort("rows_written").tail(30)
        return _table_bars(
            data,
            "rows_written",
            "Rows written per table (the run)",
            {"title": "rows", "tickformat": ",d"},
        )
    order = done.group_by("run_id").agg(pl.col("timestamp").min()).sort("timestamp")
    labels = run_labels(order["run_id"].to_list())
    data = (
        done.group_by("run_id", "layer")
        .agg(pl.col("rows_written").sum())
        .with_columns(run=pl.col("run_id").replace_strict(labels))
    )
    fig = px.bar(
        data.to_pandas(),
        x="run",
        y="rows_written",
        color="layer",
        title="Rows written per run, by layer",
        color_discrete_map=LAYER_COLOR,
    )
    fig.update_layout(yaxis={"title": "rows", "tickformat": ",d"})
    return _runs_axis(fig, [labels[r] for r in order["run_id"].to_list()])


def rule_charts(rules: pl.DataFrame) -> list[go.Figure]:
    """The latest run's failed rows per rule; with several runs, also the trend of the
    rules that failed most, run by run."""
    named = rules.with_columns(rule_name=pl.col("table") + " · " + pl.col("rule"))
    latest_id = str(named.sort("timestamp")["run_id"].last())
    latest = (
        named.filter(pl.col("run_id") == latest_id)
        .group_by("rule_name")
        .agg(pl.col("failed").sum(), pl.col("passed").sum())
        .filter(pl.col("failed") > 0)
        .sort("failed")
        .tail(25)
    )
    figures: list[go.Figure] = []
    if latest.height:
        fig = px.bar(
            latest.to_pandas(),
            x="failed",
            y="rule_name",
            orientation="h",
            hover_data=["passed"],
            title=f"Failed rows per expectation, latest run ({run_labels([latest_id])[latest_id]})",
        )
        fig.update_layout(
            xaxis={
                "title": "failed rows",
                **count_axis(int(latest.select(pl.max("failed")).item() or 0)),
            },
            yaxis={"type": "category", "title": None, "automargin": True},
            height=max(320, 22 * latest.height + 140),
        )
        figures.append(fig)
    if named["run_id"].n_unique() < 2:
        return figures
    order = named.group_by("run_id").agg(pl.col("timestamp").min()).sort("timestamp")
    labels = run_labels(order["run_id"].to_list())
    worst = named.group_by("rule_name").agg(pl.col("failed").sum()).filter(pl.col("failed") > 0)
    top = worst.sort("failed", descending=True).head(8)["rule_name"].to_list()
    if not top:
        return figures
    # Every run gets a point for every rule shown, 0 when the rule did not fail.
    grid = order.select("run_id").join(pl.DataFrame({"rule_name": top}), how="cross")
    trend = (
        grid.join(
            named.group_by("run_id", "rule_name").agg(pl.col("failed").sum()),
            on=["run_id", "rule_name"],
            how="left",
        )
        .with_columns(pl.col("failed").fill_null(0), run=pl.col("run_id").replace_strict(labels))
        .sort("run_id")
    )
    fig = px.line(
        trend.to_pandas(),
        x="run",
        y="failed",
        color="rule_name",
        markers=True,
        title=f"Failed rows per run, the {len(top)} rules that failed most",
    )
    fig.update_layout(
        yaxis={
            "title": "failed rows",
            **count_axis(int(trend.select(pl.max("failed")).item() or 0)),
        }
    )
    figures.append(_runs_axis(fig, [labels[r] for r in order["run_id"].to_list()]))
    return figures


def runs_frame(runs: pl.DataFrame) -> pl.DataFrame:
    """The runs table with short headers; ``ended`` is ``started`` plus the duration."""
    return runs.drop("ended", strict=False).rename(
        {
            "duration_s": "seconds",
            "rows_read": "read",
            "rows_written": "written",
            "rows_quarantined": "quarantined",
            "quality_score": "quality",
            "failed_tables": "failed tables",
        },
        strict=False,
    )


def batches_frame(batches: pl.DataFrame) -> pl.DataFrame:
    """The batches table without what the runs table or ``shoplake batches`` tell: rows
    per table (a long JSON), replays, the row's own update time."""
    keep = ("batch_id", "trigger", "status", "started_at", "duration_s", "files", "error")
    return batches.select([c for c in keep if c in batches.columns]).rename(
        {"duration_s": "seconds", "started_at": "started"}, strict=False
    )


def quarantine_frame(rows: pl.DataFrame | None) -> pl.DataFrame | None:
    """Quarantined rows, the raw record last (it is the column that may be cut)."""
    if rows is None:
        return None
    drop = [c for c in ("failed_rules", "_batch_id") if c in rows.columns]
    return rows.drop(drop).rename({"quarantined_at": "at", "_source": "source"}, strict=False)


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
            text=node_labels(refs, len(columns)),
            textposition="top center",
            marker={
                "size": 14,
                "color": [LAYER_COLOR.get(r.split(".")[0], "#64748b") for r in refs],
            },
            hovertext=[f"{r} — version {versions.get(r, '—')}" for r in refs],
            hoverinfo="text",
            showlegend=False,
        )
    )
    fig.update_layout(title="Table dependency graph")
    return layered_layout(fig, columns)
