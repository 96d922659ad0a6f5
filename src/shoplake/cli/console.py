"""Rich renderings of runs, tables and events: summaries people read at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from shoplake.engines.base import TableInfo
from shoplake.pipeline.results import RunResult

if TYPE_CHECKING:
    from shoplake.ingest.loader import BatchResult
    from shoplake.observe.alerts import CheckResult
    from shoplake.pipeline.maintenance import TableMaintenance

console = Console()
if not console.is_terminal:  # logs and CI: wide enough that tables do not wrap
    console = Console(width=140)

_STATUS_STYLE = {"completed": "green", "skipped": "dim", "failed": "bold red", "running": "yellow"}


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def run_table(run: RunResult) -> Table:
    table = Table(
        title=f"run {run.run_id}: {run.status} in {run.duration_s:.2f}s", title_justify="left"
    )
    for column in (
        "table",
        "status",
        "in",
        "out",
        "duplicates",
        "dropped",
        "quarantined",
        "quality",
        "version",
        "seconds",
    ):
        table.add_column(column, justify="left" if column in ("table", "status") else "right")
    for flow in run.flows:
        style = _STATUS_STYLE.get(flow.status, "")
        table.add_row(
            flow.table,
            f"[{style}]{flow.status}[/]",
            _int(flow.rows_read),
            _int(flow.rows_written),
            _int(flow.rows_duplicate),
            _int(flow.rows_dropped),
            _int(flow.rows_quarantined),
            _score(flow.quality_score),
            _int(flow.version),
            f"{flow.duration_s:.2f}",
        )
    table.caption = (
        f"batch quality score {_score(run.quality_score)} · in = rows read from the "
        "table's inputs (per input: shoplake events)"
    )
    return table


def source_notes(run: RunResult) -> list[str]:
    """What each source flow noted about its files (copies skipped, files quarantined whole
    or not read, and why), one line per source."""
    return [
        f"{f.table}: {f.message}"
        for f in run.flows
        if f.kind == "source" and f.status == "completed" and f.message
    ]


def run_messages(run: RunResult) -> list[str]:
    """One line per failed flow, named by its table (once: a FlowError's message already
    starts with it)."""
    return [
        f.message if f.message.startswith(f"{f.table}: ") else f"{f.table}: {f.message}"
        for f in run.flows
        if f.status == "failed"
    ]


def tables_table(infos: Sequence[TableInfo]) -> Table:
    table = Table(title="tables", title_justify="left")
    for column in ("layer", "table", "version", "rows", "files", "last update (UTC)"):
        table.add_column(
            column, justify="right" if column in ("version", "rows", "files") else "left"
        )
    for info in infos:
        layer, _, name = info.ref.partition(".")
        modified = f"{info.last_modified:%Y-%m-%d %H:%M:%S}" if info.last_modified else "—"
        table.add_row(layer, name, str(info.version), f"{info.rows:,}", str(info.files), modified)
    return table


def rules_table(counts: Sequence[tuple[str, str, str, int]]) -> Table:
    table = Table(title="quarantined rows per rule", title_justify="left")
    for column in ("table", "rule", "severity", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for ref, rule, severity, rows in counts:
        table.add_row(ref, rule, severity, f"{rows:,}")
    return table


def headline_table(figures: dict[str, str]) -> Table:
    """The pipeline's headline figures (``Pipeline.headline``), label and value."""
    table = Table(title="headline KPIs (all time)", title_justify="left")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    for label, shown in figures.items():
        table.add_row(label, shown)
    return table


def maintenance_table(results: Sequence[TableMaintenance], retention_hours: int) -> Table:
    table = Table(title=f"maintenance (vacuum retention {retention_hours} h)", title_justify="left")
    for column in (
        "table",
        "operation",
        "z-order by",
        "files before",
        "rewritten",
        "files after",
        "vacuumed",
        "version",
        "note",
    ):
        left = column in ("table", "operation", "z-order by", "note")
        table.add_column(column, justify="left" if left else "right")
    for r in results:
        table.add_row(
            r.ref,
            r.operation,
            ", ".join(r.zorder_by),
            str(r.files_before),
            str(r.files_rewritten),
            str(r.files_after),
            str(r.files_vacuumed),
            f"{r.version_before} → {r.version_after}",
            r.message[:100],
        )
    return table


def batch_line(result: BatchResult) -> str:
    style = {"succeeded": "green", "failed": "bold red", "rejected": "bold red"}[result.status]
    text = f"[{style}]{result.status}[/] batch {result.batch_id} ({result.trigger})"
    text += f": {result.files} file(s) ingested"
    if result.quarantined:
        text += f", {result.quarantined} quarantined"
    if result.refused:
        hint = f"shoplake files --batch {result.batch_id}"
        text += f", [bold red]{result.refused} not read[/] ({hint})"
    if result.archived:
        text += f", {result.archived} archived"
    if result.run is not None:
        text += f" in {result.run.duration_s:.2f}s"
    if result.error:
        from rich.markup import escape

        from shoplake.observe.redact import clean_text

        text += f"\n  [red]{escape(clean_text(result.error))}[/]"
    return text


def alert_check_lines(result: CheckResult) -> list[str]:
    """What an alert check did, in a few lines: one per rule with new incidents (never one
    per row), each failed delivery, each channel that held back, and the counts."""
    from shoplake.observe.redact import clean_text

    lines = [
        f"[bold yellow]alert[/] {g.severity} {clean_text(g.title)}"
        + (f" — e.g. {clean_text(g.examples[0].title)}" if len(g.new) > 1 else "")
        for g in result.groups
    ]
    lines += [f"[bold red]alert not delivered:[/] {error}" for error in result.delivery_errors]
    lines += [f"[yellow]alerts held back:[/] {why}" for why in result.deferred]
    lines.append(
        f"alerts: {len(result.fired)} new, {len(result.still_open)} still open, "
        f"{len(result.resolved)} resolved"
    )
    return lines
