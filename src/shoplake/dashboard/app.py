"""The Streamlit page: ``streamlit run app.py -- --lake DIR [--landing DIR] [--refresh S]``.

Started by ``shoplake dashboard``. It polls the lake's Delta versions every few
seconds in a fragment and reruns the page when any table has a new version, so
fresh data shows without a reload.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime

import polars as pl
import streamlit as st

from shoplake.dashboard import business as b
from shoplake.dashboard import pipeline_view as pv
from shoplake.dashboard.display import column_widths
from shoplake.observe import monitor
from shoplake.observe.alerts import ALERTS
from shoplake.observe.lake import LakeReader
from shoplake.pipeline.tables import Pipeline


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", default="./lake")
    parser.add_argument("--landing", default="./landing")
    parser.add_argument("--pipeline", default="shoplake.ecommerce.pipeline:build_pipeline")
    parser.add_argument("--refresh", type=float, default=2.0)
    parser.add_argument("--sla", default="{}")
    parser.add_argument("--show-pii", action="store_true")
    parser.add_argument("--require-token", action="store_true")
    return parser.parse_args(sys.argv[1:])


ARGS = _args()
st.set_page_config(page_title="shoplake", layout="wide")
if ARGS.require_token:
    from shoplake.dashboard.gate import require_token

    # Stops the page here unless a valid token with SELECT on every layer is given;
    # PII shows in clear only for a token that also holds PII (and with --show-pii).
    ARGS.show_pii = require_token(ARGS.lake) and ARGS.show_pii


@st.cache_resource
def _reader(path: str) -> LakeReader:
    """One reader per server: its (table, version) cache survives reruns."""
    from shoplake.governance.masking import load_masking

    # Classified columns come masked by the [masking] policy unless --show-pii.
    return LakeReader(path, cache=True, masking=None if ARGS.show_pii else load_masking())


lake = _reader(ARGS.lake)
PII = not ARGS.show_pii


@st.cache_resource
def _pipeline(spec: str):
    from shoplake.config import load_pipeline

    try:
        return load_pipeline(spec)
    except Exception:
        return None


@st.fragment(run_every=ARGS.refresh)
def _watch() -> None:
    """Rerun the whole page when any table's Delta version changed."""
    current = lake.versions()
    seen = st.session_state.get("versions")
    st.session_state["versions"] = current
    if seen is not None and seen != current:
        st.rerun()
    st.caption(
        f"live · {len(current)} tables · checked {datetime.now(UTC):%H:%M:%S} UTC · "
        f"updates within {ARGS.refresh:g}s of a new Delta version"
    )


# The main column's width at a 1400-pixel window, and half of it: tables are sized to
# fit these, so no column hides behind a sideways scroll.
FULL_PX, HALF_PX = 900, 440


def _table(frame: pl.DataFrame | None, empty: str, limit: int = 500, budget: int = FULL_PX) -> None:
    if frame is None or frame.is_empty():
        st.info(empty)
        return
    shown = b.formatted(frame.head(limit), pii=PII)
    widths = column_widths(shown, budget)
    st.dataframe(
        shown,
        hide_index=True,
        column_config={name: st.column_config.Column(width=w) for name, w in widths.items()},
    )


def _filters() -> b.Filters:
    opts = b.options(lake)
    st.sidebar.header("Filters")
    start = end = None
    if opts.first_month and opts.last_month and opts.first_month < opts.last_month:
        months = pl.date_range(opts.first_month, opts.last_month, "1mo", eager=True).to_list()
        start, end_month = st.sidebar.select_slider(
            "Months",
            options=months,
            value=(months[0], months[-1]),
            format_func=lambda d: f"{d:%b %Y}",
        )
        # The end of the range is the whole last month.
        end = date(end_month.year + end_month.month // 12, end_month.month % 12 + 1, 1)
        end = date.fromordinal(end.toordinal() - 1)
    categories = st.sidebar.multiselect("Category", opts.categories, key="category")
    labels = opts.regions
    regions = st.sidebar.multiselect(
        "Region", list(labels), format_func=lambda r: labels.get(r, r), key="region"
    )
    return b.Filters(start, end, tuple(categories), tuple(regions))


def business(f: b.Filters) -> None:
    overall, month = b.kpis(lake)
    if not overall:
        st.info("No gold data yet: run `shoplake run` (or `shoplake demo`) and this page fills in.")
        return
    st.subheader("Executive KPIs — all time")
    for start in range(0, len(overall), 3):
        row = overall[start : start + 3]
        for col, k in zip(st.columns(3), row, strict=False):
            col.metric(k.label, k.value)
    if month:
        st.subheader("Current month")
        for col, k in zip(st.columns(len(month)), month, strict=True):
            col.metric(k.label, k.value, k.delta)
    left, right = st.columns(2)
    left.plotly_chart(b.revenue_trend(lake, f), key="revenue_trend")
    right.plotly_chart(b.category_chart(lake, f), key="category_chart")
    left, right = st.columns(2)
    left.plotly_chart(b.segment_chart(lake, f), key="segment_chart")
    with right:
        st.markdown("**Customer segments**")
        _table(b.segment_summary(lake, f), "no customers yet", budget=HALF_PX)
    # Full width: seven columns do not fit half the page.
    top, bottom = b.products(lake, f)
    st.markdown("**Top products by revenue**")
    _table(top, "no products sold")
    st.markdown("**Bottom products by revenue**")
    _table(bottom, "no products sold")
    left, right = st.columns(2)
    left.plotly_chart(b.seasonal_heatmap(lake, f), key="seasonal")
    right.plotly_chart(b.clv_chart(lake, f), key="clv")
    st.subheader("Fraud alerts")
    _table(b.fraud(lake), "No fraud alerts.")
    for ref, note in b.OPTIONAL.items():
        st.subheader(ref.split(".", 1)[1].replace("_", " ").capitalize())
        frame = lake.read(ref)
        if frame is None:
            st.caption(f"Appears when {note}.")
            continue
        chart = b.optional_chart(lake, ref, frame)
        if chart is not None:
            st.plotly_chart(chart, key=f"optional_{ref}")
        _table(b.mart_rows(ref, frame), f"{ref} is empty")


def catalog_section(pipeline: Pipeline | None) -> None:
    """The catalog: every table's owner, tags and PII columns; one table's columns and
    lineage."""
    from shoplake.dashboard import catalog_view as cv
    from shoplake.governance.catalog import show_table
    from shoplake.governance.lineage import with_column_lineage
    from shoplake.pipeline.graph import build_graph

    st.subheader("Catalog")
    listing = cv.catalog_frame(lake)
    _table(listing, "no tables yet")
    if listing.is_empty():
        return
    choice = st.selectbox("Table", listing["table"].to_list(), key="catalog_table")
    graph = build_graph(pipeline) if pipeline is not None else None
    detail = show_table(lake.engine, choice, graph)
    if graph is not None:
        detail = with_column_lineage(lake.engine, graph, detail)
    st.caption(detail.entry.description or "no description")
    _table(cv.columns_frame(detail), "no columns")
    if graph is not None and choice in graph.definitions:
        st.plotly_chart(cv.lineage_graph(graph, choice), key="lineage")


def pipeline_page() -> None:
    import json

    runs = monitor.runs(lake)
    if runs.is_empty():
        st.info("No runs yet.")
        return
    last = runs.row(0, named=True)
    cols = st.columns(4)
    cols[0].metric("Last run", last["status"], help=f"run {last['run_id']}")
    cols[1].metric("Duration", f"{last['duration_s'] or 0:.2f}s")
    cols[2].metric("Rows written", b.count(last["rows_written"]))
    cols[3].metric(
        "Quality score", "—" if last["quality_score"] is None else f"{last['quality_score']:.1f}"
    )
    flows = monitor.flows(lake)
    st.plotly_chart(pv.run_durations(runs, flows), key="runs")
    st.markdown("**Last runs**")
    _table(pv.runs_frame(runs), "no runs")
    batches = monitor.batches(lake)
    st.markdown("**Batches**")
    if batches is None:
        st.caption("Appears when the pipeline records batches (`_system/batches`).")
    else:
        _table(pv.batches_frame(batches), "no batches yet", 100)
    st.plotly_chart(pv.rows_per_table(flows), key="rows_per_table")
    rules = monitor.rule_history(lake)
    if not rules.is_empty():
        for i, chart in enumerate(pv.rule_charts(rules)):
            st.plotly_chart(chart, key=f"rules_{i}")
        latest = rules.filter(pl.col("run_id") == rules.sort("timestamp")["run_id"].last())
        st.markdown("**Data quality per rule (latest run with checks)**")
        _table(latest.drop("run_id", "timestamp").sort("failed", descending=True), "no checks")
    st.subheader("Quarantine")
    growth = monitor.quarantine_growth(lake)
    _table(growth, "Nothing quarantined.")
    _table(pv.quarantine_frame(monitor.quarantine(lake)), "Nothing quarantined.", 300)
    st.subheader("Alerts")
    alerts = lake.read(ALERTS)
    if alerts is None:
        # Only firing and resolved transitions are recorded: no table can also mean checked,
        # nothing fired.
        st.caption(
            "No alert recorded: none has fired, or no check ran yet. `shoplake run` and "
            "`shoplake demo` check after each run; `shoplake alerts check` checks now."
        )
    else:
        _table(alerts.sort("at", descending=True), "Alerts checked: none fired.", 200)
    pipeline = _pipeline(ARGS.pipeline)
    st.subheader("Freshness")
    items = monitor.freshness(lake, pipeline, json.loads(ARGS.sla))
    _table(pv.freshness_frame(items), "no tables")
    catalog_section(pipeline)
    if pipeline is not None:
        st.subheader("Dependencies")
        st.plotly_chart(pv.dependency_graph(pipeline, lake), key="graph")
        from shoplake.sources.remote import open_landing  # a folder or an object store

        lag = monitor.source_lag(lake, pipeline, open_landing(ARGS.landing))
        st.markdown("**Files waiting in landing**")
        _table(
            pl.DataFrame(
                {
                    "source": [s.source for s in lag],
                    "waiting_files": [s.waiting_files for s in lag],
                    "waiting_bytes": [s.waiting_bytes for s in lag],
                    "oldest_waiting": [s.oldest_waiting for s in lag],
                }
            ),
            "no sources",
        )


st.title("shoplake")
_watch()
filters = _filters()
# Only the chosen view is computed and drawn: half the work of tabs on every refresh.
view = st.radio("View", ["Business", "Pipeline"], horizontal=True, key="view")
if view == "Business":
    business(filters)
else:
    pipeline_page()
