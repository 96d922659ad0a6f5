"""The catalog in the pipeline view: the tables' owners, tags and PII columns, one table's
columns with their classes and lineage, and the lineage graph around it."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from shoplake.dashboard.display import LAYER_COLOR, layered_layout, node_labels
from shoplake.governance.catalog import TableDetail, freshness, list_catalog
from shoplake.observe.lake import LakeReader
from shoplake.pipeline.graph import Graph


def catalog_frame(lake: LakeReader) -> pl.DataFrame:
    entries = list_catalog(lake.engine)
    return pl.DataFrame(
        {
            "table": [e.ref for e in entries],
            "owner": [e.owner for e in entries],
            "tags": [", ".join(f"{k}={v}" for k, v in e.tags.items()) for e in entries],
            "rows": [e.rows for e in entries],
            "version": [e.version for e in entries],
            "updated": [freshness(e.last_modified) for e in entries],
            "pii": [", ".join(f"{c}:{k}" for c, k in e.pii.items()) for e in entries],
            "description": [e.description for e in entries],
        },
        schema={
            "table": pl.String,
            "owner": pl.String,
            "tags": pl.String,
            "rows": pl.Int64,
            "version": pl.Int64,
            "updated": pl.String,
            "pii": pl.String,
            "description": pl.String,
        },
    )


def columns_frame(detail: TableDetail) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "column": [c.name for c in detail.columns],
            "type": [c.type for c in detail.columns],
            "pii": [c.pii or "" for c in detail.columns],
            "comment": [c.comment for c in detail.columns],
            "computed from": [", ".join(c.lineage) for c in detail.columns],
            "lineage": [c.lineage_source for c in detail.columns],
        }
    )


def _around(graph: Graph, focus: str) -> set[str]:
    """``focus`` and every table it reads or feeds, transitively."""
    seen = {focus}
    frontier = [focus]
    while frontier:  # upstream
        ref = frontier.pop()
        for up in graph.upstream(ref):
            if up not in seen and up in graph.definitions:
                seen.add(up)
                frontier.append(up)
    down = [focus]
    while down:
        ref = down.pop()
        for child in graph.downstream(ref):
            if child not in seen:
                seen.add(child)
                down.append(child)
    return seen


def lineage_graph(graph: Graph, focus: str) -> go.Figure:
    """The tables upstream and downstream of ``focus``, left to right by depth."""
    refs = [r for r in graph.order if r in _around(graph, focus)]
    edges = [(up, ref) for ref in refs for up in graph.upstream(ref) if up in refs]
    depth = {ref: 0 for ref in refs}
    for ref in refs:  # graph order: inputs come first
        for up, down in edges:
            if down == ref:
                depth[ref] = max(depth[ref], depth[up] + 1)
    rows: dict[int, list[str]] = {}
    for ref in refs:
        rows.setdefault(depth[ref], []).append(ref)
    pos = {
        ref: (float(x), -(i - (len(members) - 1) / 2))
        for x, members in rows.items()
        for i, ref in enumerate(members)
    }
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for up, down in edges:
        edge_x += [pos[up][0], pos[down][0], None]
        edge_y += [pos[up][1], pos[down][1], None]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=edge_x, y=edge_y, mode="lines", line={"color": "#cbd5e1"}, hoverinfo="skip")
    )
    fig.add_trace(
        go.Scatter(
            x=[pos[r][0] for r in refs],
            y=[pos[r][1] for r in refs],
            mode="markers+text",
            text=node_labels(refs, len(rows)),
            textposition="top center",
            marker={
                "size": [20 if r == focus else 12 for r in refs],
                "color": [LAYER_COLOR.get(r.split(".")[0], "#64748b") for r in refs],
                "line": {"width": [3 if r == focus else 0 for r in refs], "color": "#1d4ed8"},
            },
            hovertext=refs,
            hoverinfo="text",
        )
    )
    fig.update_layout(title=f"Lineage of {focus}")
    return layered_layout(fig, rows)
