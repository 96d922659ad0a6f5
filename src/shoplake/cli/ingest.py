"""Ingestion commands: ``watch``, ``batches``, ``files``, ``reprocess`` and ``bench-latency``.

``run`` (in ``cli.py``) goes through :func:`execute_batches` too, so both
process a backlog in bounded batches, archive what they committed and record
each batch in ``_system/batches``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shoplake.cli.console import console
from shoplake.config import Settings
from shoplake.errors import ShoplakeError
from shoplake.ingest.archive import ArchivePolicy
from shoplake.ingest.loader import BatchResult, LoaderConfig
from shoplake.pipeline.results import FlowResult
from shoplake.pipeline.tables import Pipeline

Lake = Annotated[str | None, typer.Option("--lake", help="Lake folder or URI [default: ./lake]")]
Landing = Annotated[
    str | None, typer.Option("--landing", help="Landing folder [default: ./landing]")
]
PipelineOpt = Annotated[
    str,
    typer.Option("--pipeline", help="module:attribute of a Pipeline (or a function making one)"),
]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error")]
MaxFiles = Annotated[
    int | None, typer.Option("--max-files", min=1, help="At most this many files per batch")
]
MaxBytes = Annotated[
    int | None, typer.Option("--max-bytes", min=1, help="At most this many bytes per batch")
]
Archive = Annotated[
    str | None,
    typer.Option(
        "--archive", help="After a commit: move (default), delete (after retention), leave"
    ),
]
Wait = Annotated[
    float, typer.Option("--wait", min=0, help="Seconds to wait for another process's lock")
]
ManifestsOnly = Annotated[
    bool,
    typer.Option("--manifests-only", help="Only run batches named by manifests in _triggers/"),
]
DEFAULT_PIPELINE = "shoplake.ecommerce.pipeline:build_pipeline"


def loader_config(
    settings: Settings,
    *,
    max_files: int | None = None,
    max_bytes: int | None = None,
    archive: str | None = None,
    wait_s: float = 0.0,
) -> LoaderConfig:
    """Command-line flags over the settings (file and environment)."""
    policy = ArchivePolicy(
        mode=archive or settings.archive,
        root=Path(settings.archive_dir) if settings.archive_dir else None,
        retention_days=settings.retention_days,
    )
    return LoaderConfig(
        archive=policy,
        max_files=max_files or settings.max_files,
        max_bytes=max_bytes or settings.max_bytes,
        lock_wait_s=wait_s,
    )


def execute_batches(
    pipeline: Pipeline,
    settings: Settings,
    config: LoaderConfig,
    *,
    select: Sequence[str] | None = None,
    full_refresh: bool = False,
    manifests_only: bool = False,
) -> list[BatchResult]:
    """Everything available, batch by batch, with a files bar and the table being built."""
    from shoplake.cli.main import _engine
    from shoplake.ingest.loader import backlog, run_available
    from shoplake.sources.remote import open_landing

    engine = _engine(settings)
    landing = open_landing(settings.landing)
    waiting = backlog(engine, pipeline, landing)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        files = progress.add_task("files", total=waiting or None)
        tables = progress.add_task("starting", total=len(pipeline.definitions))

        def report(ref: str, result: FlowResult | None) -> None:
            if result is None:
                progress.update(tables, description=ref)
                return
            progress.advance(tables)
            if result.kind == "source":
                progress.advance(files, result.files)

        def batch_done(result: BatchResult) -> None:
            progress.reset(tables, description="next batch")

        return run_available(
            pipeline,
            engine,
            landing,
            config=config,
            select=select,
            full_refresh=full_refresh,
            manifests_only=manifests_only,
            progress=report,
            on_batch=batch_done,
        )


def batch_line(result: BatchResult) -> str:
    style = {"succeeded": "green", "failed": "bold red", "rejected": "bold red"}[result.status]
    text = f"[{style}]{result.status}[/] batch {result.batch_id} ({result.trigger})"
    text += f": {result.files} file(s) ingested"
    if result.quarantined:
        text += f", {result.quarantined} quarantined"
    if result.archived:
        text += f", {result.archived} archived"
    if result.run is not None:
        text += f" in {result.run.duration_s:.2f}s"
    if result.error:
        text += f"\n  [red]{result.error}[/]"
    return text


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
    app.command("batches")(batches)
    app.command("files")(files)
    app.command("reprocess")(reprocess)
    app.command("bench-latency")(bench_latency)


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
    max_files: MaxFiles = None,
    max_bytes: MaxBytes = None,
    archive: Archive = None,
    manifests_only: ManifestsOnly = False,
    pipeline: PipelineOpt = DEFAULT_PIPELINE,
    debug: Debug = False,
) -> None:
    """Run continuously: new files (or manifests) start an update within about a second.

    Ctrl-C or SIGTERM stops after the batch being committed.
    """
    from shoplake.cli.gold import auto_maintain
    from shoplake.cli.main import _engine, _fail, _settings, check_alerts, load_pipeline
    from shoplake.ingest.watch import WatchConfig
    from shoplake.ingest.watch import watch as watch_loop
    from shoplake.sources.remote import open_landing

    stop = threading.Event()

    def ask_stop(signum: int, frame: object) -> None:
        if not stop.is_set():
            console.print("[yellow]stopping after the current batch…[/]")
        stop.set()

    previous = {s: signal.signal(s, ask_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        settings = _settings(lake, landing)
        config = loader_config(
            settings, max_files=max_files, max_bytes=max_bytes, archive=archive, wait_s=30.0
        )
        watching = WatchConfig(
            interval_s=interval, cron=cron, poll=poll, manifests_only=manifests_only
        )
        folder = open_landing(settings.landing)
        loaded = load_pipeline(pipeline)

        def after_batch(result: BatchResult) -> None:
            console.print(batch_line(result))
            # Like `run`: maintenance when due (maintain_every), then alert rules.
            auto_maintain(loaded, settings, None, result.status == "succeeded")
            check_alerts(settings.lake, loaded)

        count = watch_loop(
            loaded,
            _engine(settings),
            folder,
            config=config,
            watching=watching,
            stop=stop,
            on_batch=after_batch,
            on_wait=lambda m: console.print(f"[yellow]waiting:[/] {m}"),
            on_ready=lambda: console.print(f"watching {folder} (Ctrl-C to stop)", soft_wrap=True),
        )
    except ShoplakeError as err:
        _fail(err, debug)
        return
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
    from shoplake.cli.main import _engine, _fail, _settings
    from shoplake.ingest.batch_log import list_batches

    try:
        rows = list_batches(_engine(_settings(lake, None)), limit)
    except ShoplakeError as err:
        _fail(err, debug)
        return
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
        typer.Option("--status", help="ingested, quarantined, skipped, failed or rejected"),
    ] = None,
    batch: Annotated[str | None, typer.Option("--batch", help="Only this batch")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest N files")] = 50,
    debug: Debug = False,
) -> None:
    """Landing files seen (``_system/files``): status, reason, batch and archive location."""
    from shoplake.cli.main import _engine, _fail, _settings
    from shoplake.ingest.file_log import file_rows

    try:
        rows = file_rows(_engine(_settings(lake, None)), batch_id=batch, status=status)[:limit]
    except ShoplakeError as err:
        _fail(err, debug)
        return
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
    pipeline: PipelineOpt = DEFAULT_PIPELINE,
    debug: Debug = False,
) -> None:
    """Replay a failed or suspect batch from its archived files, without duplicating rows."""
    from shoplake.cli.console import run_messages, run_table
    from shoplake.cli.main import _engine, _fail, _settings, load_pipeline
    from shoplake.ingest.loader import reprocess as replay
    from shoplake.sources.remote import open_landing

    try:
        settings = _settings(lake, landing)
        config = loader_config(settings, archive=archive, wait_s=wait)
        result = replay(
            load_pipeline(pipeline),
            _engine(settings),
            open_landing(settings.landing),
            batch,
            config=config,
        )
    except ShoplakeError as err:
        _fail(err, debug)
        return
    if result.run is not None:
        console.print(run_table(result.run))
        for message in run_messages(result.run):
            console.print(f"[bold red]Error:[/] {message}")
    console.print(batch_line(result))
    if result.status != "succeeded":
        raise typer.Exit(1)


def bench_latency(
    batches_: Annotated[
        int, typer.Option("--batches", min=1, help="Files dropped one by one")
    ] = 20,
    orders: Annotated[int, typer.Option(help="Orders in the lake before the drops")] = 2000,
    dir: Annotated[Path, typer.Option("--dir", help="Work folder (emptied first)")] = Path(
        "bench-latency-out"
    ),
    debug: Debug = False,
) -> None:
    """Latency under `watch`: a file landing → its rows in gold (p50/p95 over N drops)."""
    from shoplake.bench.latency import run_latency_benchmark
    from shoplake.cli.main import _fail

    try:
        run_latency_benchmark(batches_, orders, dir, console)
    except (ShoplakeError, FileExistsError, TimeoutError) as err:
        _fail(err, debug)
