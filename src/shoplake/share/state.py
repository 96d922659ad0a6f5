"""What ``shoplake serve``'s endpoints share: the server's state, the caller's view of the
lake, and the checks of names and bodies every endpoint makes (a 400 naming the fault)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
from pydantic import BaseModel, ValidationError

from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.governance.masking import MaskingPolicy
from shoplake.observe.lake import LakeReader
from shoplake.share import uc_models as uc
from shoplake.share.access import AccessControl, Caller
from shoplake.share.audit import AuditLog
from shoplake.share.limits import Limits
from shoplake.share.middleware import ApiError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_Body = TypeVar("_Body", bound=BaseModel)


@dataclass
class ServerState:
    reader: LakeReader
    engine: PolarsDeltaEngine
    access: AccessControl
    audit: AuditLog
    catalog: str
    masking: MaskingPolicy | None
    limits: Limits
    created_at: int = field(default_factory=lambda: int(time.time() * 1000))
    """When this server started: the catalog's and schemas' dates (they live nowhere)."""
    query_slots: anyio.CapacityLimiter | None = None
    """Queries running at once (made in the server's event loop, at start)."""
    _described: dict[tuple[str, int, str], uc.TableInfo] = field(default_factory=dict)

    def describe(self, ref: str, naive_as: str = "timestamp_ntz") -> uc.TableInfo | None:
        """The table's description, kept per Delta version (a version never changes)."""
        version = self.engine.version(ref)
        if version is None:
            return None
        key = (ref, version, naive_as)
        if key not in self._described:
            info = uc.table_info(self.engine, self.catalog, ref, naive_as)
            if info is None:
                return None
            self._described[key] = info
        return self._described[key]


def parse_body(model: type[_Body], raw: bytes, example: str) -> _Body:
    """The request's JSON body as ``model``, or a 400 naming what is wrong with it."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors()
        )
        raise ApiError(
            400, "INVALID_PARAMETER_VALUE", f"{problems} (send JSON: {example})"
        ) from None


def check_name(part: str, what: str) -> str:
    if not IDENTIFIER.match(part):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{what} {part!r} is not a valid name")
    return part


def visible(state: ServerState, caller: Caller, layer: str | None = None) -> list[str]:
    return [
        ref
        for ref in state.reader.tables()
        if ref.split(".", 1)[0] in uc.SHARED_LAYERS
        and (layer is None or ref.split(".", 1)[0] == layer)
        and caller.may_select(ref)
    ]


def split_name(full_name: str, parts: int) -> list[str]:
    pieces = full_name.split(".")
    if len(pieces) != parts:
        shape = "catalog.schema" if parts == 2 else "catalog.schema.table"
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{full_name!r}: write it as {shape}")
    return [check_name(p, "name") for p in pieces]
