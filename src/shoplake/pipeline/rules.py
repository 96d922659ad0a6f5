"""Applying a table's expectations to its flagged rows: counts, ``fail``, ``drop`` and
``quarantine`` (rows written to ``quarantine/<table>`` with the rule, severity,
provenance and the row as JSON, exactly once per consumed batch)."""

from __future__ import annotations

from collections.abc import Mapping
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


@dataclass(frozen=True)
class RuleOutcome:
    """The rows a flow keeps after its rules, and what the rules did."""

    kept: nw.DataFrame[Any]
    dropped: int
    quarantined: int
    rules: tuple[RuleResult, ...]


@dataclass(frozen=True)
class RuleVerdict:
    """What a table's rules decide about its rows, before anything is written."""

    kept: nw.DataFrame[Any]
    quarantined: nw.DataFrame[Any]  # data columns plus each rule's flag column
    dropped: int
    rules: tuple[RuleResult, ...]
    flags: list[str]
    data_columns: list[str]


def judge_rows(definition: TableDef, flagged: nw.DataFrame[Any]) -> RuleVerdict:
    """Count each rule's passes and failures, stop on a failing ``fail`` rule (naming it
    with a sample of offending rows), and split the rows into kept, quarantined and
    dropped. Pure: nothing is written (``shoplake.testing`` shows the verdict as is)."""
    rules = definition.rules
    flags = [flag_column(i) for i in range(len(rules))]
    data_columns = [c for c in flagged.columns if c not in flags]
    if not rules:
        return RuleVerdict(flagged, flagged.head(0), 0, (), flags, data_columns)
    total = len(flagged)
    passed_counts = flagged.select(*[nw.col(f).sum().alias(f) for f in flags]).row(0)
    results = tuple(
        RuleResult(r.name, r.action.value, r.severity.value, int(p or 0), total - int(p or 0))
        for r, p in zip(rules, passed_counts, strict=True)
    )
    for rule, flag, result in zip(rules, flags, results, strict=True):
        if rule.action is Action.FAIL and result.failed:
            sample = flagged.filter(~nw.col(flag)).select(data_columns).head(SAMPLE_ROWS)
            raise ExpectationFailed(
                definition.ref, rule.name, result.failed, sample.rows(named=True)
            )

    in_quarantine = failing(definition, flags, Action.QUARANTINE)
    removed = in_quarantine | failing(definition, flags, Action.DROP)
    marked = flagged.with_columns(
        in_quarantine.alias("__shoplake_q"), removed.alias("__shoplake_removed")
    )
    quarantined = marked.filter(nw.col("__shoplake_q")).drop("__shoplake_q", "__shoplake_removed")
    kept = marked.filter(~nw.col("__shoplake_removed")).select(data_columns)
    dropped = total - len(kept) - len(quarantined)
    return RuleVerdict(kept, quarantined, dropped, results, flags, data_columns)


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


def apply_rules(
    ctx: FlowContext,
    definition: TableDef,
    flagged: nw.DataFrame[Any],
    consumed: Mapping[str, int],
    full: bool,
    rows_read: int | None = None,
) -> RuleOutcome:
    """Judge the rows (:func:`judge_rows`) and the batch (``table_rules``), then write the
    quarantined rows and keep the rest: a failing ``fail`` rule of either sort stops the
    flow before anything, the quarantine included, is written."""
    verdict = judge_rows(definition, flagged)
    checked: tuple[RuleResult, ...] = ()
    if definition.checks:
        volumes = [c.runs for c in definition.checks if isinstance(c, Volume)]
        history = recent_input_rows(ctx.engine, definition.ref, max(volumes)) if volumes else []
        checked = judge_table(
            definition.checks,
            definition.ref,
            verdict.kept,
            len(flagged) if rows_read is None else rows_read,
            now=ctx.started_at,
            history=history,
        )
    if not definition.rules:
        return RuleOutcome(verdict.kept, 0, 0, checked)
    quarantined = verdict.quarantined
    if len(quarantined) or full:
        write_quarantine(
            ctx, definition, quarantined, verdict.flags, verdict.data_columns, consumed, full
        )
    return RuleOutcome(verdict.kept, verdict.dropped, len(quarantined), verdict.rules + checked)


def write_quarantine(
    ctx: FlowContext,
    definition: TableDef,
    rows: nw.DataFrame[Any],
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
    record = engine.rows_as_json(rows, data_columns)
    frame = rows.with_columns(
        nw.lit(definition.ref).alias("table"),
        rule.alias("rule"),
        failed_rules.alias("failed_rules"),
        severity.alias("severity"),
        nw.lit(ctx.run_id).alias("run_id"),
        nw.lit(ctx.started_at).alias("quarantined_at"),
        record.alias("record"),
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
