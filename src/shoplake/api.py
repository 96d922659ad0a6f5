"""The plain functions behind the public API: run and validate a pipeline on a lake.

They compose the core runner with the landing-folder stage, so a user (or a test)
runs a pipeline in two lines; the ``shoplake`` command calls the same functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from shoplake.engines import DEFAULT_ENGINE, create_engine
from shoplake.engines.base import Engine
from shoplake.pipeline.listeners import RunListener
from shoplake.pipeline.results import RunResult
from shoplake.pipeline.runner import Progress
from shoplake.pipeline.tables import Pipeline


def _engine(
    lake: str | Path | None,
    engine: str | Engine | None,
    storage_options: Mapping[str, str] | None,
) -> Engine:
    if engine is not None and not isinstance(engine, str):
        return engine
    if lake is None:
        raise TypeError("give the lake (a folder or URI) or an engine built by create_engine")
    return create_engine(str(lake), engine or DEFAULT_ENGINE, storage_options=storage_options)


def run(
    pipeline: Pipeline,
    *,
    lake: str | Path | None = None,
    landing: str | Path = "./landing",
    engine: str | Engine | None = None,
    storage_options: Mapping[str, str] | None = None,
    select: Iterable[str] | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
    parallelism: int | None = None,
    listener: RunListener | None = None,
) -> RunResult:
    """Run one update: new landing files into bronze, then every selected table downstream.

    Exactly once and incremental, as ``shoplake run``; landing files are left in place
    (``shoplake run`` also archives them and keeps ``_system/batches``). Independent
    tables are built concurrently, ``parallelism`` at once (default: the cores; 1 builds
    them one after another).

    Example::

        import shoplake

        result = shoplake.run(pipeline, lake="./lake", landing="./landing")
        assert result.status == "completed"
        result.flow("silver.orders").rows_written
    """
    from shoplake.ingest.update import run_update

    return run_update(
        pipeline,
        engine=_engine(lake, engine, storage_options),
        landing=Path(landing) if isinstance(landing, Path) else landing,
        select=select,
        full_refresh=full_refresh,
        progress=progress,
        parallelism=parallelism,
        listener=listener,
    )


def validate(
    pipeline: Pipeline,
    *,
    lake: str | Path | None = None,
    engine: str | Engine | None = None,
    storage_options: Mapping[str, str] | None = None,
) -> list[str]:
    """A dry run: the graph and every table's code checked on empty frames, nothing written.

    Returns the problems found (empty when the pipeline is sound).

    Example::

        problems = shoplake.validate(pipeline, lake="./lake")
    """
    from shoplake.pipeline.validate import validate_pipeline

    return validate_pipeline(pipeline, _engine(lake, engine, storage_options))
