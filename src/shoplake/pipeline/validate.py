"""A dry run: check the graph and every table's code on empty frames, writing nothing.

Each table's function runs on zero-row inputs with the right columns (a
source's declared columns, or what the upstream function produced), so a
misspelled column, a rule on a missing column or a key that the output lacks
is reported before any data moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import narwhals as nw

from shoplake.engines.base import Engine
from shoplake.errors import FlowError, first_line
from shoplake.names import BRONZE_LINEAGE, STREAM_BRONZE
from shoplake.pipeline.context import as_lazy
from shoplake.pipeline.expectations import add_rule_flags, referenced
from shoplake.pipeline.graph import build_graph
from shoplake.pipeline.table_rules import Fresh
from shoplake.pipeline.tables import THIS, Pipeline, SourceDef, StreamSourceDef

_DTYPES: Mapping[str, nw.dtypes.DType] = {
    "string": nw.String(),
    "int32": nw.Int32(),
    "int64": nw.Int64(),
    "binary": nw.Binary(),
    "datetime[ms]": nw.Datetime("ms"),
    "datetime[us]": nw.Datetime("us"),
}


# What a run gives a hinted source column (``shoplake.names.HINT_TYPES``).
_HINTS: Mapping[str, nw.dtypes.DType] = {
    "string": nw.String(),
    "int": nw.Int64(),
    "float": nw.Float64(),
    "bool": nw.Boolean(),
    "date": nw.Date(),
    "datetime": nw.Datetime("us"),
}


def _schema(types: Mapping[str, str]) -> dict[str, nw.dtypes.DType]:
    """A schema of ``shoplake.names`` type names as narwhals dtypes."""
    return {column: _DTYPES[kind] for column, kind in types.items()}


def validate_pipeline(pipeline: Pipeline, engine: Engine) -> list[str]:
    """Every problem found, each naming its table; an empty list means the pipeline is sound."""
    graph = build_graph(pipeline)
    problems = list(graph.problems)
    if problems:
        return problems
    schemas: dict[str, dict[str, nw.dtypes.DType]] = {}
    for ref in graph.order:
        definition = graph.definitions[ref]
        if isinstance(definition, SourceDef):
            # Typed as a run reads them: text, or the column's hinted type.
            hints = dict(definition.hints)
            schema: dict[str, nw.dtypes.DType] = {
                c: _HINTS[hints.get(c, "string")] for c in definition.columns
            }
            schema.update(_schema(BRONZE_LINEAGE))
            schemas[ref] = schema
            continue
        if isinstance(definition, StreamSourceDef):
            schemas[ref] = _schema(STREAM_BRONZE)
            continue
        missing = [r for r in graph.upstream(ref) if r not in schemas]
        if missing:
            problems.append(f"{ref}: not checked, because {', '.join(sorted(missing))} failed")
            continue
        frames: dict[str, nw.LazyFrame[Any] | None] = {
            param: engine.empty(schemas[src]) for param, src in graph.inputs[ref].items()
        }
        if definition.wants_this:
            frames[THIS] = None
        refs = {ref: engine.empty(schemas[ref]) for ref in referenced(definition.rules)}
        try:
            output = as_lazy(definition.fn(**frames), ref)
            out_schema = dict(output.collect_schema())
            engine.collect(add_rule_flags(output, definition.rules, refs))
        except FlowError as err:
            problems.append(str(err))
            continue
        except Exception as err:  # user code: any error is a finding
            problems.append(f"{ref}: {type(err).__name__}: {first_line(err)}")
            continue
        for check in definition.checks:
            if isinstance(check, Fresh) and check.column not in out_schema:
                problems.append(
                    f"{ref}: expectation '{check.name}' checks column '{check.column}', which "
                    f"is not in the output; it has: {', '.join(out_schema)}"
                )
        wanted = dict.fromkeys([*definition.partition_by, *definition.kind.required_columns])
        for column in wanted:
            if column not in out_schema:
                problems.append(
                    f"{ref}: column '{column}' (a key, sequence or partition column) is not in "
                    f"the output; it has: {', '.join(out_schema)}"
                )
        # Downstream tables see what the kind stores (SCD2 adds its history columns).
        out_schema = definition.kind.stored_schema(out_schema)
        schemas[ref] = out_schema
    return problems

