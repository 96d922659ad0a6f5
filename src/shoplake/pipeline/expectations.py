"""Expectations: named, engine-neutral data-quality rules with an action and a severity.

A row *fails* an expectation when its condition is false or null. What happens
to it depends on the action:

- ``warn``: the row is kept; the failure is counted.
- ``drop``: the row is removed; the failure is counted.
- ``quarantine``: the row is removed and written to ``quarantine/<table>`` with
  the rule, its severity and the row itself.
- ``fail``: the flow stops, commits nothing, and names the rule and a sample.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import narwhals as nw

from shoplake.errors import DefinitionError


class Action(StrEnum):
    WARN = "warn"
    DROP = "drop"
    QUARANTINE = "quarantine"
    FAIL = "fail"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITY_WEIGHT: dict[Severity, int] = {
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 4,
    Severity.CRITICAL: 8,
}

_RULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Expectation:
    """A row-level rule: ``condition`` must hold for a row to pass."""

    name: str
    condition: nw.Expr
    action: Action
    severity: Severity
    description: str = ""

    def flag(self) -> nw.Expr:
        """True where the row passes; null counts as a failure."""
        return self.condition.fill_null(value=False)


@dataclass(frozen=True)
class ExistsIn:
    """A cross-table rule: the row's ``columns`` must exist in ``ref``'s ``ref_columns``.

    Rows whose columns are null pass (pair it with a not-null rule if null
    is wrong too), as a foreign key does in SQL.
    """

    name: str
    columns: tuple[str, ...]
    ref: str
    ref_columns: tuple[str, ...]
    action: Action
    severity: Severity
    description: str = ""


@dataclass(frozen=True)
class Unique:
    """A key rule: no two rows of a batch share ``columns``. Every row of a repeated key
    fails (which copy is right cannot be told); rows with a null key pass, as in SQL."""

    name: str
    columns: tuple[str, ...]
    action: Action
    severity: Severity
    description: str = ""

    def flag(self) -> nw.Expr:
        any_null = nw.any_horizontal(
            *[nw.col(c).is_null() for c in self.columns], ignore_nulls=False
        )
        repeated = nw.col(self.columns[0]).count().over(*self.columns) > 1
        return any_null | ~repeated


@dataclass(frozen=True)
class EqualsSum:
    """An aggregate rule: a row's ``column`` equals the sum of ``ref_column`` over the rows
    of ``ref`` with the same ``on`` key, within ``tolerance`` (an order's total and its
    lines). A row without such rows is compared with 0; a null ``column`` fails."""

    name: str
    column: str
    ref: str
    ref_column: str
    on: tuple[str, ...]
    ref_on: tuple[str, ...]
    tolerance: float
    action: Action
    severity: Severity
    description: str = ""


Rule = Expectation | ExistsIn | Unique | EqualsSum


def referenced(rules: tuple[Rule, ...] | list[Rule]) -> set[str]:
    """The other tables a table's rules read (``expect_exists``, ``expect_equals_sum``)."""
    return {r.ref for r in rules if isinstance(r, ExistsIn | EqualsSum)}


def check_common(name: str, action: str, severity: str) -> tuple[Action, Severity]:
    if not _RULE_NAME.fullmatch(name):
        raise DefinitionError(
            f"expectation name {name!r} is not an identifier: use letters, digits and '_' "
            "(for example 'valid_email')"
        )
    try:
        act = Action(action)
    except ValueError:
        choices = ", ".join(a.value for a in Action)
        raise DefinitionError(
            f"expectation '{name}': unknown action {action!r}; use one of {choices}"
        ) from None
    try:
        sev = Severity(severity)
    except ValueError:
        choices = ", ".join(s.value for s in Severity)
        raise DefinitionError(
            f"expectation '{name}': unknown severity {severity!r}; use one of {choices}"
        ) from None
    return act, sev


def expect(
    name: str,
    condition: nw.Expr,
    *,
    action: str = "warn",
    severity: str = "medium",
    description: str = "",
) -> Expectation:
    """Declare a row-level rule.

    Example::

        expect("positive_quantity", nw.col("quantity") > 0, action="quarantine", severity="high")
    """
    act, sev = check_common(name, action, severity)
    if not isinstance(condition, nw.Expr):
        raise DefinitionError(
            f"expectation '{name}': the condition must be a narwhals expression such as "
            f"nw.col('quantity') > 0, not {type(condition).__name__}"
        )
    return Expectation(name, condition, act, sev, description)


def expect_exists(
    name: str,
    columns: str | list[str],
    *,
    ref: str,
    ref_columns: str | list[str] | None = None,
    action: str = "quarantine",
    severity: str = "high",
    description: str = "",
) -> ExistsIn:
    """Declare a cross-table rule: every non-null key must exist in ``ref`` ("layer.name").

    Example::

        expect_exists("customer_exists", "customer_id", ref="silver.customers")
    """
    act, sev = check_common(name, action, severity)
    cols, ref_cols = _key_pair(name, columns, ref_columns, "columns")
    _check_ref(name, ref)
    return ExistsIn(name, cols, ref, ref_cols, act, sev, description)


def _names(columns: str | list[str]) -> tuple[str, ...]:
    return (columns,) if isinstance(columns, str) else tuple(columns)


def _key_pair(
    name: str, keys: str | list[str], ref_keys: str | list[str] | None, what: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A rule's key columns and the ``ref`` table's (the same names unless given)."""
    mine = _names(keys)
    theirs = mine if ref_keys is None else _names(ref_keys)
    if not mine or len(mine) != len(theirs):
        raise DefinitionError(
            f"expectation '{name}': give as many ref_{what} as {what} ({mine} vs {theirs})"
        )
    return mine, theirs


def _check_ref(name: str, ref: str) -> None:
    if ref.count(".") != 1:
        raise DefinitionError(
            f"expectation '{name}': ref {ref!r} must name a table as 'layer.name', "
            "for example 'silver.customers'"
        )


def expect_unique(
    name: str,
    columns: str | list[str],
    *,
    action: str = "quarantine",
    severity: str = "high",
    description: str = "",
) -> Unique:
    """Declare a primary-key rule: within each batch, no two rows share ``columns``.

    Example::

        expect_unique("one_row_per_line", ["order_id", "line_number"])
    """
    act, sev = check_common(name, action, severity)
    cols = _names(columns)
    if not cols:
        raise DefinitionError(f"expectation '{name}': name the key columns")
    return Unique(name, cols, act, sev, description)


def expect_equals_sum(
    name: str,
    column: str,
    *,
    ref: str,
    ref_column: str,
    on: str | list[str],
    ref_on: str | list[str] | None = None,
    tolerance: float = 0.0,
    action: str = "warn",
    severity: str = "medium",
    description: str = "",
) -> EqualsSum:
    """Declare an aggregate rule: ``column`` equals the sum of ``ref``'s ``ref_column`` over
    its rows with the same key, within ``tolerance``.

    Example::

        expect_equals_sum("total_matches_lines", "total_amount", ref="silver.order_items",
                          ref_column="line_amount", on="order_id", tolerance=0.01)
    """
    act, sev = check_common(name, action, severity)
    keys, ref_keys = _key_pair(name, on, ref_on, "on")
    _check_ref(name, ref)
    if tolerance < 0:
        raise DefinitionError(f"expectation '{name}': tolerance must be 0 or more")
    return EqualsSum(
        name, column, ref, ref_column, keys, ref_keys, tolerance, act, sev, description
    )


def flag_column(index: int) -> str:
    return f"__shoplake_rule_{index}"


def add_rule_flags(
    frame: nw.LazyFrame[Any], rules: tuple[Rule, ...], refs: dict[str, nw.LazyFrame[Any]]
) -> nw.LazyFrame[Any]:
    """Add one boolean column per rule (true = passed), engine-neutrally."""
    for index, rule in enumerate(rules):
        column = flag_column(index)
        if isinstance(rule, Expectation | Unique):
            frame = frame.with_columns(rule.flag().alias(column))
            continue
        marker = f"{column}_hit"
        if isinstance(rule, EqualsSum):
            renames = [nw.col(r).alias(c) for c, r in zip(rule.on, rule.ref_on, strict=True)]
            sums = (
                refs[rule.ref]
                .select(*renames, nw.col(rule.ref_column).alias(marker))
                .group_by(*rule.on)
                .agg(nw.col(marker).sum())
            )
            difference = (nw.col(rule.column) - nw.col(marker).fill_null(0)).abs()
            frame = (
                frame.join(sums, on=list(rule.on), how="left")
                .with_columns((difference <= rule.tolerance).fill_null(value=False).alias(column))
                .drop(marker)
            )
            continue
        # Only the ref keys this frame holds matter: narrowing first keeps the dedup small
        # when a batch of rows is checked against a large table.
        wanted = frame.select(*rule.columns).unique()
        keys = (
            refs[rule.ref]
            .select(
                *[nw.col(r).alias(c) for c, r in zip(rule.columns, rule.ref_columns, strict=True)]
            )
            .join(wanted, on=list(rule.columns), how="semi")
            .unique()
            .with_columns(nw.lit(True).alias(marker))
        )
        any_null = nw.any_horizontal(
            *[nw.col(c).is_null() for c in rule.columns], ignore_nulls=False
        )
        frame = (
            frame.join(keys, on=list(rule.columns), how="left")
            .with_columns((any_null | nw.col(marker).fill_null(value=False)).alias(column))
            .drop(marker)
        )
    return frame


def quality_score(results: list[tuple[Severity, int, int]]) -> float | None:
    """Severity-weighted share of passing checks, 0–100 (None when nothing was checked).

    ``results`` holds (severity, passed, failed) per rule. A failure of a
    critical rule weighs eight times one of a low rule.
    """
    total = sum(SEVERITY_WEIGHT[sev] * (p + f) for sev, p, f in results)
    if total == 0:
        return None
    passed = sum(SEVERITY_WEIGHT[sev] * p for sev, p, _ in results)
    return round(100.0 * passed / total, 2)
