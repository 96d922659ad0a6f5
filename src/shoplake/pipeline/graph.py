"""The dependency graph: resolving inputs, ordering tables, finding structural problems."""

from __future__ import annotations

from dataclasses import dataclass

from shoplake.pipeline.expectations import EqualsSum, ExistsIn, referenced
from shoplake.pipeline.tables import (
    LAYERS,
    THIS,
    Definition,
    Pipeline,
    SourceDef,
    StreamSourceDef,
)


@dataclass(frozen=True)
class Graph:
    """Resolved inputs per table (parameter → ref) and a dependency order."""

    definitions: dict[str, Definition]
    inputs: dict[str, dict[str, str]]
    order: tuple[str, ...]
    problems: tuple[str, ...]

    def upstream(self, ref: str) -> set[str]:
        """Every table ``ref`` reads, directly or through cross-table rules."""
        definition = self.definitions[ref]
        deps = set(self.inputs.get(ref, {}).values())
        deps |= referenced(definition.rules)
        return deps

    def downstream(self, ref: str) -> list[str]:
        return [r for r in self.order if ref in self.upstream(r)]


def _resolve_param(param: str, by_name: dict[str, list[str]], known: set[str]) -> str:
    layer, sep, rest = param.partition("_")
    if sep and layer in LAYERS and f"{layer}.{rest}" in known:
        return f"{layer}.{rest}"
    candidates = by_name.get(param, [])
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise LookupError(
            f"parameter '{param}' is ambiguous: it could be {' or '.join(sorted(candidates))}; "
            f"name it {' or '.join(c.replace('.', '_') for c in sorted(candidates))}"
        )
    raise LookupError(
        f"parameter '{param}' names no table; declare it, or use inputs={{'{param}': 'layer.name'}}"
    )


def build_graph(pipeline: Pipeline) -> Graph:
    """Resolve every table's inputs and order the tables; never raises for data problems,
    collecting them in ``problems`` instead so all can be reported at once."""
    definitions = pipeline.definitions
    known = set(definitions)
    by_name: dict[str, list[str]] = {}
    for ref, definition in definitions.items():
        by_name.setdefault(definition.name, []).append(ref)
    problems: list[str] = []
    inputs: dict[str, dict[str, str]] = {}

    for ref, definition in definitions.items():
        resolved: dict[str, str] = {}
        rule_names: set[str] = set()
        for rule in (*definition.rules, *getattr(definition, "checks", ())):
            if rule.name in rule_names:
                problems.append(f"{ref}: expectation '{rule.name}' is declared twice")
            rule_names.add(rule.name)
            if isinstance(rule, ExistsIn | EqualsSum) and rule.ref not in known:
                problems.append(
                    f"{ref}: expectation '{rule.name}' refers to table '{rule.ref}', "
                    "which is not defined"
                )
        if isinstance(definition, SourceDef | StreamSourceDef):
            inputs[ref] = resolved
            continue
        explicit = dict(definition.explicit_inputs)
        for param in definition.params:
            if param == THIS:
                continue
            if param in explicit:
                target = explicit[param]
                if target not in known:
                    problems.append(
                        f"{ref}: input '{param}' refers to '{target}', which is not defined"
                    )
                    continue
                resolved[param] = target
                continue
            try:
                resolved[param] = _resolve_param(param, by_name, known)
            except LookupError as err:
                problems.append(f"{ref}: {err}")
        if ref in resolved.values():
            problems.append(
                f"{ref}: reads itself; use the parameter name 'this' for its current rows"
            )
        inputs[ref] = resolved

    order, cycle = _toposort(definitions, inputs)
    if cycle:
        problems.append("cycle between tables: " + " -> ".join([*cycle, cycle[0]]))
    return Graph(definitions, inputs, tuple(order), tuple(problems))


def _toposort(
    definitions: dict[str, Definition], inputs: dict[str, dict[str, str]]
) -> tuple[list[str], list[str]]:
    deps: dict[str, set[str]] = {}
    for ref, definition in definitions.items():
        d = {v for v in inputs.get(ref, {}).values() if v in definitions and v != ref}
        d |= {r for r in referenced(definition.rules) if r in definitions}
        d.discard(ref)
        deps[ref] = d
    order: list[str] = []
    done: set[str] = set()
    pending = list(definitions)  # declaration order keeps the result stable
    while pending:
        ready = [r for r in pending if deps[r] <= done]
        if not ready:
            return order, _find_cycle(pending, deps)
        for r in ready:
            order.append(r)
            done.add(r)
        pending = [r for r in pending if r not in done]
    return order, []


def _find_cycle(pending: list[str], deps: dict[str, set[str]]) -> list[str]:
    remaining = set(pending)
    start = pending[0]
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = sorted(d for d in deps[node] if d in remaining)[0]
    return path[seen[node] :]
