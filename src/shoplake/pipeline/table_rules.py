"""Rules about a whole batch rather than one row: how many rows, how that compares with
the table's recent batches, and how fresh the newest row is.

They are declared beside the row rules (``expectations=[...]``), with an action —
``warn`` counts a failure, ``fail`` stops the flow before anything is committed,
quarantine included — and a severity; their results go to the event log, the
quality score and the alerts like a row rule's (one check, passed or failed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import narwhals as nw

from shoplake.errors import DefinitionError, ExpectationFailed
from shoplake.pipeline.event_log import EVENT_LOG
from shoplake.pipeline.expectations import Action, Severity, check_common
from shoplake.pipeline.results import RuleResult

_TABLE_ACTIONS = (Action.WARN, Action.FAIL)


@dataclass(frozen=True)
class RowCount:
    """The batch's rows (after the row rules) are between ``min`` and ``max``."""

    name: str
    min: int | None
    max: int | None
    action: Action
    severity: Severity
    description: str = ""


@dataclass(frozen=True)
class Volume:
    """The batch read about as many input rows as the table's recent batches did: within
    ``within`` (0.5 = ±50 %) of their mean over the last ``runs`` completed runs. With
    fewer than two earlier batches it passes (nothing to compare with yet)."""

    name: str
    within: float
    runs: int
    action: Action
    severity: Severity
    description: str = ""


@dataclass(frozen=True)
class Fresh:
    """The newest ``column`` value of the batch is at most ``max_age`` old when it runs."""

    name: str
    column: str
    max_age: timedelta
    action: Action
    severity: Severity
    description: str = ""


TableCheck = RowCount | Volume | Fresh
TABLE_CHECKS = (RowCount, Volume, Fresh)


class TableCheckFailed(ExpectationFailed):
    """A ``fail`` table rule did not hold: the flow stops and commits nothing."""

    def __init__(self, table: str, rule: str, detail: str) -> None:
        self.rule, self.failed, self.sample = rule, 0, []
        super(ExpectationFailed, self).__init__(
            table,
            f"expectation '{rule}' failed: {detail}; nothing was committed. "
            "Fix the input or relax the rule.",
        )


def _table_action(name: str, action: str, severity: str) -> tuple[Action, Severity]:
    act, sev = check_common(name, action, severity)
    if act not in _TABLE_ACTIONS:
        raise DefinitionError(
            f"expectation '{name}': a rule on the whole batch can warn or fail, not {action} "
            "(there is no one row to drop or quarantine)"
        )
    return act, sev


def expect_row_count(
    name: str,
    *,
    min: int | None = None,
    max: int | None = None,
    action: str = "fail",
    severity: str = "high",
    description: str = "",
) -> RowCount:
    """Declare a bound on the rows each batch writes, e.g. ``expect_row_count("some", min=1)``."""
    act, sev = _table_action(name, action, severity)
    if min is None and max is None:
        raise DefinitionError(f"expectation '{name}': give min=, max= or both")
    if min is not None and max is not None and min > max:
        raise DefinitionError(f"expectation '{name}': min {min} is above max {max}")
    return RowCount(name, min, max, act, sev, description)


def expect_volume(
    name: str,
    *,
    within: float = 0.5,
    runs: int = 5,
    action: str = "warn",
    severity: str = "medium",
    description: str = "",
) -> Volume:
    """Declare that a batch's input is near the table's usual volume: a feed that suddenly
    sends half its usual rows (``within=0.5``) fails it."""
    act, sev = _table_action(name, action, severity)
    if not within > 0 or runs < 2:
        raise DefinitionError(f"expectation '{name}': within must be above 0 and runs at least 2")
    return Volume(name, within, runs, act, sev, description)


def expect_fresh(
    name: str,
    column: str,
    *,
    max_age: timedelta,
    action: str = "warn",
    severity: str = "medium",
    description: str = "",
) -> Fresh:
    """Declare that the newest ``column`` (a timestamp) of each batch is recent enough."""
    act, sev = _table_action(name, action, severity)
    if max_age <= timedelta(0):
        raise DefinitionError(f"expectation '{name}': max_age must be positive")
    return Fresh(name, column, max_age, act, sev, description)


def judge_table(
    checks: tuple[TableCheck, ...],
    table: str,
    kept: nw.LazyFrame[Any],
    kept_rows: int,
    rows_read: int,
    *,
    now: datetime,
    history: list[int],
    collect: Callable[[nw.LazyFrame[Any]], nw.DataFrame[Any]],
) -> tuple[RuleResult, ...]:
    """Each check's result on this batch; raises :class:`TableCheckFailed` for the first
    ``fail`` check that does not hold. ``kept`` is the batch's kept rows (the engine's
    plan; ``kept_rows`` of them), ``history`` the input rows of the table's recent
    batches, newest first; ``collect`` runs the one aggregate a freshness check needs."""
    results = []
    for check in checks:
        problem = _problem(check, kept, kept_rows, rows_read, now, history, collect)
        if problem is not None and check.action is Action.FAIL:
            raise TableCheckFailed(table, check.name, problem)
        failed = int(problem is not None)
        results.append(
            RuleResult(check.name, check.action.value, check.severity.value, 1 - failed, failed)
        )
    return tuple(results)


def _problem(
    check: TableCheck,
    kept: nw.LazyFrame[Any],
    kept_rows: int,
    rows_read: int,
    now: datetime,
    history: list[int],
    collect: Callable[[nw.LazyFrame[Any]], nw.DataFrame[Any]],
) -> str | None:
    """Why the check does not hold, or None."""
    if isinstance(check, RowCount):
        rows = kept_rows
        if check.min is not None and rows < check.min:
            return f"the batch has {rows:,} row(s), fewer than {check.min:,}"
        if check.max is not None and rows > check.max:
            return f"the batch has {rows:,} row(s), more than {check.max:,}"
        return None
    if isinstance(check, Volume):
        earlier = history[: check.runs]
        if len(earlier) < 2:
            return None
        usual = sum(earlier) / len(earlier)
        if usual and abs(rows_read - usual) > check.within * usual:
            return (
                f"the batch read {rows_read:,} row(s), against {usual:,.0f} on average over "
                f"the last {len(earlier)} batches (allowed: ±{check.within:.0%})"
            )
        return None
    newest = collect(kept.select(nw.col(check.column).max())).item() if kept_rows else None
    if newest is None or now - newest > check.max_age:
        return f"the newest {check.column} is {newest or 'missing'}, older than {check.max_age}"
    return None


def recent_input_rows(engine: Any, table: str, runs: int) -> list[int]:
    """The input rows of ``table``'s last ``runs`` completed flows, newest first."""
    if engine.version(EVENT_LOG) is None:
        return []
    log = engine.read(EVENT_LOG).filter(
        (nw.col("table") == table)
        & (nw.col("event_type") == "flow_progress")
        & (nw.col("status") == "completed")
    )
    recent = engine.collect(log.sort("timestamp", descending=True).head(runs).select("rows_read"))
    return [int(v) for v in recent.get_column("rows_read").to_list() if v is not None]
