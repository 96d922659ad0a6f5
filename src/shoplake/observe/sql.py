"""SQL over the lake: DuckDB with every Delta table visible as ``layer.name``.

Each layer becomes a DuckDB schema and each table a view over the Arrow dataset
the engine gives (with the lake's storage options), so queries read only the
files and columns they need and a query can join across layers
(``SELECT … FROM gold.x JOIN silver.y …``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from shoplake.errors import ShoplakeError
from shoplake.observe.lake import LakeReader

if TYPE_CHECKING:
    from shoplake.governance.masking import MaskingPolicy

_TABLE_REF = re.compile(r"\b(?:from|join)\s+\"?([a-z_][a-z0-9_]*)\"?\.\"?([a-z_][a-z0-9_]*)", re.I)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def register_mask(
    con: duckdb.DuckDBPyConnection, function: str, pii_class: str, masking: MaskingPolicy
) -> None:
    """``function(VARCHAR) -> VARCHAR`` in ``con``: the policy's mask of ``pii_class``,
    applied to a whole Arrow batch at once (nulls stay null unless the mask says)."""
    from duckdb.func import FunctionNullHandling, PythonUDFType

    mask = masking.mask(pii_class)

    def apply(values: pa.Array) -> pa.Array:
        return pa.array([mask(v) for v in values.to_pylist()], type=pa.string())

    con.create_function(
        function,
        apply,
        ["VARCHAR"],
        "VARCHAR",
        type=PythonUDFType.ARROW,
        null_handling=FunctionNullHandling.SPECIAL,
    )


class SqlError(ShoplakeError):
    """A query could not run: unknown table, bad SQL, or an unwritable output."""


class LakeSql:
    """A DuckDB connection with the lake's tables registered.

    With ``masking``, each classified column (``Column(pii=...)``) of a table reads
    masked as the policy says for its class, whatever the query does with it.

    Example::

        with LakeSql(LakeReader("./lake")) as sql:
            sql.query("SELECT tier, count(*) FROM gold.customer_segments GROUP BY tier")
    """

    def __init__(
        self,
        lake: LakeReader,
        *,
        masking: MaskingPolicy | None = None,
        tables: Sequence[str] | None = None,
        clear: Collection[str] = (),
    ) -> None:
        """``tables`` limits the views to those (default: every table of the lake);
        ``clear`` names tables read unmasked despite ``masking``."""
        self.lake = lake
        self.con = duckdb.connect()
        self.tables = lake.tables() if tables is None else list(tables)
        self._datasets: dict[str, object] = {}
        self._masks: set[str] = set()
        # The raw scans get names nobody types by accident; the views are the interface.
        salt = secrets.token_hex(4)
        for ref in self.tables:
            layer, name = ref.split(".", 1)
            self.con.execute(f'CREATE SCHEMA IF NOT EXISTS "{layer}"')
            dataset = lake.engine.arrow_dataset(ref)
            self._datasets[ref] = dataset  # keep a reference: the view reads it lazily
            alias = f"__{layer}__{name}__{salt}"
            self.con.register(alias, dataset)
            unmasked = masking is None or ref in clear
            select = "*" if masking is None or unmasked else self._masked_select(ref, masking)
            self.con.execute(f'CREATE VIEW "{layer}"."{name}" AS SELECT {select} FROM "{alias}"')
            self._comment(ref)

    def _comment(self, ref: str) -> None:
        """The table's description and column comments as DuckDB comments, so
        ``duckdb_views()`` and ``duckdb_columns()`` show the catalog."""
        meta = self.lake.engine.metadata(ref)
        if meta is None:
            return
        view = '"{}"."{}"'.format(*ref.split(".", 1))
        if meta.description:
            self.con.execute(f"COMMENT ON VIEW {view} IS {_quote(meta.description)}")
        for column, values in meta.columns.items():
            if values.get("comment"):
                target = f'{view}."{column}"'
                self.con.execute(f"COMMENT ON COLUMN {target} IS {_quote(values['comment'])}")

    def _masked_select(self, ref: str, masking: MaskingPolicy) -> str:
        from shoplake.governance.catalog import stored_pii

        pii = stored_pii(self.lake.engine, ref)
        replaced = []
        for column, pii_class in pii.items():
            function = f"__mask_{pii_class}"
            if function not in self._masks:
                self._register_mask(function, pii_class, masking)
            replaced.append(f'{function}(CAST("{column}" AS VARCHAR)) AS "{column}"')
        return f"* REPLACE ({', '.join(replaced)})" if replaced else "*"

    def _register_mask(self, function: str, pii_class: str, masking: MaskingPolicy) -> None:
        register_mask(self.con, function, pii_class, masking)
        self._masks.add(function)

    def __enter__(self) -> LakeSql:
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    def _unknown(self, query: str) -> list[str]:
        known = set(self.tables)
        return [
            f"{layer}.{name}"
            for layer, name in _TABLE_REF.findall(query)
            if f"{layer}.{name}" not in known
            and layer.lower() not in ("main", "information_schema")
        ]

    def query(self, query: str) -> pa.Table:
        """Run ``query`` and return its result as Arrow; errors name the fix."""
        unknown = self._unknown(query)
        if unknown:
            listing = ", ".join(self.tables) or "none yet (run `shoplake run` first)"
            raise SqlError(
                f"unknown table {', '.join(sorted(set(unknown)))}; the lake's tables are: {listing}"
            )
        try:
            relation = self.con.sql(query)
            # A statement without a result (SET, CREATE VIEW …) returns None.
            return pa.table({}) if relation is None else relation.to_arrow_table()
        except duckdb.Error as err:
            message = str(err).split("\n\nLINE", 1)[0]
            raise SqlError(f"the query failed: {message}") from err


def write_result(result: pa.Table, out: Path) -> None:
    """Write a query result as CSV or Parquet, chosen by the file's suffix."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as papq

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise SqlError(f"--out {out}: use a .csv or .parquet file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        nested = [f.name for f in result.schema if pa.types.is_nested(f.type)]
        if nested:
            raise SqlError(
                f"--out {out}: CSV cannot hold the nested column(s) {', '.join(nested)}; "
                "select other columns or write .parquet"
            )
        pacsv.write_csv(result, out)
    else:
        papq.write_table(result, out)
