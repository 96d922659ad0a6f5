"""One update fed from a landing folder: the runner with the landing's readers for sources.

The core runner (``pipeline/runner.py``) knows nothing of files; this module gives
it the :data:`~shoplake.pipeline.runner.SourceFlow` that reads each source's new
landing files (``ingest/bronze.py``) and each event stream's JSON-lines files
(the no-broker mode).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import cast

from shoplake.engines.base import Engine
from shoplake.ingest.bronze import IngestOptions, run_source
from shoplake.ingest.stream_files import run_stream_files
from shoplake.pipeline.context import FlowContext
from shoplake.pipeline.graph import build_graph
from shoplake.pipeline.listeners import RunListener
from shoplake.pipeline.results import FlowResult, RunResult
from shoplake.pipeline.runner import Progress, SourceFlow, run_pipeline, select_tables
from shoplake.pipeline.tables import Pipeline, SourceDef, StreamSourceDef
from shoplake.sources.remote import RemoteLanding

Landing = Path | RemoteLanding


def landing_sources(landing: str | Landing, options: IngestOptions | None = None) -> SourceFlow:
    """The reader of every source definition from ``landing`` (a folder, or an object-store
    landing from ``sources/remote.py``); ``options`` bound and restrict what it takes."""
    where = Path(landing) if isinstance(landing, str) else landing

    def run(ctx: FlowContext, definition: SourceDef | StreamSourceDef) -> FlowResult:
        # An object-store landing reads and lists like a folder (sources/remote.py).
        folder = cast(Path, where)
        if isinstance(definition, SourceDef):
            try:
                return run_source(ctx, definition, folder, options)
            finally:
                if options is not None:
                    # Failed before its turn to plan: the sources after it must not wait.
                    options.budget.planned(definition.ref)
        return run_stream_files(ctx, definition, folder)

    return run


def run_update(
    pipeline: Pipeline,
    *,
    engine: Engine,
    landing: str | Landing,
    select: Iterable[str] | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
    run_id: str | None = None,
    ingest: IngestOptions | None = None,
    done: Iterable[FlowResult] = (),
    parallelism: int | None = None,
    listener: RunListener | None = None,
) -> RunResult:
    """Process what is new in ``landing`` and upstream tables for the selected tables.

    Sources read concurrently (``parallelism``, see ``run_pipeline``) but take their
    share of a limited batch (``max_files``/``max_bytes``) in graph order."""
    if ingest is not None:
        chosen = select_tables(build_graph(pipeline), select)
        ingest.budget.order = tuple(r for r in chosen if r in sources_refs(pipeline))
    return run_pipeline(
        pipeline,
        engine=engine,
        sources=landing_sources(landing, ingest),
        select=select,
        full_refresh=full_refresh,
        progress=progress,
        run_id=run_id,
        done=done,
        parallelism=parallelism,
        listener=listener,
    )


def sources_refs(pipeline: Pipeline) -> set[str]:
    return {ref for ref, d in pipeline.definitions.items() if isinstance(d, SourceDef)}
