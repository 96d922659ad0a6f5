"""A request's own DuckDB: the caller's granted tables as masked views, and nothing else.

Built fresh for each query, with external access off and the configuration locked from
the moment it is opened (before any SQL runs), replacement scans of Python objects off,
no extension auto-loading, and a temp folder of its own — new, empty, under a random
name, removed afterwards — instead of DuckDB's default ``.tmp`` in the server's working
folder, which external-access-off still lets a query read.

Each view is a relation over the table's Arrow dataset with the masking applied in the
same relation (``from_arrow(...).project(...).create_view``): no unmasked scan exists
under any name, so nothing a query names can reach a raw column.

Beside it, a *shadow* connection holds the same names as empty tables of the same
columns; :func:`shoplake.share.sqlcheck.check_plan` binds the query there, so the
binder's verdict concerns exactly the names the query will run against.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Collection, Sequence
from typing import Any

import duckdb

from shoplake.engines.base import Engine
from shoplake.governance.masking import MaskingPolicy
from shoplake.observe.sql import register_mask
from shoplake.share import uc_models as uc
from shoplake.share.sqlcheck import check_plan

_PART = re.compile(r"^[a-z_][a-z0-9_]*$")
_LOCKED: dict[str, Any] = {
    "enable_external_access": False,
    "lock_configuration": True,
    "python_enable_replacements": False,  # a bare name never reaches a Python variable
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def shareable(ref: str) -> bool:
    """Whether ``ref`` may ever be served: a table of a shared layer (never ``_system``),
    named as plain lower-case identifiers."""
    layer, dot, name = ref.partition(".")
    return bool(dot) and layer in uc.SHARED_LAYERS and bool(_PART.match(name))


def locked_connection(temp_directory: str = "") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that can reach no file but ``temp_directory`` (none when empty)
    and whose settings no statement can change."""
    return duckdb.connect(":memory:", config={**_LOCKED, "temp_directory": temp_directory})


class Sandbox:
    """The connection a query runs in (``con``) and its shadow for the plan check.

    Example::

        with Sandbox(engine, ["gold.dim_customer"], masking=policy, clear=()) as box:
            box.check("SELECT count(*) FROM gold.dim_customer")
            box.con.execute(...)
    """

    def __init__(
        self,
        engine: Engine,
        tables: Sequence[str],
        *,
        masking: MaskingPolicy | None,
        clear: Collection[str] = (),
    ) -> None:
        refused = [ref for ref in tables if not shareable(ref)]
        if refused:
            raise ValueError(f"not shareable through SQL: {', '.join(refused)}")
        self.tables = tuple(tables)
        self._temp = tempfile.mkdtemp(prefix="shoplake-sql-")
        self._datasets: list[object] = []  # the views read them lazily: keep them alive
        self._masks: set[str] = set()
        self.con = locked_connection(self._temp)
        self.shadow = locked_connection()
        try:
            for ref in self.tables:
                self._add(engine, ref, masking if ref not in clear else None)
            self.con.execute("USE memory.main")
            self.shadow.execute("USE memory.main")
        except BaseException:
            self.close()
            raise

    def _add(self, engine: Engine, ref: str, masking: MaskingPolicy | None) -> None:
        layer, name = ref.split(".", 1)
        dataset = engine.arrow_dataset(ref)
        self._datasets.append(dataset)
        relation = self.con.from_arrow(dataset)
        if masking is not None:
            relation = self._masked(engine, ref, relation, masking)
        for con in (self.con, self.shadow):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(layer)}")
            # A relation's view lands in the current schema.
            con.execute(f"USE {_ident(layer)}")
        relation.create_view(name, replace=False)
        columns = ", ".join(
            f"{_ident(column)} {kind}"
            for column, kind in zip(relation.columns, relation.types, strict=True)
        )
        self.shadow.execute(f"CREATE TABLE {_ident(layer)}.{_ident(name)} ({columns})")

    def _masked(
        self,
        engine: Engine,
        ref: str,
        relation: duckdb.DuckDBPyRelation,
        masking: MaskingPolicy,
    ) -> duckdb.DuckDBPyRelation:
        from shoplake.governance.catalog import stored_pii

        replaced = []
        for column, pii_class in stored_pii(engine, ref).items():
            if column not in relation.columns:
                continue
            function = f"__mask_{pii_class}"
            if not _PART.match(function):
                raise ValueError(f"{ref}.{column}: PII class {pii_class!r} is not a name")
            if function not in self._masks:
                self._register_mask(function, pii_class, masking)
            replaced.append(f"{function}(CAST({_ident(column)} AS VARCHAR)) AS {_ident(column)}")
        if not replaced:
            return relation
        return relation.project(f"* REPLACE ({', '.join(replaced)})")

    def _register_mask(self, function: str, pii_class: str, masking: MaskingPolicy) -> None:
        register_mask(self.con, function, pii_class, masking)
        self._masks.add(function)

    def check(self, query: str) -> None:
        """Refuse ``query`` (:class:`~shoplake.share.sqlcheck.QueryRefused`) unless its
        plan reads only this sandbox's views."""
        check_plan(self.shadow, query, self.tables)

    def close(self) -> None:
        for con in (self.con, self.shadow):
            con.close()
        self._datasets.clear()
        shutil.rmtree(self._temp, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
