"""Listening to a run: what a lineage emitter (or any observer) hears, and the guarantee
that a listener never fails or stops a run."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from shoplake.pipeline.graph import Graph
from shoplake.pipeline.results import FlowResult, RunResult

_log = logging.getLogger(__name__)


class RunListener(Protocol):
    """Called by the runner as a run and its flows start and end (from the flows' threads:
    a listener is thread-safe)."""

    def run_started(
        self, run_id: str, refs: Sequence[str], graph: Graph, started: datetime
    ) -> None: ...

    def flow_started(self, run_id: str, ref: str) -> None: ...

    def flow_finished(self, run_id: str, result: FlowResult) -> None: ...

    def run_finished(self, run: RunResult, ended: datetime) -> None: ...


def tell(listener: RunListener | None, event: str, *args: object) -> None:
    """``listener.<event>(*args)``; a listener's error is logged, never raised."""
    if listener is None:
        return
    try:
        getattr(listener, event)(*args)
    except Exception:  # an observer must not change the run's outcome
        _log.warning("run listener %s failed on %s", type(listener).__name__, event, exc_info=True)
