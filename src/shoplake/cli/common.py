"""What every command shares: options, settings, the engine, the pipeline, the one error
handler, and the glue of a run (batches with progress bars, maintenance, alerts).

Leaf command modules import this module and ``console`` and never each other. Heavy
libraries are imported inside the functions, so ``shoplake --help`` stays instant.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from shoplake.cli.console import console
from shoplake.config import Settings, resolve_settings
from shoplake.config import load_pipeline as import_pipeline
from shoplake.errors import ConfigError, ShoplakeError, StorageError
from shoplake.pipeline.tables import Pipeline

if TYPE_CHECKING:
    from shoplake.engines.base import Engine
    from shoplake.governance.openlineage import LineageEmitter
    from shoplake.ingest.loader import BatchResult, LoaderConfig
    from shoplake.pipeline.results import FlowResult, RunResult

# -- options -----------------------------------------------------------------------------
Lake = Annotated[str | None, typer.Option("--lake", help="Lake folder or URI [default: ./lake]")]
Landing = Annotated[
    str | None, typer.Option("--landing", help="Landing folder [default: ./landing]")
]
PipelineOpt = Annotated[
    str | None,
    typer.Option(
        "--pipeline",
        help="module:attribute of a Pipeline (or a function making one) "
        "[default: pipeline setting, else the e-commerce pipeline]",
    ),
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine", help="Engine that runs the pipeline [default: engine setting, else polars]"
    ),
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
Parallelism = Annotated[
    int | None,
    typer.Option(
        "--parallelism",
        min=1,
        help="Tables built at once [default: parallelism setting, else the cores; 1 = in order]",
    ),
]
Wait = Annotated[
    float, typer.Option("--wait", min=0, help="Seconds to wait for another process's lock")
]
Bootstrap = Annotated[
    str | None,
    typer.Option("--bootstrap", help="Kafka bootstrap servers HOST:PORT (none: landing files)"),
]
ManifestsOnly = Annotated[
    bool,
    typer.Option("--manifests-only", help="Only run batches named by manifests in _triggers/"),
]


# -- errors ------------------------------------------------------------------------------
def fail(err: BaseException, debug: bool) -> NoReturn:
    """The one error handler: ``Error: <one line>`` and exit code 1; the traceback only
    with ``--debug``. Secrets and personal data in the message are masked."""
    if debug:
        from rich.traceback import Traceback

        # From the exception itself: a command may fail outside an ``except`` block.
        console.print(Traceback.from_exception(type(err), err, err.__traceback__))
    print_error(str(err))
    raise typer.Exit(1)


def print_note(message: str) -> None:
    """A line worth reading that is not an error, masked and unwrapped like errors."""
    from rich.markup import escape

    from shoplake.observe.redact import clean_text

    console.print(f"[yellow]{escape(clean_text(message))}[/]", highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    """``Error: <message>`` with secrets and personal data masked, printed as written: not
    read as markup (``[alerts]`` stays) and not wrapped, so it stays one line."""
    from rich.markup import escape

    from shoplake.observe.redact import clean_text

    console.print(
        f"[bold red]Error:[/] {escape(clean_text(message))}", highlight=False, soft_wrap=True
    )


@contextmanager
def native_stderr_quiet(debug: bool) -> Iterator[None]:
    """Rust libraries (delta-rs, object_store) print panics and backtraces straight to the
    process's stderr, whatever Python does; without ``--debug`` that goes to a scratch
    file instead, so a failure reads as the one line :func:`fail` prints. Python's own
    stderr (warnings, a bug's traceback) still reaches the terminal."""
    if debug:
        yield
        return
    try:
        python_on_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a test runner's stand-in stream
        python_on_fd2 = False
    sys.stderr.flush()
    saved = os.dup(2)
    previous = sys.stderr
    if python_on_fd2:
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, errors="backslashreplace")
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if python_on_fd2:
                sys.stderr.close()
                sys.stderr = previous


@contextmanager
def errors(debug: bool, *also: type[Exception]) -> Iterator[None]:
    """Report a library error (``ShoplakeError``, ``ConfigError`` among them) and the
    ``also`` types a command expects (``FileExistsError``...) raised in the block through
    :func:`fail`; anything else is a bug and keeps its traceback."""
    caught: tuple[type[Exception], ...] = (ShoplakeError, *also)
    try:
        with native_stderr_quiet(debug):
            yield
    except caught as err:
        fail(err, debug)
    except Exception as err:
        # A full disk or a read-only lake can strike outside any one table's flow (the
        # lock, a system table), and so can a store refusing a request: still one line,
        # not a storage library's traceback.
        from shoplake.engines.storage_errors import explain_anywhere
        from shoplake.stores import explain_store

        explained = explain_store(err, _LOCATIONS) or explain_anywhere(err)
        if explained is None:
            raise
        failure = StorageError(explained)
        failure.__cause__ = err  # --debug shows the store's own error
        fail(failure, debug)


# -- settings, engine, pipeline ----------------------------------------------------------
_LOCATIONS: list[str] = []
"""The lake and landing of this command, for :func:`errors` to name in a store's error."""

def remember(*locations: str) -> None:
    """The lake and landing a command works on, for :func:`errors` to name."""
    _LOCATIONS[:] = locations


def settings(
    lake: str | None = None,
    landing: str | None = None,
    *,
    pipeline: str | None = None,
    engine: str | None = None,
    reads: tuple[str, ...] = (),
    create: bool = False,
) -> Settings:
    """Command-line options over the environment over ``shoplake.toml`` over defaults,
    every setting checked first. ``reads`` names the locations (``lake``, ``landing``)
    the command reads, which must exist; ``create`` makes a missing landing folder."""
    from shoplake.config_check import check_configuration
    from shoplake.stores import check_location

    check_configuration()
    current, origins = resolve_settings(
        lake=lake, landing=landing, pipeline=pipeline, engine=engine
    )
    remember(current.lake, current.landing)
    for key in ("lake", "landing"):
        where = getattr(current, key)
        said = _named(key, where, origins[key])
        check_location(where, said)
        bare = where.removeprefix("file://")
        if "://" in bare:
            continue  # an object store: a prefix exists once something is written there
        local = Path(bare)
        if local.exists() and not local.is_dir():
            raise ConfigError(
                f"{said} is a file, not a folder: point it at a folder "
                "(it is created when missing)"
            )
        if key == "landing" and create:
            local.mkdir(parents=True, exist_ok=True)
        elif key in reads and not local.exists():
            raise ConfigError(f"{said}: no such folder; {_MISSING_FIX[key]}")
    return current


_MISSING_FIX = {
    "lake": "check the path (a lake is made by `shoplake run` or `shoplake demo`)",
    "landing": "check the path, or make the folder (`shoplake run --create` does)",
}


def _named(key: str, where: str, origin: str) -> str:
    """``--lake /x``, ``lake /x (from SHOPLAKE_LAKE)``: a location as the user set it
    (a URI without what may be secret in it)."""
    from shoplake.stores import display

    where = display(where)
    if origin.startswith("--"):
        return f"{origin} {where}"
    if origin == "default":
        return f"the default {key} {where}"
    return f"{key} {where} (from {origin})"


def load_pipeline(spec: str) -> Pipeline:
    """The commands' one way to a pipeline: imported, then the settings that name its
    parts ([masking] classes) checked against it."""
    from shoplake.governance.masking import check_masking_classes

    pipeline = import_pipeline(spec)
    check_masking_classes(pipeline)
    return pipeline


def engine(current: Settings, *, reuse_snapshots: bool = False) -> Engine:
    """The settings' engine over the settings' lake (the one engine factory);
    ``reuse_snapshots`` for a process that owns its tables (a stream)."""
    from shoplake.engines import create_engine

    if reuse_snapshots:
        return create_engine(current.lake, current.engine, reuse_snapshots=True)
    return create_engine(current.lake, current.engine)


def open_landing(current: Settings) -> Any:
    """The landing folder, or an object-store landing with its archive location."""
    from shoplake.sources.remote import is_remote
    from shoplake.sources.remote import open_landing as opened

    archive = current.archive_dir
    return opened(current.landing, archive if archive and is_remote(archive) else None)


def landing_path(current: Settings) -> Path:
    return Path(current.landing.removeprefix("file://"))


# -- the glue of a run -------------------------------------------------------------------
def loader_config(
    current: Settings,
    *,
    max_files: int | None = None,
    max_bytes: int | None = None,
    archive: str | None = None,
    wait_s: float = 0.0,
    parallelism: int | None = None,
) -> LoaderConfig:
    """Command-line flags over the settings (file and environment)."""
    from shoplake.ingest.archive import ArchivePolicy
    from shoplake.ingest.loader import LoaderConfig

    if current.archive_dir and "://" in current.archive_dir and "://" not in current.landing:
        raise ConfigError(
            f"archive_dir {current.archive_dir}: a landing folder on local disk archives on "
            "local disk; give a folder, or put the landing on the same store"
        )
    policy = ArchivePolicy(
        mode=archive or current.archive,
        root=Path(current.archive_dir)
        if current.archive_dir and "://" not in current.archive_dir
        else None,
        retention_days=current.retention_days,
    )
    return LoaderConfig(
        archive=policy,
        max_files=max_files or current.max_files,
        max_bytes=max_bytes or current.max_bytes,
        lock_wait_s=wait_s,
        lock_ttl_s=current.lock_ttl,
        parallelism=parallelism or current.parallelism,
    )


def execute_batches(
    pipeline: Pipeline,
    current: Settings,
    config: LoaderConfig,
    *,
    select: Sequence[str] | None = None,
    full_refresh: bool = False,
    manifests_only: bool = False,
) -> list[BatchResult]:
    """Everything available, batch by batch, with a files bar and the table being built."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shoplake.ingest.loader import backlog, run_available

    lake_engine = engine(current)
    landing: Any = open_landing(current)
    waiting = backlog(lake_engine, pipeline, landing)
    emitter = lineage_emitter(lake_engine, pipeline)
    if emitter is not None:
        config = replace(config, listener=emitter)
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

        results = run_available(
            pipeline,
            lake_engine,
            landing,
            config=config,
            select=select,
            full_refresh=full_refresh,
            manifests_only=manifests_only,
            progress=report,
            on_batch=batch_done,
        )
    report_lineage(emitter)
    return results


def lineage_emitter(lake_engine: Engine, pipeline: Pipeline) -> LineageEmitter | None:
    """The OpenLineage emitter ``[lineage]`` asks for, or None (the default: off)."""
    from shoplake.governance.settings import load_lineage_settings

    settings = load_lineage_settings()
    if not settings.enabled:
        return None
    from shoplake.governance.openlineage import LineageEmitter

    return LineageEmitter.from_settings(lake_engine, pipeline.name, settings)


def report_lineage(emitter: LineageEmitter | None) -> None:
    """A note when lineage events could not be delivered (the run's outcome stands)."""
    if emitter is not None and emitter.undelivered:
        total = emitter.sent + emitter.undelivered
        print_note(
            f"lineage: {emitter.undelivered} of {total} OpenLineage event(s) not delivered "
            f"({emitter.last_error or 'gave up after repeated failures'})"
        )


def execute_run(pipeline: Pipeline, current: Settings) -> RunResult:
    """Process everything available in batches (progress bars); the last batch's run."""
    from shoplake.pipeline.results import RunResult

    results = execute_batches(pipeline, current, loader_config(current))
    runs = [r.run for r in results if r.run is not None]
    return runs[-1] if runs else RunResult("none")


def auto_maintain(
    pipeline: Pipeline, current: Settings, every: int | None, succeeded: bool
) -> None:
    """After a successful ``run``: maintain the tables due (``every`` commits since the last
    optimize; the ``maintain_every`` setting when not given; 0 = off)."""
    from shoplake.cli.console import maintenance_table
    from shoplake.pipeline.maintenance import MIN_RETENTION_HOURS, maintain

    due = current.maintain_every if every is None else every
    if due <= 0 or not succeeded:
        return
    results = maintain(pipeline, engine(current), every=due)
    if results:
        console.print(maintenance_table(results, MIN_RETENTION_HOURS))


def check_alerts(lake: str, pipeline: Pipeline) -> None:
    """After a run: evaluate the alert rules and send each new incident once."""
    from shoplake.cli.console import alert_check_lines
    from shoplake.observe.alerts import after_run

    result = after_run(
        lake, pipeline, on_error=lambda why: console.print(f"[yellow]alerts not checked:[/] {why}")
    )
    if result is not None and (result.fired or result.delivery_errors or result.deferred):
        for line in alert_check_lines(result):
            console.print(line)
