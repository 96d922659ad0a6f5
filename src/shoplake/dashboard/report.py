"""The business view as ONE self-contained HTML file: plotly's JavaScript inlined once,
no CDN, no other file — for a scheduled email or an archive."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from shoplake.dashboard import business as b
from shoplake.observe.lake import LakeReader
from shoplake.observe.redact import clean_text

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2937}
h1{margin-bottom:0}.sub{color:#6b7280;margin-top:4px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.kpi{border:1px solid #e5e7eb;border-radius:8px;padding:10px 16px;min-width:150px}
.kpi .l{font-size:12px;color:#6b7280}.kpi .v{font-size:22px;font-weight:600}
.kpi .d{font-size:12px;color:#374151}
table{border-collapse:collapse;font-size:13px;margin:8px 0 24px;max-width:100%}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 10px;text-align:left}
th{white-space:nowrap}td.n{text-align:right;white-space:nowrap}
td{overflow-wrap:anywhere}
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:8px}
"""


def _kpi_html(kpis: list[b.Kpi]) -> str:
    cards = "".join(
        f'<div class="kpi"><div class="l">{html.escape(k.label)}</div>'
        f'<div class="v">{html.escape(k.value)}</div>'
        + (f'<div class="d">{html.escape(k.delta)}</div>' if k.delta else "")
        + "</div>"
        for k in kpis
    )
    return f'<div class="kpis">{cards}</div>'


def table_html(frame: pl.DataFrame | None, limit: int = 50) -> str:
    if frame is None or frame.is_empty():
        return "<p><em>none</em></p>"
    shown = b.formatted(frame.head(limit))
    # Numbers (money and rates too) right-aligned and never broken; text wraps instead,
    # so a table fits its page.
    kinds = ["n" if t.is_numeric() else "" for t in frame.schema.values()]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{k}">{html.escape("" if v is None else str(v))}</td>'
            for k, v in zip(kinds, row, strict=True)
        )
        + "</tr>"
        for row in shown.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build_report(lake: LakeReader, filters: b.Filters | None = None) -> str:
    f = filters or b.Filters()
    figures: list[go.Figure] = [
        b.revenue_trend(lake, f),
        b.category_chart(lake, f),
        b.segment_chart(lake, f),
        b.seasonal_heatmap(lake, f),
        b.clv_chart(lake, f),
    ]
    # The first figure carries plotly.js inline; the rest reuse it.
    charts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
        for i, fig in enumerate(figures)
    ]
    optional_html = []
    for ref, note in b.OPTIONAL.items():
        frame = lake.read(ref)
        title = ref.split(".", 1)[1].replace("_", " ").capitalize()
        if frame is None:
            optional_html.append(f"<h2>{title}</h2><p><em>Appears when {note}.</em></p>")
            continue
        chart = b.optional_chart(lake, ref, frame)
        drawn = "" if chart is None else chart.to_html(full_html=False, include_plotlyjs=False)
        # Each mart's chart above its rows, the rows that matter first.
        rows = table_html(b.mart_rows(ref, frame), 30)
        optional_html.append(f"<h2>{title}</h2>{drawn}{rows}")
    overall, month = b.kpis(lake)
    top, bottom = b.products(lake, f)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shoplake business report</title>
<style>{_STYLE}</style></head><body>
<h1>shoplake business report</h1>
<p class="sub">lake {html.escape(clean_text(lake.lake, pii=False))} · generated {generated}</p>
<h2>Executive KPIs (all time)</h2>{_kpi_html(overall)}
<h2>Current month</h2>{_kpi_html(month)}
<div class="grid"><div>{charts[0]}</div><div>{charts[1]}</div></div>
<h2>Customer segments</h2>
<div class="grid"><div>{charts[2]}</div><div>{table_html(b.segment_summary(lake, f))}</div></div>
<h2>Top products</h2>{table_html(top)}
<h2>Bottom products</h2>{table_html(bottom)}
<div class="grid"><div>{charts[3]}</div><div>{charts[4]}</div></div>
<h2>Fraud alerts</h2>{table_html(b.fraud(lake))}
{"".join(optional_html)}
</body></html>
"""


def write_report(lake: LakeReader, out: Path, filters: b.Filters | None = None) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(lake, filters), encoding="utf-8")
    return out
