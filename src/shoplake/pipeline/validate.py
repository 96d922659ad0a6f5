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
from shoplake.errors import FlowError
from shoplake.names import BRONZE_LINEAGE, STREAM_BRONZE
from shoplake.pipeline.context import as_lazy
from shoplake.pipeline.expectations import ExistsIn, add_rule_flags
from shoplake.pipeline.graph import build_graph
from shoplake.pipeline.kinds import ApplyChanges, Upsert
from shoplake.pipeline.tables import THIS, Pipeline, SourceDef, StreamSourceDef

_DTYPES: Mapping[str, nw.dtypes.DType] = {
    "string": nw.String(),
    "int32": nw.Int32(),
    "int64": nw.Int64(),
    "binary": nw.Binary(),
    "datetime[ms]": nw.Datetime("ms"),
    "datetime[us]": nw.Datetime("us"),
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
            schema: dict[str, nw.dtypes.DType] = {c: nw.String() for c in definition.columns}
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
        refs = {
            r.ref: engine.empty(schemas[r.ref]) for r in definition.rules if isinstance(r, ExistsIn)
        }
        try:
            output = as_lazy(definition.fn(**frames), ref)
            out_schema = dict(output.collect_schema())
            engine.collect(add_rule_flags(output, definition.rules, refs))
        except FlowError as err:
            problems.append(str(err))
            continue
        except Exception as err:  # user code: any error is a finding
            problems.append(f"{ref}: {type(err).__name__}: {_first_line(err)}")
            continue
        wanted = list(definition.partition_by)
        if isinstance(definition.kind, Upsert):
            wanted += list(definition.kind.keys)
            if definition.kind.sequence_by:
                wanted.append(definition.kind.sequence_by)
        if isinstance(definition.kind, ApplyChanges):
            wanted += [*definition.kind.keys, definition.kind.sequence_by]
        for column in wanted:
            if column not in out_schema:
                problems.append(
                    f"{ref}: column '{column}' (a key, sequence or partition column) is not in "
                    f"the output; it has: {', '.join(out_schema)}"
                )
        if isinstance(definition.kind, ApplyChanges) and definition.kind.scd_type == 2:
            # Downstream tables also see the history columns the kind adds.
            names, seq = definition.kind.columns, definition.kind.sequence_by
            if seq in out_schema:
                out_schema[names.valid_from] = out_schema[seq]
                out_schema[names.valid_to] = out_schema[seq]
            out_schema[names.is_current] = nw.Boolean()
            out_schema[names.surrogate_key] = nw.Int64()
        schemas[ref] = out_schema
    return problems


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
