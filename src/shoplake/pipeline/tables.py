"""Declaring tables and sources.

A :class:`Pipeline` collects definitions explicitly — no global registry — and
every mistake that can be seen without data is reported here, naming the table
and the fix.
"""

from __future__ import annotations

import codecs
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shoplake.errors import DefinitionError
from shoplake.names import FORMATS, HINT_TYPES, RESCUE, SCHEMA_MODES
from shoplake.pipeline.definitions import (
    THIS,
    Definition,
    FeedDef,
    SourceDef,
    StreamSourceDef,
    TableDef,
)
from shoplake.pipeline.expectations import Rule
from shoplake.pipeline.kinds import KINDS, Kind, Materialized
from shoplake.pipeline.metadata import Column, check_metadata
from shoplake.pipeline.table_rules import TABLE_CHECKS, TableCheck

TableRows = Callable[[str], list[dict[str, Any]] | None]
"""``read(ref)``: a table's rows as dicts, or None when it does not exist yet."""
AlertRule = Callable[[TableRows], list[dict[str, Any]]]
Headline = Callable[[TableRows], dict[str, str]]

LAYERS = ("bronze", "silver", "gold")
SYSTEM_LAYERS = ("quarantine", "_system")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def split_ref(ref: str) -> tuple[str, str]:
    layer, _, name = ref.partition(".")
    return layer, name


def _check_name(what: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise DefinitionError(
            f"{what} name {name!r} must be lower_snake_case (letters, digits, '_'), "
            "because it becomes a folder and a column-safe identifier"
        )


class Pipeline:
    """A set of table definitions that run together.

    Example::

        pipeline = Pipeline("shop")
        pipeline.source("orders", format="jsonl", columns=["order_id", "amount"])

        @pipeline.table(layer="silver", kind=Upsert(keys=["order_id"]))
        def orders(bronze_orders):
            return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._definitions: dict[str, Definition] = {}
        self._feeds: list[FeedDef] = []
        self._alert_rules: dict[str, AlertRule] = {}
        self._headline: Headline | None = None

    # -- hooks for the tools around a run (alerts, the run summary) ---------------------
    def alert_rule(self, name: str) -> Callable[[AlertRule], AlertRule]:
        """Register an alert rule that ``shoplake run``, ``watch`` and ``alerts check``
        evaluate like the built-in ones (enable it by ``name`` in ``[alerts] rules``).

        The rule gets ``read(ref)`` (a table's rows as dicts, or None before it exists)
        and returns one dict per incident: ``key`` (stable, so it fires once), ``title``,
        ``detail``, ``where``, ``look_at`` and optionally ``severity``. Incidents of a
        pipeline's rule are one-off: they stay recorded once sent.

        Example::

            @pipeline.alert_rule("big_refunds")
            def big_refunds(read):
                return [{"key": r["refund_id"], "title": f"refund of {r['amount']}", ...}
                        for r in read("gold.refunds") or [] if r["amount"] > 1000]
        """
        _check_name("alert rule", name)

        def register(rule: AlertRule) -> AlertRule:
            self._alert_rules[name] = rule
            return rule

        return register

    @property
    def alert_rules(self) -> dict[str, AlertRule]:
        return dict(self._alert_rules)

    def headline(self, summary: Headline) -> Headline:
        """Register the headline figures ``run`` and ``demo`` print after a run:
        ``summary(read)`` returns ``{label: shown value}`` (empty when there is nothing yet).
        """
        self._headline = summary
        return summary

    @property
    def headline_figures(self) -> Headline | None:
        return self._headline

    @property
    def definitions(self) -> dict[str, Definition]:
        return dict(self._definitions)

    def _add(self, definition: Definition) -> None:
        if definition.ref in self._definitions:
            raise DefinitionError(
                f"table '{definition.ref}' is defined twice in pipeline '{self.name}'; "
                "rename one of them"
            )
        self._definitions[definition.ref] = definition

    def source(
        self,
        name: str,
        *,
        format: str,
        columns: Iterable[str] | Mapping[str, Column],
        description: str = "",
        rules: Iterable[Rule] = (),
        schema_mode: str = RESCUE,
        hints: dict[str, str] | None = None,
        encoding: str = "utf-8",
        owner: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> SourceDef:
        """Declare a landing-folder source; it becomes the bronze table ``bronze.<name>``.

        ``hints`` types declared columns in bronze (``{"amount": "float"}``);
        ``schema_mode`` is one of rescue, addNewColumns, failOnNewColumns, none;
        ``encoding`` is the files' text encoding (a legacy export: ``"latin-1"``).
        ``columns`` may map each name to a :class:`Column` (comment, PII class): bronze
        carries that metadata, as it does ``owner`` and ``tags``.
        """
        _check_name("source", name)
        if format not in FORMATS:
            raise DefinitionError(
                f"source '{name}': unknown format {format!r}; use one of {', '.join(FORMATS)}"
            )
        described = dict(columns) if isinstance(columns, Mapping) else {}
        tag_items, column_items = check_metadata(f"source '{name}'", owner, tags, described)
        cols = tuple(columns)
        if not cols:
            raise DefinitionError(f"source '{name}': declare at least one column")
        if schema_mode not in SCHEMA_MODES:
            raise DefinitionError(
                f"source '{name}': unknown schema_mode {schema_mode!r}; "
                f"use one of {', '.join(SCHEMA_MODES)}"
            )
        for column in described:
            if column not in cols:
                raise DefinitionError(f"source '{name}': metadata for undeclared column {column!r}")
        for column, kind in (hints or {}).items():
            if column not in cols:
                raise DefinitionError(
                    f"source '{name}': hint for {column!r}, which is not a declared column"
                )
            if kind not in HINT_TYPES:
                raise DefinitionError(
                    f"source '{name}': hint {column}={kind!r}; use one of {', '.join(HINT_TYPES)}"
                )
        try:
            canonical = codecs.lookup(encoding).name
        except LookupError:
            raise DefinitionError(
                f"source '{name}': unknown encoding {encoding!r}; use a Python codec name "
                "such as utf-8, latin-1 or cp1252"
            ) from None
        definition = SourceDef(
            name,
            format,
            cols,
            description,
            rules=tuple(rules),
            schema_mode=schema_mode,
            hints=tuple(sorted((hints or {}).items())),
            encoding=canonical,
            owner=owner,
            tags=tag_items,
            columns_meta=column_items,
        )
        self._add(definition)
        return definition

    @property
    def feeds(self) -> list[FeedDef]:
        return list(self._feeds)

    def feed(self, *, into: str, stream: str) -> Callable[[Callable[..., object]], FeedDef]:
        """Declare that the new rows of ``stream`` also feed table ``into`` (say, order
        events feeding ``bronze.orders``): the decorated function maps them to ``into``'s
        columns. The streaming flow appends them once each, after ``stream`` commits,
        recording the version it consumed in the same commit.

        Example::

            @pipeline.feed(into="bronze.orders", stream="silver.order_events")
            def orders_from_events(events):
                return events.select(...)
        """
        for ref in (into, stream):
            if "." not in ref:
                raise DefinitionError(f"feed: {ref!r} must be a table ref like 'bronze.orders'")

        def decorate(fn: Callable[..., object]) -> FeedDef:
            definition = FeedDef(into, stream, fn)
            self._feeds.append(definition)
            return definition

        return decorate

    def stream_source(
        self,
        name: str,
        *,
        description: str = "",
        owner: str = "",
        tags: Mapping[str, str] | None = None,
        columns: Mapping[str, Column] | None = None,
    ) -> StreamSourceDef:
        """Declare a message stream; it becomes the bronze table ``bronze.<name>``.

        Example::

            pipeline.stream_source("order_events")   # shoplake stream --topic order_events
        """
        _check_name("stream source", name)
        tag_items, column_items = check_metadata(f"stream source '{name}'", owner, tags, columns)
        definition = StreamSourceDef(
            name, description, owner=owner, tags=tag_items, columns_meta=column_items
        )
        self._add(definition)
        return definition

    def table(
        self,
        *,
        layer: str,
        kind: Kind | None = None,
        name: str | None = None,
        inputs: dict[str, str] | None = None,
        stream: str | None = None,
        partition_by: Iterable[str] = (),
        description: str | None = None,
        expectations: Iterable[Rule | TableCheck] = (),
        sla_minutes: int | None = None,
        zorder_by: Iterable[str] = (),
        owner: str = "",
        tags: Mapping[str, str] | None = None,
        columns: Mapping[str, Column] | None = None,
    ) -> Callable[[Callable[..., object]], TableDef]:
        """Declare a table computed by the decorated function.

        Inputs come from the parameter names: ``bronze_orders`` reads
        ``bronze.orders``; a bare name (``customers``) works when only one
        layer has that table; ``inputs={"raw": "bronze.orders"}`` names one
        explicitly; ``this`` receives the table's own current rows (or None
        before its first commit). Incremental kinds read their *stream* input
        (``stream=``, default the first parameter) as new rows only and every
        other input in full. ``zorder_by`` names the columns ``shoplake maintain``
        clusters the table's files by.

        Catalog metadata: the docstring (or ``description``) describes the table,
        ``owner`` and ``tags`` become table properties and ``columns`` maps column names
        to :class:`Column` (comment, PII class, declared lineage).
        """
        if layer not in LAYERS:
            raise DefinitionError(f"unknown layer {layer!r}; use one of {', '.join(LAYERS)}")
        chosen_kind: Kind = kind if kind is not None else Materialized()
        if not isinstance(chosen_kind, KINDS):
            raise DefinitionError(
                "kind must be Append(), Upsert(keys=[...]), ApplyChanges(keys=[...], "
                "sequence_by=...), Materialized(), Partitioned(by=[...], plan=...) or "
                f"ReplaceRows(by=[...], plan=...), not {chosen_kind!r}"
            )
        zorder = tuple(zorder_by)
        overlap = set(zorder) & (set(partition_by) | set(chosen_kind.partition_by))
        if overlap:
            raise DefinitionError(
                f"zorder_by {sorted(overlap)} are partition columns: Z-order only orders rows "
                "within files, so list other columns"
            )
        declared = tuple(expectations)
        checks = tuple(e for e in declared if isinstance(e, TABLE_CHECKS))
        rows = tuple(e for e in declared if not isinstance(e, TABLE_CHECKS))
        rules = rows + chosen_kind.implied_rules()

        def decorate(fn: Callable[..., object]) -> TableDef:
            table_name = name or fn.__name__
            _check_name("table", table_name)
            where = f"table '{layer}.{table_name}'"
            tag_items, column_items = check_metadata(where, owner, tags, columns)
            params = tuple(inspect.signature(fn).parameters)
            explicit = dict(inputs or {})
            for param in explicit:
                if param not in params:
                    raise DefinitionError(
                        f"{where}: inputs names parameter '{param}', but {fn.__name__}() "
                        f"has no such parameter (it has: {', '.join(params) or 'none'})"
                    )
            data_params = [p for p in params if p != THIS]
            stream_param = stream
            if chosen_kind.incremental:
                if not data_params:
                    raise DefinitionError(
                        f"{where}: an incremental table needs at least one input parameter"
                    )
                stream_param = stream or data_params[0]
                if stream_param not in data_params:
                    raise DefinitionError(
                        f"{where}: stream={stream!r} is not a parameter of {fn.__name__}()"
                    )
            elif stream is not None:
                raise DefinitionError(
                    f"{where}: stream= only applies to Append, Upsert and ApplyChanges tables"
                )
            definition = TableDef(
                name=table_name,
                layer=layer,
                kind=chosen_kind,
                fn=fn,
                params=params,
                explicit_inputs=tuple(explicit.items()),
                stream=stream_param,
                partition_by=tuple(partition_by),
                description=description or inspect.getdoc(fn) or "",
                rules=rules,
                sla_minutes=sla_minutes,
                zorder_by=zorder,
                checks=checks,
                owner=owner,
                tags=tag_items,
                columns_meta=column_items,
            )
            self._add(definition)
            return definition

        return decorate
