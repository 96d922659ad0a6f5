"""Observability commands: dashboard, report, sql, status, alerts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shoplake.cli import common
from shoplake.cli.common import Debug, Lake, Landing, PipelineOpt
from shoplake.cli.console import alert_check_lines, console
from shoplake.config import Settings
from shoplake.errors import ShoplakeError
from shoplake.names import utcnow

if TYPE_CHECKING:
    from shoplake.observe.lake import LakeReader

alerts_app = typer.Typer(help="Alert rules: check them now, or list open incidents.")


ShowPii = Annotated[
    bool,
    typer.Option("--show-pii", help="Show classified columns unmasked (the [masking] policy)"),
]


def _lake(
    lake: str | None,
    landing: str | None = None,
    pipeline: str | None = None,
    *,
    masked: bool = False,
) -> tuple[Settings, LakeReader]:
    from shoplake.governance.masking import load_masking
    from shoplake.observe.lake import LakeReader

    settings = common.settings(lake, landing, pipeline=pipeline, reads=("lake",))
    return settings, LakeReader(settings.lake, masking=load_masking() if masked else None)


def dashboard(
    lake: Lake = None,
    landing: Landing = None,
    port: Annotated[int, typer.Option("--port", help="Port to serve on")] = 8501,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes it to the network")
    ] = "127.0.0.1",
    refresh: Annotated[
        float, typer.Option("--refresh", help="Seconds between checks for new Delta versions")
    ] = 2.0,
    show_pii: ShowPii = False,
    require_token: Annotated[
        bool | None,
        typer.Option(
            "--require-token/--no-require-token",
            help="Ask for a `shoplake token` first [default: when bound beyond loopback]",
        ),
    ] = None,
    pipeline: PipelineOpt = None,
    debug: Debug = False,
) -> None:
    """Serve the live dashboard (business and pipeline views) on http://HOST:PORT."""
    from shoplake.dashboard.server import serve
    from shoplake.observe.alerts import load_alert_settings
    from shoplake.observe.redact import clean_text

    with common.errors(debug):
        # The policy is checked here (a bad method, a missing pepper) to fail in one line.
        settings, _ = _lake(lake, landing, pipeline, masked=not show_pii)
        sla = load_alert_settings().sla_minutes
    shown = clean_text(settings.lake, pii=False)
    console.print(f"dashboard on http://{host}:{port} — lake {shown} (Ctrl+C stops it)")
    code = serve(
        settings.lake,
        landing=settings.landing,
        port=port,
        address=host,
        require_token=require_token,
        refresh_s=refresh,
        sla_minutes=sla,
        show_pii=show_pii,
        pipeline=settings.pipeline,
    )
    raise typer.Exit(code)


def report(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write")],
    lake: Lake = None,
    show_pii: ShowPii = False,
    debug: Debug = False,
) -> None:
    """Write the business view as one self-contained HTML file (no internet needed); PII
    masked by classification unless --show-pii."""
    from shoplake.dashboard.report import write_report

    if out.suffix.lower() not in (".html", ".htm"):
        common.fail(ShoplakeError(f"--out {out}: the report is HTML; name it *.html"), debug)
    with common.errors(debug):
        _, reader = _lake(lake, masked=not show_pii)
        if not reader.exists("gold.executive_kpis"):
            raise ShoplakeError(
                f"no gold tables in {reader.lake}: run `shoplake run` (or `shoplake demo`) first"
            )
        path = write_report(reader, out)
    console.print(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")


def _print_result(result, limit: int) -> None:
    table = Table(title=f"{result.num_rows:,} row(s)", title_justify="left")
    for name in result.column_names:
        table.add_column(name, overflow="fold")
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*("NULL" if v is None else str(v) for v in row.values()))
    console.print(table)
    if result.num_rows > limit:
        console.print(f"[dim]… {result.num_rows - limit:,} more; use --limit or --out[/]")


def sql(
    query: Annotated[str | None, typer.Argument(help="A SQL query; omit for a shell")] = None,
    lake: Lake = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the result to a .csv or .parquet file")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to print")] = 50,
    show_pii: ShowPii = False,
    debug: Debug = False,
) -> None:
    """Query any lake table as layer.name with SQL (DuckDB); no query opens a shell.
    Classified columns read masked (``[masking]`` in shoplake.toml) unless --show-pii."""
    from shoplake.governance.masking import load_masking
    from shoplake.observe.sql import LakeSql, write_result

    with common.errors(debug):
        _, reader = _lake(lake)
        engine = LakeSql(reader, masking=None if show_pii else load_masking())
    with engine:
        if query is not None:
            with common.errors(debug):
                result = engine.query(query)
                if out is not None:
                    write_result(result, out)
                    console.print(f"{result.num_rows:,} row(s) written to {out}")
                    return
            _print_result(result, limit)
            return
        _shell(engine, limit)


def _shell(engine, limit: int) -> None:
    console.print(
        f"shoplake sql — {len(engine.tables)} tables (\\d lists them); end a query with ';', "
        "quit with \\q or Ctrl+D"
    )
    buffer: list[str] = []
    while True:
        try:
            line = input("sql> " if not buffer else "...> ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        stripped = line.strip()
        if not buffer and stripped in ("\\q", "quit", "exit"):
            return
        if not buffer and stripped == "\\d":
            for ref in engine.tables:
                console.print(f"  {ref}")
            continue
        buffer.append(line)
        if not stripped.endswith(";"):
            continue
        text = "\n".join(buffer).rstrip().rstrip(";")
        buffer = []
        try:
            _print_result(engine.query(text), limit)
        except ShoplakeError as err:  # the shell goes on after a bad query
            common.print_error(str(err))


def status(
    lake: Lake = None,
    landing: Landing = None,
    pipeline: PipelineOpt = None,
    debug: Debug = False,
) -> None:
    """One screen: last run, failures, tables behind their SLA, quarantine growth, source lag."""
    from shoplake.observe import monitor
    from shoplake.observe.alerts import load_alert_settings, open_incidents
    from shoplake.observe.redact import clean_text

    with common.errors(debug):
        settings, reader = _lake(lake, landing, pipeline)
        loaded = common.load_pipeline(settings.pipeline)
        sla = load_alert_settings().sla_minutes
        runs = monitor.runs(reader, limit=10)
        fresh = monitor.freshness(reader, loaded, sla)
        growth = monitor.quarantine_growth(reader)
        lag = monitor.source_lag(reader, loaded, common.open_landing(settings))
        incidents = open_incidents(reader)
    if runs.is_empty():
        console.print(
            f"lake {clean_text(settings.lake, pii=False)}: no runs yet — run `shoplake run` first"
        )
    else:
        last = runs.row(0, named=True)
        style = "green" if last["status"] == "completed" else "bold red"
        ago = (utcnow() - last["ended"]).total_seconds() / 60
        quality = "—" if last["quality_score"] is None else f"{last['quality_score']:.1f}"
        console.print(
            f"last run [bold]{last['run_id']}[/]: [{style}]{last['status']}[/] "
            f"{ago:.0f} min ago in {last['duration_s'] or 0:.2f}s, "
            f"{last['rows_written'] or 0:,} rows written, quality {quality}"
        )
    failures = monitor.flows(reader)
    if not runs.is_empty():
        failed = failures.filter(
            (failures["run_id"] == runs["run_id"][0]) & (failures["status"] == "failed")
        )
        if failed.height:
            table = Table(title="failures in the last run", title_justify="left")
            table.add_column("table")
            table.add_column("message", overflow="fold")
            for row in failed.iter_rows(named=True):
                table.add_row(row["table"], clean_text((row["message"] or "").split("\n")[0]))
            console.print(table)
        failed_runs = runs.filter(runs["status"] == "failed").height
        console.print(f"{failed_runs} of the last {runs.height} run(s) failed")
    stale = [f for f in fresh if f.stale]
    with_sla = [f for f in fresh if f.sla_minutes is not None]
    if not with_sla:
        console.print(
            "freshness: no SLAs set (sla_minutes on a table, or \\[alerts.sla_minutes] in "
            "shoplake.toml)"
        )
    elif stale:
        table = Table(title="behind their freshness SLA", title_justify="left")
        for column in ("table", "last commit (UTC)", "age (min)", "SLA (min)"):
            table.add_column(column)
        for f in stale:
            table.add_row(
                f.table,
                f"{f.last_commit:%Y-%m-%d %H:%M}",
                f"{f.age_minutes:.0f}",
                str(f.sla_minutes),
            )
        console.print(table)
    else:
        console.print(f"freshness: all {len(with_sla)} table(s) with an SLA are within it")
    if growth.height:
        table = Table(title="quarantine", title_justify="left")
        for column in ("table", "latest run", "total", "share of latest input"):
            table.add_column(column, justify="left" if column == "table" else "right")
        for row in growth.iter_rows(named=True):
            table.add_row(
                row["table"], f"{row['last_run']:,}", f"{row['total']:,}", f"{row['share']:.1%}"
            )
        console.print(table)
    else:
        console.print("quarantine: empty")
    table = Table(title="sources: files waiting in landing", title_justify="left")
    for column in ("source", "files", "bytes", "oldest waiting (UTC)", "refused"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for s in lag:
        oldest = "—" if s.oldest_waiting is None else f"{s.oldest_waiting:%Y-%m-%d %H:%M}"
        refused = f"[bold red]{s.refused_files:,}[/]" if s.refused_files else "0"
        table.add_row(s.source, f"{s.waiting_files:,}", f"{s.waiting_bytes:,}", oldest, refused)
    if any(s.refused_files for s in lag):
        table.caption = "refused: recorded but not ingested; `shoplake files --status` says why"
    console.print(table)
    console.print(f"open alert incidents: {len(incidents)}")


@alerts_app.command("check")
def alerts_check(
    lake: Lake = None,
    pipeline: PipelineOpt = None,
    debug: Debug = False,
) -> None:
    """Evaluate the alert rules now; send each new incident once."""
    from shoplake.observe.alerts import check, load_alert_settings

    with common.errors(debug):
        settings, reader = _lake(lake, pipeline=pipeline)
        result = check(reader, load_alert_settings(), common.load_pipeline(settings.pipeline))
    for line in alert_check_lines(result):
        console.print(line)
    if result.delivery_errors:
        raise typer.Exit(1)


@alerts_app.command("list")
def alerts_list(lake: Lake = None, debug: Debug = False) -> None:
    """Open incidents (fired and not yet resolved)."""
    from shoplake.observe.alerts import open_incidents

    with common.errors(debug):
        _, reader = _lake(lake)
        incidents = open_incidents(reader)
    if not incidents:
        console.print("no open incidents")
    for key, rule in sorted(incidents.items()):
        console.print(f"{rule:18} {key}")


def register(app: typer.Typer) -> None:
    app.command()(dashboard)
    app.command()(report)
    app.command()(sql)
    app.command()(status)
    app.add_typer(alerts_app, name="alerts")
