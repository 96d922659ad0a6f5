"""Batches: the unit of ingestion, with its record, its archive step and its replay.

A batch is one pipeline update over a bounded set of new landing files:

1. ``_system/batches`` gets a ``running`` row;
2. the pipeline runs (each source commits its files' rows and records together);
3. ``_system/files`` is reconciled from those bronze commits;
4. the batch's files move to the archive;
5. the batch row becomes ``succeeded`` or ``failed``.

A crash anywhere is repaired by the next batch: step 3 and 4 are replayed from
the bronze commits (archived, never ingested twice) and the dead batch is
marked failed. Everything happens under the lake lock, so two processes never
ingest the same file.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shoplake.engines.base import Engine
from shoplake.errors import ShoplakeError, first_line
from shoplake.ingest.archive import ArchivePolicy, archive_prefix, settle
from shoplake.ingest.batch_log import BatchRow, get_batch, list_batches, mark_interrupted
from shoplake.ingest.batch_log import record_batch as _record
from shoplake.ingest.bronze import IngestOptions, file_records, pending
from shoplake.ingest.file_log import file_rows, reconcile_files
from shoplake.ingest.lock import lake_lock
from shoplake.ingest.quiet import is_quiet, note_quiet
from shoplake.ingest.triggers import ManifestError, archive_manifest, manifests, parse_manifest
from shoplake.ingest.update import run_update
from shoplake.names import utcnow
from shoplake.pipeline.faults import fault
from shoplake.pipeline.listeners import RunListener
from shoplake.pipeline.results import RunResult
from shoplake.pipeline.runner import Progress, new_run_id
from shoplake.pipeline.tables import Pipeline, SourceDef
from shoplake.sources.listing import LandedFile, printable


@dataclass(frozen=True)
class LoaderConfig:
    archive: ArchivePolicy = field(default_factory=ArchivePolicy)
    max_files: int | None = None
    max_bytes: int | None = None
    lock_wait_s: float = 0.0
    lock_ttl_s: float = 30.0  # an object-store lake's lease (ingest/lease.py)
    parallelism: int | None = None  # flows at once (None: the cores available)
    listener: RunListener | None = None  # hears every run's flows (lineage events)


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    trigger: str
    status: str  # succeeded | failed | rejected (a manifest)
    run: RunResult | None
    files: int = 0
    quarantined: int = 0
    error: str | None = None
    archived: int = 0
    handled: int = 0  # files recorded in any status (0: the batch took nothing)
    refused: int = 0  # recorded, not read: an unsafe name or a format the source does not read


BatchCallback = Callable[[BatchResult], None]


def sources_of(pipeline: Pipeline) -> list[SourceDef]:
    return [d for d in pipeline.definitions.values() if isinstance(d, SourceDef)]


def backlog(engine: Engine, pipeline: Pipeline, landing: Path) -> int:
    """New files waiting in the landing folder, over every source."""
    return sum(pending(engine, s, landing) for s in sources_of(pipeline))


def recover(engine: Engine, pipeline: Pipeline, landing: Path, config: LoaderConfig) -> None:
    """Finish what a dead process left: mark its batch failed, copy and archive its files."""
    mark_interrupted(engine)
    sources = sources_of(pipeline)
    reconcile_files(engine, sources)
    settle(engine, sources, landing, config.archive)


def run_batch(
    pipeline: Pipeline,
    engine: Engine,
    landing: Path,
    *,
    trigger: str,
    config: LoaderConfig,
    batch_id: str | None = None,
    files: Mapping[str, Sequence[LandedFile] | None] | None = None,
    retry: bool = False,
    archived: Mapping[str, str] | None = None,
    replays: str | None = None,
    select: Sequence[str] | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> BatchResult:
    """One batch (call under :func:`lake_lock`)."""
    started = utcnow()
    batch_id = batch_id or new_run_id(started)
    row = BatchRow(batch_id, trigger, "running", started, replays=replays)
    _record(engine, row)
    clock = time.perf_counter()
    prefix = None if config.archive.mode == "leave" else archive_prefix(batch_id, started)
    options = IngestOptions(
        max_files=config.max_files,
        max_bytes=config.max_bytes,
        files=files,
        retry=retry,
        archive_prefix=prefix,
        archived=dict(archived or {}),
        archive_root=str(config.archive.root_for(landing)) if isinstance(landing, Path) else None,
    )
    sources = sources_of(pipeline)
    try:
        run = run_update(
            pipeline,
            engine=engine,
            landing=landing,
            select=select,
            full_refresh=full_refresh,
            progress=progress,
            run_id=batch_id,
            ingest=options,
            parallelism=config.parallelism,
            listener=config.listener,
        )
        reconcile_files(engine, sources)
        fault("before_archive")
        moved = settle(engine, sources, landing, config.archive)
    except Exception as err:
        crashed = f"{type(err).__name__}: {first_line(err, default='')}"
        # A full disk fails this too; the next batch then marks this one interrupted.
        with contextlib.suppress(Exception):
            _record(engine, _finish(row, clock, "failed", error=crashed))
        raise
    records = [r for s in sources for r in file_records(engine, s)]
    mine = [r for r in records if r.get("batch_id") == batch_id]
    failed_files = [f"{r['path']}: {r['reason']}" for r in mine if r.get("status") == "failed"]
    errors = [f"{f.table}: {f.message}" for f in run.flows if f.status == "failed"]
    if failed_files:
        errors.append(f"{len(failed_files)} file(s) failed: " + "; ".join(failed_files))
    status = "failed" if errors else "succeeded"
    ingested = sum(1 for r in mine if r.get("status") == "ingested")
    quarantined = sum(1 for r in mine if r.get("status") == "quarantined")
    refused = sum(1 for r in mine if r.get("status") in ("rejected", "unsupported"))
    rows = {f.table: f.rows_written for f in run.flows if f.status == "completed"}
    error = "\n".join(errors) or None
    _record(
        engine,
        _finish(
            row, clock, status, error=error, files=ingested, quarantined=quarantined, rows=rows
        ),
    )
    return BatchResult(
        batch_id, trigger, status, run, ingested, quarantined, error, len(moved), len(mine), refused
    )


def _finish(
    row: BatchRow,
    clock: float,
    status: str,
    *,
    error: str | None,
    files: int = 0,
    quarantined: int = 0,
    rows: dict[str, int] | None = None,
) -> BatchRow:
    return BatchRow(
        row.batch_id,
        row.trigger,
        status,
        row.started_at,
        ended_at=utcnow(),
        duration_s=round(time.perf_counter() - clock, 4),
        files=files,
        files_quarantined=quarantined,
        rows=rows or {},
        error=error,
        replays=row.replays,
    )


def process_manifests(
    pipeline: Pipeline,
    engine: Engine,
    landing: Path,
    config: LoaderConfig,
    on_batch: BatchCallback | None = None,
) -> list[BatchResult]:
    """Run each waiting trigger manifest as its own batch, then archive it with its outcome."""
    results: list[BatchResult] = []
    paths = manifests(landing)
    local = paths and isinstance(landing, Path)
    root = config.archive.root_for(landing) if local else Path()  # remote: beside landing
    for path in paths:
        day = utcnow()
        batch_id: str | None = None
        try:
            manifest = parse_manifest(path, landing, sources_of(pipeline))
            batch_id = manifest.batch_id
            earlier = get_batch(engine, batch_id)
            if earlier is not None:
                raise ManifestError(
                    f"batch {batch_id!r} already ran ({earlier.status}); give the manifest a "
                    f"new batch_id, or replay that batch with `shoplake reprocess {batch_id}`"
                )
        except ManifestError as err:
            reason = f"manifest {printable(path.name)} rejected: {err}"
            archive_manifest(path, root, day, None, {"status": "failed", "reason": reason})
            # Recorded under its own id: the batch it names may exist (a duplicate).
            rejected_id = f"{new_run_id(day)}-rejected"
            row = BatchRow(rejected_id, "manifest", "running", day)
            _record(engine, _finish(row, time.perf_counter(), "failed", error=reason))
            result = BatchResult(rejected_id, "manifest", "rejected", None, error=reason)
        else:
            result = run_batch(
                pipeline,
                engine,
                landing,
                trigger="manifest",
                config=config,
                batch_id=manifest.batch_id,
                files=manifest.files,
            )
            outcome = {
                "status": result.status,
                "batch_id": result.batch_id,
                "files": result.files,
                "quarantined": result.quarantined,
                "error": result.error,
            }
            archive_manifest(path, root, day, manifest.batch_id, outcome)
        results.append(result)
        if on_batch:
            on_batch(result)
    return results


def run_available(
    pipeline: Pipeline,
    engine: Engine,
    landing: Path,
    *,
    trigger: str = "run",
    config: LoaderConfig | None = None,
    select: Sequence[str] | None = None,
    full_refresh: bool = False,
    manifests_only: bool = False,
    progress: Progress | None = None,
    on_batch: BatchCallback | None = None,
    stop: threading.Event | None = None,
) -> list[BatchResult]:
    """Process everything available, in batches within the limits, then stop (availableNow).

    Waiting manifests run first, each as its batch. With nothing new, the
    pipeline still runs once (without a batch) so downstream tables catch up.
    ``stop`` ends the loop between batches.
    """
    config = config or LoaderConfig()
    results: list[BatchResult] = []

    def note(result: BatchResult) -> None:
        results.append(result)
        if on_batch:
            on_batch(result)

    with lake_lock(engine.lake, config.lock_wait_s, config.lock_ttl_s), engine.pinned_snapshots():
        whole = not select and not manifests_only  # a run of it all: its end state can be noted
        if whole and not full_refresh and is_quiet(engine, pipeline, landing):
            return results  # nothing landed and no table moved since the last settled run
        recover(engine, pipeline, landing, config)
        process_manifests(pipeline, engine, landing, config, note)
        if manifests_only:
            return results
        if not full_refresh and backlog(engine, pipeline, landing) == 0:
            clock, started = time.perf_counter(), utcnow()
            # No source takes anything here: a file landing meanwhile waits for a batch.
            run = run_update(
                pipeline,
                engine=engine,
                landing=landing,
                select=select,
                progress=progress,
                ingest=IngestOptions(files={}),
                parallelism=config.parallelism,
                listener=config.listener,
            )
            if any(f.status != "skipped" for f in run.flows):
                status = "failed" if run.status == "failed" else "succeeded"
                row = BatchRow(run.run_id, trigger, "running", started)
                errors = [f"{f.table}: {f.message}" for f in run.flows if f.status == "failed"]
                rows = {f.table: f.rows_written for f in run.flows if f.status == "completed"}
                _record(
                    engine, _finish(row, clock, status, error="\n".join(errors) or None, rows=rows)
                )
                note(BatchResult(run.run_id, trigger, status, run))
            if whole and run.status != "failed":
                note_quiet(engine, pipeline, landing)
            return results
        while True:
            result = run_batch(
                pipeline,
                engine,
                landing,
                trigger=trigger,
                config=config,
                select=select,
                full_refresh=full_refresh,
                progress=progress,
            )
            note(result)
            full_refresh = False
            if stop is not None and stop.is_set():
                return results
            # A batch that took no file (say, --select left the sources out) ends the loop.
            if result.status == "failed" or result.handled == 0:
                return results
            if backlog(engine, pipeline, landing) == 0:
                if whole:
                    note_quiet(engine, pipeline, landing)
                return results


def _safe(*names: object) -> bool:
    """Relative names without '..': a row edited by hand cannot lead a replay elsewhere."""
    for name in names:
        if name is None:
            continue
        text = str(name)
        if not text or text.startswith(("/", "\\")) or ".." in text.split("/"):
            return False
    return True


def reprocess(
    pipeline: Pipeline,
    engine: Engine,
    landing: Path,
    batch_id: str,
    *,
    config: LoaderConfig | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Replay a batch from its archived files (or those still in landing).

    Files the batch ingested are recognised by their identity and add nothing;
    files it quarantined or failed are read again (the code or settings may
    have been fixed); then every downstream table catches up.
    """
    config = config or LoaderConfig()
    with lake_lock(engine.lake, config.lock_wait_s, config.lock_ttl_s), engine.pinned_snapshots():
        recover(engine, pipeline, landing, config)
        batch = get_batch(engine, batch_id)
        rows = file_rows(engine, batch_id=batch_id)
        if batch is None and not rows:
            raise ShoplakeError(f"no batch {batch_id!r}: `shoplake batches` lists them")
        root = config.archive.root_for(landing) if isinstance(landing, Path) else Path()
        files: dict[str, list[LandedFile]] = {}
        archived: dict[str, str] = {}
        for row in rows:
            never_read = row["status"] in ("rejected", "unsupported")
            if never_read or not _safe(row["path"], row["archive_path"]):
                continue
            path = str(row["path"])
            copy = root / str(row["archive_path"]) if row["archive_path"] else None
            if not isinstance(landing, Path):  # an object store (sources/remote.py)
                found = landing.archived(str(row["archive_path"])) if copy else None
                stat = landing.stat(path)
                if found is not None:
                    landed = LandedFile(path, found.size, found.mtime_ns, found.location)
                    archived[path] = str(row["archive_path"])
                elif stat is not None:
                    landed = LandedFile(path, *stat)
                else:
                    continue
            elif copy is not None and copy.is_file() and not copy.is_symlink():
                st = copy.stat()
                landed = LandedFile(path, st.st_size, st.st_mtime_ns, location=str(copy))
                archived[path] = str(row["archive_path"])
            elif (landing / path).is_file() and not (landing / path).is_symlink():
                st = (landing / path).stat()
                landed = LandedFile(path, st.st_size, st.st_mtime_ns)
            else:
                continue  # neither archived nor in landing any more (retention)
            listed = files.setdefault(str(row["source"]), [])
            if landed not in listed:
                listed.append(landed)
        replays = sum(1 for b in list_batches(engine) if b.replays == batch_id)
        return run_batch(
            pipeline,
            engine,
            landing,
            trigger="reprocess",
            config=config,
            batch_id=f"{batch_id}-r{replays + 1}",
            files=dict(files),
            retry=True,
            archived=archived,
            replays=batch_id,
            progress=progress,
        )
