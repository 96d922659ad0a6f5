"""``shoplake serve``: the lake behind Unity Catalog's REST API and a SQL endpoint.

Every request needs ``Authorization: Bearer <token>`` (401 without a valid one). A caller
sees only the tables it holds ``SELECT`` on: others are absent from listings and a 403
when named. Every request, allowed or not, goes to the audit log. Paths follow Unity
Catalog's open-source API (``/api/2.1/unity-catalog/...``); SQL is
``POST /api/shoplake/v1/sql``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.errors import ConfigError, first_line
from shoplake.governance.masking import MaskingPolicy
from shoplake.observe.lake import LakeReader
from shoplake.share import uc_models as uc
from shoplake.share.access import AccessControl, Caller
from shoplake.share.audit import QUERY_CAP, AuditEvent, AuditLog
from shoplake.share.query import Limits, QueryRefused, run_query

UC = "/api/2.1/unity-catalog"
SQL = "/api/shoplake/v1/sql"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
_log = logging.getLogger(__name__)
_Body = TypeVar("_Body", bound=BaseModel)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
ENDPOINTS = (
    ("GET", f"{UC}/catalogs"),
    ("GET", f"{UC}/catalogs/{{name}}"),
    ("GET", f"{UC}/schemas"),
    ("GET", f"{UC}/schemas/{{full_name}}"),
    ("GET", f"{UC}/tables"),
    ("GET", f"{UC}/tables/{{full_name}}"),
    ("POST", f"{UC}/temporary-table-credentials"),
    ("POST", SQL),
)


Work = Callable[[Caller, Request], tuple[Any, Sequence[str]]]
"""An endpoint's job: (the answer, the tables it touched) or :class:`ApiError`."""


class ApiError(Exception):
    """An answer in Unity Catalog's error shape: ``{"error_code", "message"}``."""

    def __init__(self, status: int, code: str, message: str, tables: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.tables = status, code, message, tuple(tables)


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


def _body(model: type[_Body], raw: bytes, example: str) -> _Body:
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


def _name(part: str, what: str) -> str:
    if not _IDENTIFIER.match(part):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{what} {part!r} is not a valid name")
    return part


def create_app(
    lake: str,
    *,
    catalog: str = "shoplake",
    masking: MaskingPolicy | None = None,
    limits: Limits | None = None,
    audit_every_s: float = 1.0,
) -> FastAPI:
    """The server's ASGI app over the lake at ``lake``."""
    from shoplake.stores import options_for

    # Tables are read with delta-rs whichever engine writes the lake, with the lake's own
    # storage settings ([storage] / SHOPLAKE_STORAGE_*) on an object store.
    if not _IDENTIFIER.match(catalog):
        raise ConfigError(f"--catalog {catalog!r}: use letters, digits and _ (e.g. shoplake)")
    engine = PolarsDeltaEngine(lake, options_for(lake), reuse_snapshots=True)
    state = ServerState(
        reader=LakeReader(lake, engine=engine),
        engine=engine,
        access=AccessControl(engine),
        audit=AuditLog(engine, audit_every_s),
        catalog=catalog,
        masking=masking,
        limits=limits or Limits(),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.audit.start()
        try:
            yield
        finally:
            state.audit.close()

    app = FastAPI(title="shoplake", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.shoplake = state

    def record(
        request: Request,
        who: str,
        action: str,
        tables: Sequence[str],
        status: int,
        detail: str = "",
    ) -> None:
        client = request.client.host if request.client else ""
        query = getattr(request.state, "query", None)
        state.audit.record(
            AuditEvent(who, action, list(tables), status < 400, status, detail, client, query=query)
        )

    def handle(action: str, work: Work) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else None
            caller = state.access.authenticate(token)
            if caller is None:
                record(request, "anonymous", action, (), 401, "no valid bearer token")
                return _error(
                    401,
                    "UNAUTHENTICATED",
                    "a valid bearer token is required "
                    "(shoplake token create NAME --grant SELECT:gold.*)",
                )
            request.state.body = await request.body()
            request.state.params = dict(request.path_params) | dict(request.query_params)
            request.state.detail = ""
            try:
                result, tables = await run_in_threadpool(work, caller, request)
            except ApiError as err:
                detail = f"{err.message} | {request.state.detail}".strip(" |")
                record(request, caller.name, action, err.tables, err.status, detail)
                return _error(err.status, err.code, err.message)
            except Exception as err:
                # A bug still leaves its trace in the audit log; the server's log gets one
                # masked line (the traceback could quote a caller's data).
                _log.error("%s failed: %s", action, first_line(err))
                record(request, caller.name, action, (), 500, "internal error")
                return _error(500, "INTERNAL_ERROR", "the server failed on this request")
            record(request, caller.name, action, tables, 200, request.state.detail)
            if isinstance(result, Response):
                return result
            return JSONResponse(jsonable_encoder(result))

        return endpoint

    _routes(app, state, handle)
    return app


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error_code": code, "message": message})


def _visible(state: ServerState, caller: Caller, layer: str | None = None) -> list[str]:
    return [
        ref
        for ref in state.reader.tables()
        if ref.split(".", 1)[0] in uc.SHARED_LAYERS
        and (layer is None or ref.split(".", 1)[0] == layer)
        and caller.may_select(ref)
    ]


def _split(full_name: str, parts: int) -> list[str]:
    pieces = full_name.split(".")
    if len(pieces) != parts:
        shape = "catalog.schema" if parts == 2 else "catalog.schema.table"
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{full_name!r}: write it as {shape}")
    return [_name(p, "name") for p in pieces]


def _routes(
    app: FastAPI, state: ServerState, handle: Callable[[str, Work], Callable[[Request], Any]]
) -> None:
    def catalog_info() -> uc.CatalogInfo:
        lake = state.engine.lake
        root = lake if "://" in lake else Path(lake).resolve().as_uri()
        return uc.CatalogInfo(
            name=state.catalog,
            comment=f"The shoplake lake at {root}",
            id=f"shoplake:{state.catalog}",
            storage_root=root,
            storage_location=root,
            created_at=state.created_at,
            updated_at=state.created_at,
        )

    def check_catalog(name: str) -> None:
        if _name(name, "catalog") != state.catalog:
            raise ApiError(
                404,
                "CATALOG_DOES_NOT_EXIST",
                f"no catalog {name!r}; this server has {state.catalog!r}",
            )

    def schema_info(layer: str) -> uc.SchemaInfo:
        return uc.SchemaInfo(
            created_at=state.created_at,
            updated_at=state.created_at,
            name=layer,
            catalog_name=state.catalog,
            comment=uc.LAYER_COMMENTS.get(layer),
            full_name=f"{state.catalog}.{layer}",
            schema_id=f"shoplake:{state.catalog}.{layer}",
        )

    def list_catalogs(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        return uc.ListCatalogsResponse(catalogs=[catalog_info()]), ()

    def get_catalog(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        check_catalog(request.state.params["name"])
        return catalog_info(), ()

    def list_schemas(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        check_catalog(request.state.params.get("catalog_name", ""))
        layers = sorted(
            {r.split(".", 1)[0] for r in _visible(state, caller)}, key=uc.SHARED_LAYERS.index
        )
        return uc.ListSchemasResponse(schemas=[schema_info(layer) for layer in layers]), ()

    def get_schema(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        catalog, layer = _split(request.state.params["full_name"], 2)
        check_catalog(catalog)
        if not _visible(state, caller, layer):
            raise ApiError(
                404, "SCHEMA_DOES_NOT_EXIST", f"no schema {catalog}.{layer} you may read"
            )
        return schema_info(layer), ()

    def list_tables(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        check_catalog(request.state.params.get("catalog_name", ""))
        layer = _name(request.state.params.get("schema_name", ""), "schema")
        refs = _visible(state, caller, layer)
        naive = uc.client_naive_type(request.headers.get("user-agent", ""))
        infos = [i for r in refs if (i := state.describe(r, naive))]
        return uc.ListTablesResponse(tables=infos), refs

    def table_ref(caller: Caller, full_name: str) -> str:
        catalog, layer, name = _split(full_name, 3)
        check_catalog(catalog)
        ref = f"{layer}.{name}"
        if layer not in uc.SHARED_LAYERS or ref not in state.reader.tables():
            raise ApiError(404, "TABLE_DOES_NOT_EXIST", f"no table {full_name}", (ref,))
        if not caller.may_select(ref):
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"no SELECT on {full_name} for "
                f"{caller.name}; ask an owner: shoplake grant {caller.name} SELECT "
                f"{ref}",
                (ref,),
            )
        return ref

    def get_table(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        ref = table_ref(caller, request.state.params["full_name"])
        naive = uc.client_naive_type(request.headers.get("user-agent", ""))
        info = state.describe(ref, naive)
        if info is None:
            raise ApiError(404, "TABLE_DOES_NOT_EXIST", f"no table {ref}", (ref,))
        return info, (ref,)

    def credentials(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        body = _body(
            uc.GenerateTemporaryTableCredential,
            request.state.body,
            '{"table_id": "<table_id from GET /tables/...>", "operation": "READ"}',
        )
        found = [
            r
            for r in _visible(state, caller)
            if (i := state.describe(r)) and i.table_id == body.table_id
        ]
        if not found:
            raise ApiError(
                404, "TABLE_DOES_NOT_EXIST", f"no table with id {body.table_id} you may read"
            )
        if body.operation != "READ":
            raise ApiError(
                403, "PERMISSION_DENIED", "tables here are read-only: ask for READ", found
            )
        location = uc.storage_location(state.engine, found[0])
        if location.startswith("file://"):
            raise ApiError(
                400,
                "FEATURE_NOT_SUPPORTED",
                "the lake is on local disk: the server vends no credentials and does not "
                "control file access; read storage_location directly",
                found,
            )
        raise ApiError(
            501,
            "FEATURE_NOT_SUPPORTED",
            "temporary credentials for object stores are not served yet",
            found,
        )

    def sql(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        request.state.query = uc.sent_query(request.state.body)  # audited with length and hash
        example = '{"query": "SELECT ...", "max_rows": 1000}'
        ask = _body(uc.QueryRequest, request.state.body, example)
        if len(ask.query) > QUERY_CAP:
            raise ApiError(
                400,
                "INVALID_PARAMETER_VALUE",
                f"the query is {len(ask.query):,} characters; at most {QUERY_CAP:,} may run",
            )
        started = time.perf_counter()
        try:
            result = run_query(
                state.reader,
                caller,
                ask.query,
                masking=state.masking,
                limits=state.limits,
                max_rows=ask.max_rows,
            )
        except QueryRefused as err:
            code = {403: "PERMISSION_DENIED", 408: "QUERY_TIMEOUT"}.get(
                err.status, "INVALID_PARAMETER_VALUE"
            )
            raise ApiError(err.status, code, str(err), err.tables) from None
        if ARROW_STREAM in request.headers.get("accept", ""):
            headers = {"x-shoplake-truncated": str(result.truncated).lower()}
            answer = Response(result.arrow_ipc(), media_type=ARROW_STREAM, headers=headers)
            return answer, result.tables
        return result.as_json(time.perf_counter() - started), result.tables

    app.get(f"{UC}/catalogs")(handle("list_catalogs", list_catalogs))
    app.get(f"{UC}/catalogs/{{name}}")(handle("get_catalog", get_catalog))
    app.get(f"{UC}/schemas")(handle("list_schemas", list_schemas))
    app.get(f"{UC}/schemas/{{full_name}}")(handle("get_schema", get_schema))
    app.get(f"{UC}/tables")(handle("list_tables", list_tables))
    app.get(f"{UC}/tables/{{full_name:path}}")(handle("get_table", get_table))
    app.post(f"{UC}/temporary-table-credentials")(handle("credentials", credentials))
    app.post(SQL)(handle("query", sql))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}
