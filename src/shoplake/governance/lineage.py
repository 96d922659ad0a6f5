"""Lineage: table level from the graph, column level from each table's code.

A column's lineage is every input column it is computed from — its values, and the
filters, joins and groupings that decide which rows it sums up. It is *derived* by
running the table's function on empty probe frames of its inputs (the lake's current
schemas) and asking, output column by output column, which input columns the engine
had to read (``Engine.lineage_probe``). Where the engine cannot tell (Spark) or the
function does not run on empty inputs, a column's ``Column(lineage=[...])`` declaration
is used, and the lineage says which it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from shoplake.engines.base import Engine
from shoplake.governance.catalog import TableDetail
from shoplake.pipeline.context import as_lazy
from shoplake.pipeline.graph import Graph
from shoplake.pipeline.tables import THIS, TableDef

DERIVED = "derived"
DECLARED = "declared"


@dataclass(frozen=True)
class ColumnLineage:
    column: str
    inputs: tuple[str, ...]
    """``layer.table.column`` of every input column it is computed from."""
    source: str  # DERIVED or DECLARED


def _declared(definition: TableDef) -> dict[str, ColumnLineage]:
    return {
        name: ColumnLineage(name, tuple(column.lineage), DECLARED)
        for name, column in definition.columns_meta
        if column.lineage
    }


def _input_schemas(engine: Engine, graph: Graph, ref: str) -> dict[str, Any] | None:
    schemas = {}
    for param, src in graph.inputs[ref].items():
        if engine.version(src) is None:
            return None
        schemas[param] = (src, engine.read(src).collect_schema())
    return schemas


def _derive(engine: Engine, graph: Graph, definition: TableDef) -> dict[str, ColumnLineage]:
    inputs = _input_schemas(engine, graph, definition.ref)
    if inputs is None:
        return {}
    reads: dict[str, set[str]] = {}

    def frames() -> dict[str, Any] | None:
        made: dict[str, Any] = {}
        for param, (src, schema) in inputs.items():

            def seen(columns: Sequence[str] | None, src: str = src, schema: Any = schema) -> None:
                reads.setdefault(src, set()).update(schema if columns is None else columns)

            probe = engine.lineage_probe(schema, seen)
            if probe is None:
                return None
            made[param] = probe
        if definition.wants_this:
            made[THIS] = None
        return made

    first = frames()
    if first is None:
        return {}
    try:
        output = as_lazy(definition.fn(**first), definition.ref)
        schema = output.collect_schema()
        columns = list(schema)
        found: dict[str, ColumnLineage] = {}
        for column in columns:
            reads.clear()
            probes = frames()
            assert probes is not None
            engine.collect(as_lazy(definition.fn(**probes), definition.ref).select(column))
            refs = sorted(f"{src}.{c}" for src, cols in reads.items() for c in cols)
            found[column] = ColumnLineage(column, tuple(refs), DERIVED)
    except Exception:  # user code on empty probes: fall back to what is declared
        return {}
    # Columns the kind adds (SCD2 validity, surrogate key) come from its keys and sequence.
    basis = sorted(
        {i for c in definition.kind.required_columns if c in found for i in found[c].inputs}
    )
    stored = list(definition.kind.stored_schema(schema))
    if engine.version(definition.ref) is not None:  # the engine's own bookkeeping too
        stored += list(engine.read(definition.ref).collect_schema())
    for column in stored:
        if column not in found and basis:
            found[column] = ColumnLineage(column, tuple(basis), DERIVED)
    return found


def column_lineage(engine: Engine, graph: Graph, ref: str) -> dict[str, ColumnLineage]:
    """``{output column: its lineage}`` of a computed table ({} for a source): derived from
    the code where the engine can tell, else what the table declares."""
    definition = graph.definitions.get(ref)
    if not isinstance(definition, TableDef):
        return {}
    return {**_declared(definition), **_derive(engine, graph, definition)}


class LineageCache:
    """Column lineage per table, kept while its inputs' schemas (and its own) stay the same:
    a long-running process (``watch``) derives each table's lineage once, not per batch."""

    def __init__(self) -> None:
        self._kept: dict[tuple[object, ...], dict[str, ColumnLineage]] = {}

    def get(self, engine: Engine, graph: Graph, ref: str) -> dict[str, ColumnLineage]:
        refs = sorted({ref, *graph.inputs.get(ref, {}).values()})
        if any(engine.version(r) is None for r in refs):
            return column_lineage(engine, graph, ref)
        key = (ref, *(tuple(engine.read(r).collect_schema().items()) for r in refs))
        if key not in self._kept:
            self._kept[key] = column_lineage(engine, graph, ref)
        return self._kept[key]


def with_column_lineage(engine: Engine, graph: Graph, detail: TableDetail) -> TableDetail:
    """``detail`` with each column's lineage filled in."""
    lineage = column_lineage(engine, graph, detail.entry.ref)
    columns = [
        replace(c, lineage=lineage[c.name].inputs, lineage_source=lineage[c.name].source)
        if c.name in lineage
        else c
        for c in detail.columns
    ]
    return replace(detail, columns=columns)
