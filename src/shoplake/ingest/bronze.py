"""The source flow: new landing files into their bronze table, exactly once.

The bronze commit is the one source of truth for which files were seen: the
record of every file a commit handled (path, size, modified time, content
hash, status, reason, archive location) travels in that commit's metadata,
so the bronze rows and the record of having read them can never disagree,
whatever crashes. ``_system/files`` is reconciled from these records.

Identity policy (see docs/ingestion.md): a file is *new* unless a commit
recorded the same path, size and modified time. A new file whose content
hash equals content already ingested (a copy, a rename, a re-drop) is
recorded as ``skipped`` and adds no rows; content that was quarantined is
not read again until it changes. A file rewritten in place with new content
is new content and is ingested.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shoplake.engines.base import Engine
from shoplake.names import ADD_NEW_COLUMNS
from shoplake.pipeline.context import NO_DATA, FlowContext
from shoplake.pipeline.faults import fault
from shoplake.pipeline.results import FlowResult
from shoplake.pipeline.tables import SourceDef
from shoplake.sources.bronze_frame import bronze_frame
from shoplake.sources.executor_read import (
    CHANGED,
    bronze_schema,
    read_file_of,
    read_task,
    run_read_task,
)
from shoplake.sources.listing import LandedFile, Rejected, scan
from shoplake.sources.readers import NewColumns, ReadFile, ReadSchema, load, parse

FILES_KEY = "shoplake.files"
RUN_KEY = "shoplake.run_id"


def landing_app_id(source: str) -> str:
    return f"landing:{source}"


@dataclass
class Budget:
    """What the sources of one batch have taken so far.

    Sources run concurrently, but share the batch's limits in graph order, exactly as
    if they ran one after another: each plans its files only after the sources before
    it in ``order`` have planned theirs (``turn``), so which files a limited batch
    takes never depends on which thread was faster.
    """

    files: int = 0
    bytes: int = 0
    order: tuple[str, ...] = ()
    _planned: set[str] = field(default_factory=set)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @contextmanager
    def turn(self, ref: str) -> Iterator[None]:
        """Wait until every source before ``ref`` has planned; ``ref`` plans inside."""
        earlier = set(self.order[: self.order.index(ref)]) if ref in self.order else set()
        with self._changed:
            self._changed.wait_for(lambda: earlier <= self._planned)
        try:
            yield
        finally:
            self.planned(ref)

    def planned(self, ref: str) -> None:
        """``ref`` has taken its share (or will take none): the next source may plan."""
        with self._changed:
            self._planned.add(ref)
            self._changed.notify_all()


@dataclass(frozen=True)
class IngestOptions:
    """What one batch may take from the landing folder.

    ``files`` restricts the batch: source → exact files (a trigger manifest or a
    replay), or None for "discover"; a source absent from it ingests nothing.
    ``retry`` reads files again that were quarantined or failed (a replay).
    ``archive_prefix`` (``<date>/<batch>``) is where this batch's files will be
    moved after the commit, None to leave them in place; ``archived`` gives the
    archive location of files read from the archive. ``max_files`` and
    ``max_bytes`` bound the whole batch, over every source (``budget`` counts
    what the sources before took).
    """

    max_files: int | None = None
    max_bytes: int | None = None
    budget: Budget = field(default_factory=lambda: Budget())
    files: Mapping[str, Sequence[LandedFile] | None] | None = None
    retry: bool = False
    archive_prefix: str | None = None
    archived: Mapping[str, str] = field(default_factory=dict)
    archive_root: str | None = None


def read_schema(source: SourceDef) -> ReadSchema:
    return ReadSchema(source.columns, source.schema_mode, dict(source.hints), source.encoding)


def schema_fingerprint(source: SourceDef) -> str:
    """Changes when the source's columns, mode or hints do: a failed file is then retried."""
    declared = [source.format, source.columns, source.schema_mode, source.hints]
    if source.encoding != "utf-8":  # unchanged for sources declared before encodings
        declared.append(source.encoding)
    text = json.dumps(declared)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Per table: the version read up to, that commit's record text, and all records. A
# long-running watch then reads only the commits since its last batch, not the whole
# history each time; the record text of the last version read tells a table that was
# deleted and created again (same path, same versions, other files) from the one cached.
_SEEN: dict[str, tuple[int, str | None, list[dict[str, object]]]] = {}


def file_records(engine: Engine, source: SourceDef) -> list[dict[str, object]]:
    """Every file record the source's bronze commits hold, oldest first."""
    version = engine.version(source.ref)
    if version is None:
        return []
    uri = engine.uri(source.ref)
    read, last, records = _SEEN.get(uri, (-1, None, []))
    found = engine.commit_metadata_since(source.ref, FILES_KEY, max(read - 1, -1))
    if read >= 0 and (read > version or dict(found).get(read) != last):
        read, records = -1, []  # not the table cached: read it all
        found = engine.commit_metadata_since(source.ref, FILES_KEY, -1)
    new = [(n, value) for n, value in found if n > read]
    if new:
        records = records + [r for _, value in new for r in json.loads(value)]
        _SEEN[uri] = (new[-1][0], new[-1][1], records)
    return records


@dataclass(frozen=True)
class Plan:
    todo: list[LandedFile]
    rejected: list[Rejected]
    left: int  # new files beyond this batch's limits


def plan(
    records: Sequence[Mapping[str, object]],
    source: SourceDef,
    landing: Path,
    options: IngestOptions,
) -> Plan:
    """The files this batch takes for ``source``, within the limits."""
    if options.files is not None:
        if source.name not in options.files:
            return Plan([], [], 0)
        given = options.files[source.name]
        candidates, rejected = (
            scan(landing, source.name, source.format) if given is None else (list(given), [])
        )
    else:
        candidates, rejected = scan(landing, source.name, source.format)
    fingerprint = schema_fingerprint(source)
    by_stat: dict[tuple[object, object, object], Mapping[str, object]] = {}
    for r in records:
        by_stat[(r["path"], r["size"], r["mtime_ns"])] = r

    def seen(file: LandedFile) -> bool:
        record = by_stat.get(file.stat_key)
        if record is None:
            return False
        status = record.get("status", "ingested")
        if status == "failed":
            return not options.retry and record.get("schema") == fingerprint
        if status == "quarantined":
            return not options.retry
        return True

    new = [f for f in candidates if not seen(f)]
    new_rejected = [r for r in rejected if r.stat_key not in by_stat]
    taken: list[LandedFile] = []
    count, size = options.budget.files, options.budget.bytes
    for f in new:
        over_files = options.max_files is not None and count >= options.max_files
        over_bytes = options.max_bytes is not None and count and size + f.size > options.max_bytes
        if over_files or over_bytes:
            break  # (a batch always takes one file, however large)
        taken.append(f)
        count, size = count + 1, size + f.size
    return Plan(taken, new_rejected, len(new) - len(taken))


def _settled(landing: Path, file: LandedFile, raw: bytes) -> bool:
    """Whether the bytes read are the file as listed: a file still being written (or
    rewritten) since the listing is left for a later batch, not recorded half-read."""
    if len(raw) != file.size:
        return False
    if isinstance(landing, Path) and file.location is None:
        try:
            st = (landing / file.path).stat()
        except FileNotFoundError:
            return False
        return (st.st_size, st.st_mtime_ns) == (file.size, file.mtime_ns)
    return True


def pending(engine: Engine, source: SourceDef, landing: Path) -> int:
    """How many files of ``source`` a run would take (names refused included)."""
    p = plan(file_records(engine, source), source, landing, IngestOptions())
    return len(p.todo) + len(p.rejected)


def run_source(
    ctx: FlowContext, source: SourceDef, landing: Path, options: IngestOptions | None = None
) -> FlowResult:
    start = time.perf_counter()
    options = options or IngestOptions()
    engine = ctx.engine
    target = source.ref
    full = ctx.full_refresh or engine.version(target) is None
    records = [] if full else file_records(engine, source)
    archived = dict(options.archived)
    if full and options.files is None and engine.version(target) is not None:
        # A rebuild reads what was archived too, or it would lose every archived file.
        restored = _restorable(file_records(engine, source), landing, options)
        listed = _listed(landing, source)
        in_landing = {f.path for f in listed}
        extra = [(f, a) for f, a in restored if f.path not in in_landing]
        archived.update({f.path: str(a) for f, a in extra})
        options = replace(options, files={source.name: [*listed, *(f for f, _ in extra)]})
    with options.budget.turn(target):
        todo = plan(records, source, landing, options)
        options.budget.files += len(todo.todo)
        options.budget.bytes += sum(f.size for f in todo.todo)
    if not todo.todo and not todo.rejected:
        return FlowResult(target, "source", "skipped", message="no new files")
    schema = read_schema(source)
    fingerprint = schema_fingerprint(source)
    ingested = {str(r["sha256"]): r for r in records if r.get("status", "ingested") == "ingested"}
    quarantined = {str(r["sha256"]): r for r in records if r.get("status") == "quarantined"}
    frames: list[Any] = []  # the source reader's native frames
    handled: list[ReadFile] = []
    unsettled: list[str] = []  # not recorded: the next batch looks at them again
    # A big batch on a cluster engine is read by its executors, not on this machine.
    on_executors = (
        isinstance(landing, Path)
        and schema.mode != ADD_NEW_COLUMNS  # their rows' columns are known only once read
        and engine.distributes(sum(f.size for f in todo.todo))
    )
    tasks: dict[str, tuple[LandedFile, str]] = {}  # content hash -> first file with it
    copies: list[tuple[LandedFile, str]] = []  # later files of the batch with that content
    for file in todo.todo:  # in name order, so the first copy of a content wins
        try:
            raw, digest = load(landing, file)
        except FileNotFoundError:
            unsettled.append(f"{file.path} vanished before it was read")
            continue
        if not _settled(landing, file, raw):
            unsettled.append(f"{file.path} changed while it was read (still being written?)")
            continue
        if digest in ingested:
            earlier = ingested[digest]
            reason = f"already ingested: same content as {earlier['path']}"
            reason += f", ingested in batch {earlier.get('batch_id')}"
            handled.append(ReadFile(file, digest, 0, 0, "skipped", reason))
            continue
        if digest in quarantined and not options.retry:
            earlier = quarantined[digest]
            reason = f"same content quarantined in batch {earlier.get('batch_id')}: "
            handled.append(ReadFile(file, digest, 0, 0, "skipped", reason + str(earlier["reason"])))
            continue
        if on_executors:
            if digest in tasks:
                copies.append((file, digest))
            else:
                tasks[digest] = (file, digest)
            continue
        try:
            frame, result = parse(file, raw, digest, source.format, schema)
        except NewColumns as err:
            handled.append(ReadFile(file, digest, 0, 0, "failed", str(err)))
            continue
        if frame is not None:
            frames.append(frame)
            ingested[digest] = {"path": file.path, "batch_id": ctx.run_id}
        handled.append(result)
    handled += [
        ReadFile(LandedFile(r.path, r.size, r.mtime_ns), "", 0, 0, r.status, r.reason)
        for r in todo.rejected
    ]
    rows: Any = bronze_frame(frames, schema, ctx.run_id, ctx.started_at)
    row_count = len(rows)
    if tasks:
        rows, read = _read_on_executors(ctx, source, schema, landing, list(tasks.values()))
        handled += _with_copies(read, copies, ctx.run_id, unsettled)
        row_count = sum(r.rows for r in read if r.status == "ingested")
        position = {f.path: i for i, f in enumerate(todo.todo)}
        handled.sort(key=lambda r: position.get(r.file.path, len(position)))
    options = replace(options, archived=archived)
    entries = [_entry(r, ctx.run_id, options, fingerprint) for r in handled]
    sequence = (engine.consumed(target, landing_app_id(source.name)) or 0) + 1
    metadata = {RUN_KEY: ctx.run_id, FILES_KEY: json.dumps(entries)}
    if not full and row_count == 0:
        metadata[NO_DATA] = "true"  # files recorded, no rows: nothing downstream to redo
    fault("before_bronze_commit")
    written = (engine.overwrite if full else engine.append)(
        target,
        rows,
        partition_by=source.partition_by,
        transactions={landing_app_id(source.name): sequence},
        metadata=metadata,
    )
    fault("after_bronze_commit")
    counts = {s: sum(1 for r in handled if r.status == s) for s in _STATUSES}
    again = sum(1 for r in handled if r.status == "skipped" and "quarantined" in r.reason[:40])
    counts["skipped"] -= again
    counts["again"] = again
    refused = ("failed", "rejected", "unsupported")
    problems = [f"{r.file.path}: {r.reason}" for r in handled if r.status in refused]
    notes = [f"{n} file(s) {_NOTES[s]}" for s, n in counts.items() if n and s in _NOTES]
    if todo.left:
        notes.append(f"{todo.left} left for the next batch")
    if unsettled:
        notes.append(f"{len(unsettled)} file(s) for the next batch: " + "; ".join(unsettled))
    message = ", ".join(notes)
    if problems:
        message += " — " + "; ".join(problems)
    return FlowResult(
        table=target,
        kind="source",
        status="completed",
        rows_read=row_count,
        rows_written=written.rows_inserted,
        version=written.version,
        duration_s=time.perf_counter() - start,
        files=counts["ingested"],
        message=message,
    )


_STATUSES = ("ingested", "quarantined", "skipped", "failed", "rejected", "unsupported")
_NOTES = {
    "unsupported": "in a format the source does not read",
    "quarantined": "quarantined whole (unreadable)",
    "skipped": "already ingested under another name",
    "again": "with content quarantined before",
    "failed": "failed",
    "rejected": "refused (unsafe name)",
}


def _read_on_executors(
    ctx: FlowContext,
    source: SourceDef,
    schema: ReadSchema,
    landing: Path,
    files: Sequence[tuple[LandedFile, str]],
) -> tuple[Any, list[ReadFile]]:
    """The files' bronze rows, read by the engine's executors (never collected here), and
    what reading each gave."""
    tasks = [
        read_task(landing, f, digest, source.format, schema, ctx.run_id, ctx.started_at)
        for f, digest in files
    ]
    rows, reports = ctx.engine.distribute(tasks, run_read_task, bronze_schema(schema))
    by_path = {f.path: f for f, _ in files}
    read = [read_file_of(r) for r in reports]
    return rows, [replace(r, file=by_path[r.file.path]) for r in read]


def _with_copies(
    read: Sequence[ReadFile],
    copies: Sequence[tuple[LandedFile, str]],
    batch_id: str,
    unsettled: list[str],
) -> list[ReadFile]:
    """Files read by executors, and the batch's later files with the same content, which
    fare as the first one did (as when read one after another on the driver)."""
    done: list[ReadFile] = []
    first = {r.sha256: r for r in read}
    for r in read:
        if r.status == CHANGED:
            unsettled.append(f"{r.file.path} changed while it was read (still being written?)")
        else:
            done.append(r)
    for file, digest in copies:
        twin = first.get(digest)
        if twin is None or twin.status == CHANGED:
            unsettled.append(f"{file.path}: its first copy changed while it was read")
        elif twin.status == "ingested":
            reason = f"already ingested: same content as {twin.file.path}, ingested in batch "
            done.append(ReadFile(file, digest, 0, 0, "skipped", reason + batch_id))
        else:
            done.append(ReadFile(file, digest, 0, 0, twin.status, twin.reason))
    return done


def _listed(landing: Path, source: SourceDef) -> list[LandedFile]:
    return scan(landing, source.name, source.format)[0]


def _restorable(
    records: Sequence[Mapping[str, object]], landing: Path, options: IngestOptions
) -> list[tuple[LandedFile, object]]:
    """Archived copies of the files a source ingested, to be read again by a rebuild."""
    found: list[tuple[LandedFile, object]] = []
    for record in records:
        target = record.get("archive")
        if record.get("status", "ingested") != "ingested" or not target:
            continue
        path = str(record["path"])
        if not isinstance(landing, Path):  # an object store (sources/remote.py)
            copy = landing.archived(str(target))
            if copy is not None:
                found.append((LandedFile(path, copy.size, copy.mtime_ns, copy.location), target))
            continue
        if options.archive_root is None:
            continue
        local = Path(options.archive_root) / str(target)
        if local.is_file() and not local.is_symlink():
            st = local.stat()
            found.append((LandedFile(path, st.st_size, st.st_mtime_ns, str(local)), target))
    return found


def _entry(
    read: ReadFile, batch_id: str, options: IngestOptions, fingerprint: str
) -> dict[str, object]:
    entry = read.record()
    entry["batch_id"] = batch_id
    entry["schema"] = fingerprint
    archive: str | None = None
    # A failed file stays in landing to be retried; a refused name, or a file of another
    # format, is never touched: no archive location is recorded for them.
    if read.status not in ("failed", "rejected", "unsupported"):
        if read.file.path in options.archived:
            archive = options.archived[read.file.path]
        elif options.archive_prefix is not None and read.file.location is None:
            archive = f"{options.archive_prefix}/{read.file.path}"
    entry["archive"] = archive
    return entry
