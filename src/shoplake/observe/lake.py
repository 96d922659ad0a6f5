"""The read side of the lake for people: tables as Polars frames, their versions and ages.

The dashboard, the HTML report, ``status`` and alerts all read through this thin
layer, so that "is there a new version?" and "give me the rows" mean the same
everywhere. Reads go through the engine; frames come back eager, for display.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from shoplake.engines import create_engine
from shoplake.engines.base import Engine
from shoplake.names import utc_from_epoch

if TYPE_CHECKING:
    from shoplake.governance.masking import MaskingPolicy

CACHED_TABLES = 64


class LakeReader:
    """Read-only access to one lake.

    Example::

        lake = LakeReader("./lake")
        lake.read("silver.orders")  # a polars DataFrame, or None if not there yet
    """

    def __init__(
        self,
        lake: str,
        *,
        cache: bool = False,
        engine: Engine | None = None,
        masking: MaskingPolicy | None = None,
    ) -> None:
        self.engine = engine if engine is not None else create_engine(lake)
        self.lake = self.engine.lake
        # Set for what people see (dashboard, report): classified columns come masked.
        self.masking = masking
        # A table at a given version never changes, so its rows can be kept: a page that
        # redraws every few seconds then reads only what has a new version.
        self._cache: OrderedDict[tuple[str, int], pl.DataFrame] | None = (
            OrderedDict() if cache else None
        )

    def tables(self) -> list[str]:
        return self.engine.list_tables()

    def exists(self, ref: str) -> bool:
        return self.version(ref) is not None

    def version(self, ref: str) -> int | None:
        return self.engine.version(ref)

    def versions(self) -> dict[str, int]:
        """Every table's latest Delta version: the cheap signal that something changed."""
        out: dict[str, int] = {}
        for ref in self.tables():
            version = self.version(ref)
            if version is not None:
                out[ref] = version
        return out

    def read(self, ref: str, version: int | None = None) -> pl.DataFrame | None:
        """The table's rows (at ``version``), or None if the table does not exist."""
        latest = self.version(ref)
        if latest is None:
            return None
        key = (ref, latest if version is None else version)
        if self._cache is not None and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        native = self.engine.collect(self.engine.read(ref, key[1])).to_native()
        assert isinstance(native, pl.DataFrame)
        if self.masking is not None:
            from shoplake.governance.catalog import stored_pii
            from shoplake.observe.redact import mask_classified

            native = mask_classified(native, stored_pii(self.engine, ref), self.masking)
        if self._cache is not None:
            self._cache[key] = native
            while len(self._cache) > CACHED_TABLES:
                self._cache.popitem(last=False)
        return native

    def rows(self, ref: str) -> list[dict[str, Any]] | None:
        """The table's rows as dicts, or None if it does not exist (a pipeline hook's
        ``read``)."""
        frame = self.read(ref)
        return None if frame is None else frame.to_dicts()

    def last_commit(self, ref: str) -> datetime | None:
        """When the table last committed (UTC, naive), or None."""
        history = self.engine.history(ref, limit=1)
        stamp = history[0].get("timestamp") if history else None
        if not stamp:
            return None
        return utc_from_epoch(int(str(stamp)) / 1000)

    def commit_metadata(self, ref: str, key: str) -> list[str]:
        return self.engine.commit_metadata(ref, key)
