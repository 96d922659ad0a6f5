"""``shoplake serve``: the lake behind Unity Catalog's REST API and a SQL endpoint.

Every request needs ``Authorization: Bearer <token>`` (401 without a valid one). A caller
sees only the tables it holds ``SELECT`` on: others are absent from listings and a 404
when named. Every request, allowed or not, whatever its route, goes to the audit log
(:mod:`shoplake.share.middleware`). Paths follow Unity Catalog's open-source API
(``/api/2.1/unity-catalog/...``, listings paged as it defines); SQL is
``POST /api/shoplake/v1/sql``. No OpenAPI document or docs page is served.

Every answer is bounded (:mod:`shoplake.share.limits`): its body on the way in, its time
from arrival to encoded answer, its bytes on the way out. All work but the routing runs
in worker threads, so one caller's big answer does not stall the others or ``/health``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import Response

from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.errors import ConfigError, first_line
from shoplake.governance.masking import MaskingPolicy
from shoplake.observe.lake import LakeReader
from shoplake.share import middleware
from shoplake.share import uc_models as uc
from shoplake.share.access import AccessControl, Caller
from shoplake.share.answer import arrow_answer, json_answer, model_answer
from shoplake.share.audit import QUERY_CAP, AuditLog
from shoplake.share.limits import (
    JSON_ARROW_RATIO,
    QUERY_SLOTS,
    AnswerTooLarge,
    BodyTooLarge,
    Deadline,
    Limits,
)
from shoplake.share.middleware import ApiError, bearer, error_response, read_body
from shoplake.share.paging import page
from shoplake.share.query import QueryRefused, run_query
from shoplake.share.state import (
    IDENTIFIER,
    ServerState,
    check_name,
    parse_body,
    split_name,
    visible,
)

UC = "/api/2.1/unity-catalog"
SQL = "/api/shoplake/v1/sql"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
_log = logging.getLogger(__name__)
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
# ApiError and ServerState live in their own modules now; callers still import them here.
__all__ = ["ENDPOINTS", "ApiError", "ServerState", "create_app"]


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
    if not IDENTIFIER.match(catalog):
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
        state.query_slots = anyio.CapacityLimiter(QUERY_SLOTS)
        state.audit.start()
        try:
            yield
        finally:
            state.audit.close()

    # No OpenAPI document: it would be the one answer needing no token.
    app = FastAPI(
        title="shoplake", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.shoplake = state
    middleware.install(app, audit=state.audit, access=state.access)
    record = functools.partial(middleware.record, state.audit)

    def answered(work: Work, caller: Caller, request: Request) -> tuple[Response, Sequence[str]]:
        """The work and its answer's encoding, in a worker thread (never the event loop)."""
        result, tables = work(caller, request)
        if isinstance(result, Response):
            return result, tables
        try:
            body = model_answer(result, max_bytes=state.limits.max_bytes)
        except AnswerTooLarge as err:
            raise ApiError(400, "ANSWER_TOO_LARGE", str(err), tables) from None
        return Response(body, media_type="application/json"), tables

    def handle(action: str, work: Work) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            request.state.deadline = Deadline(state.limits.timeout_s)  # from arrival
            # Reading tokens and grants can touch storage: off the event loop too.
            caller = await anyio.to_thread.run_sync(state.access.authenticate, bearer(request))
            if caller is None:
                record(request, "anonymous", action, (), 401, "no valid bearer token")
                return error_response(
                    401,
                    "UNAUTHENTICATED",
                    "a valid bearer token is required "
                    "(shoplake token create NAME --grant SELECT:gold.*)",
                )
            try:
                request.state.body = await read_body(request)
            except BodyTooLarge as err:
                record(request, caller.name, action, (), 413, str(err))
                return error_response(413, "REQUEST_TOO_LARGE", str(err))
            request.state.params = dict(request.path_params) | dict(request.query_params)
            request.state.detail = ""
            slots = state.query_slots if action == "query" else None
            try:
                answer, tables = await anyio.to_thread.run_sync(
                    answered, work, caller, request, limiter=slots
                )
            except ApiError as err:
                detail = f"{err.message} | {request.state.detail}".strip(" |")
                record(request, caller.name, action, err.tables, err.status, detail)
                return error_response(err.status, err.code, err.message)
            except Exception as err:
                # A bug still leaves its trace in the audit log; the server's log gets one
                # masked line (the traceback could quote a caller's data).
                _log.error("%s failed: %s", action, first_line(err))
                record(request, caller.name, action, (), 500, "internal error")
                return error_response(500, "INTERNAL_ERROR", "the server failed on this request")
            record(request, caller.name, action, tables, 200, request.state.detail)
            return answer

        return endpoint

    _routes(app, state, handle)
    return app


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
        if check_name(name, "catalog") != state.catalog:
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
        names, token = page([state.catalog], request.state.params, "catalogs")
        catalogs = [catalog_info() for _ in names]
        return uc.ListCatalogsResponse(catalogs=catalogs, next_page_token=token), ()

    def get_catalog(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        check_catalog(request.state.params["name"])
        return catalog_info(), ()

    def list_schemas(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        check_catalog(request.state.params.get("catalog_name", ""))
        layers = sorted(
            {r.split(".", 1)[0] for r in visible(state, caller)}, key=uc.SHARED_LAYERS.index
        )
        # Layers come in the lake's order (bronze first), so pages continue in it too.
        rank = {layer: i for i, layer in enumerate(uc.SHARED_LAYERS)}
        shown, token = page(layers, request.state.params, "schemas", lambda n: rank.get(n, -1))
        schemas = [schema_info(layer) for layer in shown]
        return uc.ListSchemasResponse(schemas=schemas, next_page_token=token), ()

    def get_schema(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        catalog, layer = split_name(request.state.params["full_name"], 2)
        check_catalog(catalog)
        if not visible(state, caller, layer):
            raise ApiError(
                404, "SCHEMA_DOES_NOT_EXIST", f"no schema {catalog}.{layer} you may read"
            )
        return schema_info(layer), ()

    def list_tables(caller: Caller, request: Request) -> tuple[Any, Sequence[str]]:
        check_catalog(request.state.params.get("catalog_name", ""))
        layer = check_name(request.state.params.get("schema_name", ""), "schema")
        names = sorted(r.split(".", 1)[1] for r in visible(state, caller, layer))
        shown, token = page(names, request.state.params, "tables")
        refs = [f"{layer}.{name}" for name in shown]  # only this page is described
        naive = uc.client_naive_type(request.headers.get("user-agent", ""))
        infos = [i for r in refs if (i := state.describe(r, naive))]
        return uc.ListTablesResponse(tables=infos, next_page_token=token), refs

    def table_ref(caller: Caller, full_name: str) -> str:
        catalog, layer, name = split_name(full_name, 3)
        check_catalog(catalog)
        ref = f"{layer}.{name}"
        exists = layer in uc.SHARED_LAYERS and ref in state.reader.tables()
        if not exists or not caller.may_select(ref):
            # Absent and forbidden answer alike, so a caller learns nothing of tables
            # beyond its grants; the audit row still names the table asked for.
            raise ApiError(
                404,
                "TABLE_DOES_NOT_EXIST",
                f"no table {full_name} you may read (if it should be there, an owner "
                f"grants it: shoplake grant {caller.name} SELECT {ref})",
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
        body = parse_body(
            uc.GenerateTemporaryTableCredential,
            request.state.body,
            '{"table_id": "<table_id from GET /tables/...>", "operation": "READ"}',
        )
        found = [
            r
            for r in visible(state, caller)
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
        ask = parse_body(uc.QueryRequest, request.state.body, example)
        if len(ask.query) > QUERY_CAP:
            raise ApiError(
                400,
                "INVALID_PARAMETER_VALUE",
                f"the query is {len(ask.query):,} characters; at most {QUERY_CAP:,} may run",
            )
        started = time.perf_counter()
        deadline: Deadline = request.state.deadline
        arrow = ARROW_STREAM in request.headers.get("accept", "")
        max_bytes = state.limits.max_bytes
        try:
            result = run_query(
                state.reader,
                caller,
                ask.query,
                masking=state.masking,
                limits=state.limits,
                max_rows=ask.max_rows,
                deadline=deadline,
                # JSON is rarely under a quarter of Arrow's size: refuse on the rows only
                # past that (to bound memory); the encoded size is checked exactly after.
                max_arrow_bytes=max_bytes if arrow else JSON_ARROW_RATIO * max_bytes,
            )
            if arrow:
                body = arrow_answer(result.table, deadline=deadline, max_bytes=max_bytes)
                headers = {"x-shoplake-truncated": str(result.truncated).lower()}
                return Response(body, media_type=ARROW_STREAM, headers=headers), result.tables
            body = json_answer(
                result.table,
                truncated=result.truncated,
                elapsed_s=time.perf_counter() - started,
                deadline=deadline,
                max_bytes=max_bytes,
            )
        except AnswerTooLarge as err:
            raise ApiError(400, "ANSWER_TOO_LARGE", str(err), err.tables) from None
        except QueryRefused as err:
            code = {403: "PERMISSION_DENIED", 408: "QUERY_TIMEOUT"}.get(
                err.status, "INVALID_PARAMETER_VALUE"
            )
            raise ApiError(err.status, code, str(err), err.tables) from None
        return Response(body, media_type="application/json"), result.tables

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
