"""File ingestion commands: ``watch``, ``batches``, ``files`` and ``reprocess``."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shoplake.cli import common
from shoplake.cli.common import (
    Archive,
    Debug,
    EngineOpt,
    Lake,
    Landing,
    ManifestsOnly,
    MaxBytes,
    MaxFiles,
    PipelineOpt,
    Wait,
)
from shoplake.cli.console import batch_line, console, run_messages, run_table, source_notes

if TYPE_CHECKING:
    from shoplake.ingest.loader import BatchResult

ALERT_EVERY_S = 30.0
"""Under ``watch``, the alert rules run at most this often (and after a failed batch)."""


def watch(
    lake: Lake = None,
    landing: Landing = None,
    interval: Annotated[
        float | None, typer.Option("--interval", help="Also run every N seconds")
    ] = None,
    cron: Annotated[
        str | None, typer.Option("--cron", help="Also run on a cron schedule ('*/5 * * * *')")
    ] = None,
    poll: Annotated[
        bool, typer.Option("--poll", help="Poll the folder instead of file-system events")
    ] = False,
    poll_interval: Annotated[
        float,
        typer.Option(
            "--poll-interval", min=0.05, help="Object-store landing: seconds between listings"
        ),
    ] = 1.0,
    max_files: MaxFiles = None,
    max_bytes: MaxBytes = None,
    archive: Archive = None,
    manifests_only: ManifestsOnly = False,
    pipeline: PipelineOpt = None,
    engine: EngineOpt = None,
    debug: Debug = False,
) -> None:
    """Run continuously: new files (or manifests) start an update within about a second.

    Ctrl-C or SIGTERM stops after the batch being committed.
    """
    from shoplake.ingest.watch import WatchConfig
    from shoplake.ingest.watch import watch as watch_loop

    stop = threading.Event()

    def ask_stop(signum: int, frame: object) -> None:
        if not stop.is_set():
            console.print("[yellow]stopping after the current batch…[/]")
        stop.set()

    previous = {s: signal.signal(s, ask_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with common.errors(debug):
            settings = common.settings(
                lake, landing, pipeline=pipeline, engine=engine, reads=("landing",)
            )
            config = common.loader_config(
                settings, max_files=max_files, max_bytes=max_bytes, archive=archive, wait_s=30.0
            )
            watching = WatchConfig(
                interval_s=interval,
                cron=cron,
                poll=poll,
                poll_s=poll_interval,
                manifests_only=manifests_only,
            )
            folder = common.open_landing(settings)
            loaded = common.load_pipeline(settings.pipeline)
            emitter = common.lineage_emitter(common.engine(settings), loaded)
            if emitter is not None:
                config = replace(config, listener=emitter)

            checked_at = [float("-inf")]

            def after_batch(result: BatchResult) -> None:
                console.print(batch_line(result))
                # Like `run`: maintenance when due (maintain_every), then alert rules. The
                # rules read the whole event log, which grows with every batch: under a
                # steady trickle of files they run at most every ALERT_EVERY_S (at once
                # after a failed batch), so they never hold up the next batch for long.
                common.auto_maintain(loaded, settings, None, result.status == "succeeded")
                due = time.monotonic() - checked_at[0] >= ALERT_EVERY_S
                if due or result.status != "succeeded":
                    common.check_alerts(settings.lake, loaded)
                    checked_at[0] = time.monotonic()

            count = watch_loop(
                loaded,
                # A watch process lives for days: keep each table's snapshot and read only
                # the new log entries per batch (≈1 ms, not ≈13 ms per table opened).
                common.engine(settings, reuse_snapshots=True),
                folder,
                config=config,
                watching=watching,
                stop=stop,
                on_batch=after_batch,
                on_wait=lambda m: console.print(f"[yellow]waiting:[/] {m}"),
                on_ready=lambda: console.print(
                    f"watching {folder} (Ctrl-C to stop)", soft_wrap=True
                ),
            )
            if count:
                common.check_alerts(settings.lake, loaded)  # what the last batches changed
            common.report_lineage(emitter)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    console.print(f"stopped after {count} batch(es)")


def batches(
    lake: Lake = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest N batches")] = 20,
    debug: Debug = False,
) -> None:
    """Recent batches: trigger, status, timings, files, rows per layer and error."""
    from shoplake.ingest.batch_log import list_batches

    with common.errors(debug):
        rows = list_batches(common.engine(common.settings(lake, None, reads=("lake",))), limit)
    if not rows:
        console.print("no batches yet: run `shoplake run` or `shoplake watch` first")
        return
    table = Table(title="batches (newest first)", title_justify="left")
    for column in (
        "batch",
        "trigger",
        "status",
        "started (UTC)",
        "seconds",
        "files",
        "quarantined files",
        "rows bronze/silver/gold",
        "error",
    ):
        table.add_column(column)
    style = {"succeeded": "green", "failed": "bold red", "running": "yellow"}
    for b in rows:
        per_layer = [
            sum(n for t, n in b.rows.items() if t.startswith(f"{layer}."))
            for layer in ("bronze", "silver", "gold")
        ]
        table.add_row(
            b.batch_id + (f" (replays {b.replays})" if b.replays else ""),
            b.trigger,
            f"[{style.get(b.status, '')}]{b.status}[/]",
            f"{b.started_at:%Y-%m-%d %H:%M:%S}",
            "—" if b.duration_s is None else f"{b.duration_s:.2f}",
            f"{b.files:,}",
            f"{b.files_quarantined:,}",
            "/".join(f"{n:,}" for n in per_layer),
            (b.error or "")[:160],
        )
    console.print(table)


def files(
    lake: Lake = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help="ingested, quarantined, skipped, failed, rejected or unsupported"
        ),
    ] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Only this batch")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest N files")] = 50,
    debug: Debug = False,
) -> None:
    """Landing files seen (``_system/files``): status, reason, batch and archive location."""
    from shoplake.ingest.file_log import file_rows

    with common.errors(debug):
        lake_engine = common.engine(common.settings(lake, reads=("lake",)))
        rows = file_rows(lake_engine, batch_id=batch, status=status)[:limit]
    if not rows:
        console.print("no files recorded (yet, or none match)")
        return
    table = Table(title="landing files (newest first)", title_justify="left")
    for column in ("path", "status", "rows", "batch", "archived at", "reason"):
        table.add_column(column, overflow="fold")
    style = {
        "ingested": "green",
        "quarantined": "yellow",
        "failed": "bold red",
        "rejected": "bold red",
        "unsupported": "bold red",
        "skipped": "dim",
    }
    for r in rows:
        table.add_row(
            str(r["path"]),
            f"[{style.get(str(r['status']), '')}]{r['status']}[/]",
            f"{r['rows']:,}",
            str(r["batch_id"]),
            str(r["archive_path"] or "—"),
            str(r["reason"] or "")[:160],
        )
    console.print(table)


def reprocess(
    batch: Annotated[str, typer.Argument(help="The batch id to replay (see `shoplake batches`)")],
    lake: Lake = None,
    landing: Landing = None,
    archive: Archive = None,
    wait: Wait = 0.0,
    pipeline: PipelineOpt = None,
    engine: EngineOpt = None,
    debug: Debug = False,
) -> None:
    """Replay a failed or suspect batch from its archived files, without duplicating rows."""
    from shoplake.ingest.loader import reprocess as replay

    with common.errors(debug):
        settings = common.settings(
            lake, landing, pipeline=pipeline, engine=engine, reads=("lake",)
        )
        config = common.loader_config(settings, archive=archive, wait_s=wait)
        result = replay(
            common.load_pipeline(settings.pipeline),
            common.engine(settings),
            common.open_landing(settings),
            batch,
            config=config,
        )
    if result.run is not None:
        console.print(run_table(result.run))
        for note in source_notes(result.run):
            common.print_note(note)
        for message in run_messages(result.run):
            common.print_error(message)
    console.print(batch_line(result))
    if result.status != "succeeded":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
    app.command("batches")(batches)
    app.command("files")(files)
    app.command("reprocess")(reprocess)
