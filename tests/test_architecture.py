"""The folder tree is the architecture: these rules keep it true.

Every ``import`` in ``src/shoplake`` (at module level or inside a function) is read
with ``ast`` and checked against the layering the packages' docstrings describe.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "shoplake"
CONCRETE = ("polars", "pyarrow", "duckdb", "deltalake", "pyspark", "delta")
STAGES_AND_UP = ("ingest", "streaming", "sources", "observe", "dashboard", "cli", "ecommerce")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. shoplake.pipeline.flows
    target: str  # the imported module, e.g. shoplake.pipeline.kinds
    names: tuple[str, ...]  # names taken with ``from ... import``
    line: int
    top_level: bool

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(), str(path))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.append(Import(module, alias.name, (), node.lineno, id(node) in top))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = tuple(a.name for a in node.names)
                found.append(Import(module, node.module, names, node.lineno, id(node) in top))
    return tuple(found)


def _in(module: str, *packages: str) -> bool:
    return any(module == f"shoplake.{p}" or module.startswith(f"shoplake.{p}.") for p in packages)


def _is_library(target: str, libraries: tuple[str, ...]) -> bool:
    return target.split(".")[0] in libraries


def _resolve(target: str, name: str) -> str:
    """``from shoplake.x import y``: the module y when it is one, else shoplake.x."""
    candidate = f"{target}.{name}"
    path = SRC / Path(*candidate.split("."))
    return candidate if path.with_suffix(".py").exists() or path.is_dir() else target


def test_the_import_reader_sees_the_tree() -> None:
    found = imports()
    assert len({i.module for i in found}) > 100
    assert any(i.module == "shoplake.pipeline.runner" for i in found)


def test_the_core_imports_no_stage_adapter_or_domain() -> None:
    bad = [str(i) for i in imports() if _in(i.module, "pipeline") and _in(i.target, *STAGES_AND_UP)]
    assert bad == []


@pytest.mark.parametrize("package", ["pipeline", "ingest", "streaming", "ecommerce"])
def test_core_stages_and_domain_import_no_concrete_library(package: str) -> None:
    bad = [str(i) for i in imports() if _in(i.module, package) and _is_library(i.target, CONCRETE)]
    assert bad == []


def test_the_spark_engine_neither_imports_nor_wraps_the_polars_engine() -> None:
    """Engines are peers: both build on ``engines/delta_tables.py`` for the log."""
    spark = [i for i in imports() if i.module.startswith("shoplake.engines.spark")]
    bad = [str(i) for i in spark if i.target == "shoplake.engines.polars_delta"]
    bad += [str(i) for i in spark if i.target == "shoplake.engines" and "polars_delta" in i.names]
    assert spark and bad == []


@pytest.mark.parametrize("package", ["observe", "dashboard", "governance"])
def test_observe_dashboard_and_governance_read_tables_only_through_the_engine(package: str) -> None:
    bad = [
        str(i)
        for i in imports()
        if _in(i.module, package)
        and (_is_library(i.target, ("deltalake", "pyspark", "delta")) or _in(i.target, "engines."))
        and not i.target.startswith("shoplake.engines.base")
    ]
    bad += [
        str(i)
        for i in imports()
        if _in(i.module, package)
        and i.target.startswith("shoplake.engines.")
        and i.target != "shoplake.engines.base"
    ]
    assert bad == []


def test_the_domain_uses_only_the_public_api() -> None:
    bad = [
        str(i)
        for i in imports()
        if _in(i.module, "ecommerce")
        and i.target.startswith("shoplake")
        and i.target != "shoplake"
        and not _in(i.target, "ecommerce")
    ]
    assert bad == []


def test_only_the_cli_and_benchmarks_import_the_cli() -> None:
    bad = [str(i) for i in imports() if _in(i.target, "cli") and not _in(i.module, "cli", "bench")]
    assert bad == []


def test_no_module_takes_a_private_name_from_another() -> None:
    bad = [
        f"{i}: {name}"
        for i in imports()
        if i.target.startswith("shoplake")
        for name in i.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert bad == []


def test_cli_leaf_modules_import_common_never_each_other() -> None:
    leaves = {
        _module_name(p)
        for p in (PACKAGE / "cli").glob("*.py")
        if p.stem not in ("__init__", "__main__", "common", "console", "options")
    }
    bad = [
        str(i)
        for i in imports()
        if i.module in leaves
        and (
            i.target in leaves
            or (i.target == "shoplake.cli" and any(f"shoplake.cli.{n}" in leaves for n in i.names))
        )
    ]
    assert bad == []


def test_no_import_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for i in imports():
        if not i.target.startswith("shoplake"):
            continue
        targets = {_resolve(i.target, n) for n in i.names} if i.names else {i.target}
        graph.setdefault(i.module, set()).update(t for t in targets if t != i.module)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            # A package's __init__ re-exporting its own modules is not a cycle.
            if node.startswith(nxt + ".") or nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # The top-level facade re-exports the API its own modules are built from.
    real = [c for c in cycles if "shoplake" not in c]
    assert real == [], "\n".join(" -> ".join(c) for c in real)


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys, shoplake.cli; "
        "heavy = ('polars', 'deltalake', 'pyarrow', 'duckdb', 'confluent_kafka', 'streamlit'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
