"""Applying a table's expectations to its flagged rows: counts, ``fail``, ``drop`` and
``quarantine`` (rows written to ``quarantine/<table>`` with the rule, severity,
provenance and the row as JSON, exactly once per consumed batch)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import narwhals as nw

from shoplake.errors import ExpectationFailed
from shoplake.names import PROVENANCE
from shoplake.pipeline.context import FlowContext, app_id, quarantine_ref
from shoplake.pipeline.expectations import Action, flag_column
from shoplake.pipeline.results import RuleResult
from shoplake.pipeline.table_rules import Volume, judge_table, recent_input_rows
from shoplake.pipeline.tables import TableDef

SAMPLE_ROWS = 5


Collect = Callable[[nw.LazyFrame[Any]], nw.DataFrame[Any]]
"""Runs a small query (an aggregate, a sample) where the engine is and brings its rows here."""


@dataclass(frozen=True)
class RuleOutcome:
    """The rows a flow keeps after its rules (still the engine's plan), and what the
    rules did."""

    kept: nw.LazyFrame[Any]
    kept_rows: int
    dropped: int
    quarantined: int
    rules: tuple[RuleResult, ...]


@dataclass(frozen=True)
class RuleVerdict:
    """What a table's rules decide about its rows, before anything is written: counts
    computed by the engine, rows left in its plan."""

    kept: nw.LazyFrame[Any]
    quarantined: nw.LazyFrame[Any]  # data columns plus each rule's flag column
    total: int
    kept_rows: int
    quarantined_rows: int
    dropped: int
    rules: tuple[RuleResult, ...]
    flags: list[str]
    data_columns: list[str]


def judge_rows(definition: TableDef, flagged: nw.LazyFrame[Any], collect: Collect) -> RuleVerdict:
    """Count each rule's passes and failures, stop on a failing ``fail`` rule (naming it
    with a sample of offending rows), and split the rows into kept, quarantined and
    dropped. One aggregate query gives every count; only a failing ``fail`` rule's
    sample of rows is brought here. Pure: nothing is written (``shoplake.testing``
    shows the verdict as is)."""
    rules = definition.rules
    flags = [flag_column(i) for i in range(len(rules))]
    data_columns = [c for c in flagged.collect_schema().names() if c not in flags]
    in_quarantine = failing(definition, flags, Action.QUARANTINE)
    removed = in_quarantine | failing(definition, flags, Action.DROP)
    marked = flagged.with_columns(
        in_quarantine.alias("__shoplake_q"), removed.alias("__shoplake_removed")
    )
    one = nw.Int64()
    counts = collect(
        marked.select(
            nw.len().alias("__total"),
            nw.col("__shoplake_q").cast(one).sum().alias("__quarantined"),
            (~nw.col("__shoplake_removed")).cast(one).sum().alias("__kept"),
            *[nw.col(f).cast(one).sum().alias(f) for f in flags],
        )
    ).row(0)
    total, quarantined_rows, kept_rows = (int(n or 0) for n in counts[:3])
    results = tuple(
        RuleResult(r.name, r.action.value, r.severity.value, int(p or 0), total - int(p or 0))
        for r, p in zip(rules, counts[3:], strict=True)
    )
    for rule, flag, result in zip(rules, flags, results, strict=True):
        if rule.action is Action.FAIL and result.failed:
            sample = collect(flagged.filter(~nw.col(flag)).select(data_columns).head(SAMPLE_ROWS))
            raise ExpectationFailed(
                definition.ref, rule.name, result.failed, sample.rows(named=True)
            )
    if not rules:
        return RuleVerdict(flagged, flagged.head(0), total, total, 0, 0, (), flags, data_columns)
    quarantined = marked.filter(nw.col("__shoplake_q")).drop("__shoplake_q", "__shoplake_removed")
    kept = marked.filter(~nw.col("__shoplake_removed")).select(data_columns)
    dropped = total - kept_rows - quarantined_rows
    return RuleVerdict(
        kept, quarantined, total, kept_rows, quarantined_rows, dropped, results, flags, data_columns
    )


def failing(definition: TableDef, flags: list[str], action: Action) -> nw.Expr:
    """True for a row that fails at least one of the table's ``action`` rules."""
    cols = [~nw.col(f) for r, f in zip(definition.rules, flags, strict=True) if r.action is action]
    return nw.any_horizontal(*cols, ignore_nulls=True) if cols else nw.lit(False)


def quarantine_labels(
    definition: TableDef, flags: list[str], action: Action = Action.QUARANTINE
) -> tuple[nw.Expr, nw.Expr, nw.Expr]:
    """For a quarantined row: its first failing quarantine rule, all of them
    (comma-separated), and the first one's severity (``action`` names another kind of
    rule, e.g. the ``drop`` rules a dropped row failed)."""
    q_rules = [
        (r, f) for r, f in zip(definition.rules, flags, strict=True) if r.action is action
    ]
    names = [nw.when(~nw.col(f)).then(nw.lit(r.name)) for r, f in q_rules]
    severities = [nw.when(~nw.col(f)).then(nw.lit(r.severity.value)) for r, f in q_rules]
    return (
        nw.coalesce(*names),
        nw.concat_str(names, separator=",", ignore_nulls=True),
        nw.coalesce(*severities),
    )


def judge(
    ctx: FlowContext, definition: TableDef, flagged: nw.LazyFrame[Any], rows_read: int | None
) -> tuple[RuleVerdict, tuple[RuleResult, ...]]:
    """Judge the rows (:func:`judge_rows`) and the batch (``table_rules``): a failing
    ``fail`` rule of either sort raises before anything is written."""
    verdict = judge_rows(definition, flagged, ctx.engine.collect)
    checked: tuple[RuleResult, ...] = ()
    if definition.checks:
        volumes = [c.runs for c in definition.checks if isinstance(c, Volume)]
        history = recent_input_rows(ctx.engine, definition.ref, max(volumes)) if volumes else []
        checked = judge_table(
            definition.checks,
            definition.ref,
            verdict.kept,
            verdict.kept_rows,
            verdict.total if rows_read is None else rows_read,
            now=ctx.started_at,
            history=history,
            collect=ctx.engine.collect,
        )
    return verdict, checked


def apply_rules(
    ctx: FlowContext,
    definition: TableDef,
    verdict: RuleVerdict,
    checked: tuple[RuleResult, ...],
    consumed: Mapping[str, int],
    full: bool,
) -> RuleOutcome:
    """Write the quarantined rows of a verdict (:func:`judge`) and keep the rest."""
    if not definition.rules:
        return RuleOutcome(verdict.kept, verdict.kept_rows, 0, 0, checked)
    if verdict.quarantined_rows or full:
        write_quarantine(
            ctx,
            definition,
            verdict.quarantined,
            verdict.flags,
            verdict.data_columns,
            consumed,
            full,
        )
    return RuleOutcome(
        verdict.kept,
        verdict.kept_rows,
        verdict.dropped,
        verdict.quarantined_rows,
        verdict.rules + checked,
    )


def write_quarantine(
    ctx: FlowContext,
    definition: TableDef,
    rows: nw.LazyFrame[Any],
    flags: list[str],
    data_columns: list[str],
    consumed: Mapping[str, int],
    full: bool,
) -> None:
    engine = ctx.engine
    target = quarantine_ref(definition.ref)
    transactions = {app_id(definition.ref, ref): v for ref, v in consumed.items()}
    # A table recomputed in full replaces its quarantine too; a partial one adds to it.
    replace = full or (definition.kind.replaces and not definition.kind.partial)
    recorded = {key: engine.consumed(target, key) for key in transactions}
    if not replace and all(
        (done := recorded[key]) is not None and done >= v for key, v in transactions.items()
    ):
        return  # an earlier attempt already wrote this quarantine batch
    if not any(r.action is Action.QUARANTINE for r in definition.rules):
        return
    rule, failed_rules, severity = quarantine_labels(definition, flags)
    provenance = [c for c in PROVENANCE if c in data_columns]
    frame = engine.with_json(rows, data_columns, "record").with_columns(
        nw.lit(definition.ref).alias("table"),
        rule.alias("rule"),
        failed_rules.alias("failed_rules"),
        severity.alias("severity"),
        nw.lit(ctx.run_id).alias("run_id"),
        nw.lit(ctx.started_at).alias("quarantined_at"),
    ).select(
        "table",
        "rule",
        "failed_rules",
        "severity",
        "run_id",
        "quarantined_at",
        *provenance,
        "record",
    )
    write = engine.overwrite if replace else engine.append
    write(target, frame, transactions=transactions, metadata={"shoplake.run_id": ctx.run_id})
