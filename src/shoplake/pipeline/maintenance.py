"""Table maintenance: compact small files, Z-order, vacuum old files, checkpoint the log.

Every step is a Delta commit that changes files, never rows (optimize marks its
commits ``dataChange=false``), so a reader at any version sees exactly the rows it
saw before; vacuum only deletes files no version within the retention references.
The retention never goes below :data:`MIN_RETENTION_HOURS` unless forced, because a
reader or writer still working on an older version would lose its files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from shoplake.engines.base import Engine, MaintenanceResult
from shoplake.errors import ShoplakeError
from shoplake.pipeline.faults import fault
from shoplake.pipeline.tables import Pipeline, TableDef

MIN_RETENTION_HOURS = 7 * 24
OPTIMIZE = "OPTIMIZE"
HOUSEKEEPING = ("VACUUM START", "VACUUM END")
"""Commits that maintenance itself makes besides OPTIMIZE; they change no data."""


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table."""

    ref: str
    operation: str  # "compact", "zorder" or "skipped"
    files_before: int
    files_after: int
    files_rewritten: int
    files_vacuumed: int
    version_before: int
    version_after: int
    zorder_by: tuple[str, ...] = field(default=())
    message: str = ""


def check_retention(retention_hours: int, force: bool) -> None:
    """Refuse a retention below the safe minimum unless ``force``."""
    if retention_hours < 0:
        raise ShoplakeError(f"retention must be zero or more hours, got {retention_hours}")
    if retention_hours < MIN_RETENTION_HOURS and not force:
        raise ShoplakeError(
            f"a vacuum retention of {retention_hours} h is below the safe minimum of "
            f"{MIN_RETENTION_HOURS} h (7 days): readers of older versions and running "
            "writers could lose files. Use a longer retention, or --force if no one else "
            "uses the lake"
        )


def commits_since_optimize(engine: Engine, ref: str, limit: int) -> int:
    """Commits since the table's last OPTIMIZE, counting up to ``limit``."""
    count = 0
    for commit in engine.history(ref, limit + 2 * len(HOUSEKEEPING)):
        operation = commit.get("operation")
        if operation == OPTIMIZE:
            break
        if operation not in HOUSEKEEPING:
            count += 1
            if count >= limit:
                break
    return count


def maintain_table(
    engine: Engine,
    ref: str,
    *,
    zorder_by: Iterable[str] = (),
    retention_hours: int = MIN_RETENTION_HOURS,
    force: bool = False,
) -> TableMaintenance:
    """Compact (or Z-order) one table, vacuum it, and checkpoint its log."""
    check_retention(retention_hours, force)
    before = engine.info(ref)
    if before is None:
        raise ShoplakeError(f"{ref}: no such table in the lake")
    columns = tuple(zorder_by)
    optimized = commits_since_optimize(engine, ref, 1) == 0
    step: MaintenanceResult | None = None
    if optimized:
        operation, message = "skipped", "already optimized since its last write"
    elif columns:
        step, operation, message = engine.zorder(ref, columns), "zorder", ""
    else:
        step, operation, message = engine.compact(ref), "compact", ""
    fault("after_compact")
    vacuumed = engine.vacuum(ref, retention_hours, force=force)
    fault("after_vacuum")
    engine.checkpoint(ref)
    after = engine.info(ref)
    assert after is not None
    return TableMaintenance(
        ref=ref,
        operation=operation,
        files_before=before.files,
        files_after=after.files,
        files_rewritten=step.files_removed if step else 0,
        files_vacuumed=vacuumed.files_removed,
        version_before=before.version,
        version_after=after.version,
        zorder_by=columns,
        message=message,
    )


def maintain(
    pipeline: Pipeline,
    engine: Engine,
    *,
    select: Iterable[str] | None = None,
    retention_hours: int = MIN_RETENTION_HOURS,
    force: bool = False,
    every: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[TableMaintenance]:
    """Maintain the pipeline's tables that exist (and the system tables beside them).

    ``select`` limits it to some refs, names or layers; ``every`` to the tables with at
    least that many commits since their last OPTIMIZE (``run``'s automatic mode).
    """
    check_retention(retention_hours, force)
    zorders = {
        ref: d.zorder_by for ref, d in pipeline.definitions.items() if isinstance(d, TableDef)
    }
    wanted = set(select or ())
    results: list[TableMaintenance] = []
    for ref in engine.list_tables():
        layer, _, name = ref.partition(".")
        if wanted and not wanted & {ref, name, layer}:
            continue
        if every is not None and commits_since_optimize(engine, ref, every) < every:
            continue
        if progress:
            progress(ref)
        try:
            done = maintain_table(
                engine,
                ref,
                zorder_by=zorders.get(ref, ()),
                retention_hours=retention_hours,
                force=force,
            )
        except Exception as err:  # a concurrent writer won the commit: the table is as it was
            info = engine.info(ref)
            files, version = (info.files, info.version) if info else (0, -1)
            message = f"{type(err).__name__}: {err}; the table is unchanged, run maintain again"
            done = TableMaintenance(
                ref, "failed", files, files, 0, 0, version, version, zorders.get(ref, ()), message
            )
        results.append(done)
    return results
