"""What every request to ``shoplake serve`` passes through, whichever route it reaches.

* :class:`AuditEverything`, the outermost layer: a request no endpoint audited itself —
  an unknown route, a wrong method, ``/health``, a body refused from its
  ``Content-Length``, a bug that escaped — still leaves one audit row, under the
  caller's name when its token is valid; an escaped exception becomes a 500 in the error
  shape, its trace kept out of the answer and the log.
* :func:`install_handlers`: Starlette's own refusals (404, 405, validation) answered in
  Unity Catalog's error shape ``{"error_code", "message"}``.
* :func:`read_body`: a body read chunk by chunk and refused past its cap, never whole.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shoplake.errors import first_line
from shoplake.share.access import AccessControl
from shoplake.share.audit import AuditEvent, AuditLog
from shoplake.share.limits import MAX_BODY_BYTES, BodyTooLarge

_log = logging.getLogger(__name__)
_TOKENS = re.compile(r"slk_[A-Za-z0-9_-]+")
_PATH_CAP = 300
_CODES = {400: "INVALID_PARAMETER_VALUE", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class ApiError(Exception):
    """An answer in Unity Catalog's error shape: ``{"error_code", "message"}``."""

    def __init__(self, status: int, code: str, message: str, tables: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.tables = status, code, message, tuple(tables)


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    content = {"error_code": code, "message": message}
    return JSONResponse(status_code=status, content=content, headers=headers)


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else None


def record(
    audit: AuditLog,
    request: Request,
    who: str,
    action: str,
    tables: Sequence[str],
    status: int,
    detail: str = "",
) -> None:
    """One audit row for ``request``; :class:`AuditEverything` then adds none."""
    request.state.audited = True
    client = request.client.host if request.client else ""
    query = getattr(request.state, "query", None)
    event = AuditEvent(who, action, list(tables), status < 400, status, detail, client, query=query)
    audit.record(event)


def _where(request: Request) -> str:
    """``METHOD /path`` for the log and the audit: never the query string, and no token
    even if a caller put one in the path."""
    path = _TOKENS.sub("slk_…", request.url.path[:_PATH_CAP])
    return f"{request.method} {path}"


def _action(path: str, status: int) -> str:
    if path == "/health":
        return "health"
    return {404: "unknown_route", 405: "method_not_allowed", 413: "body_too_large"}.get(
        status, "request"
    )


def _length_refusal(request: Request) -> tuple[JSONResponse, str] | None:
    """A refusal from the ``Content-Length`` header alone, before any body is read."""
    length = request.headers.get("content-length")
    if length is None:
        return None
    if not length.strip().isdigit():
        message = "Content-Length is not a number"
        return error_response(400, "INVALID_PARAMETER_VALUE", message), message
    if int(length) > MAX_BODY_BYTES:
        message = str(BodyTooLarge())
        return error_response(413, "REQUEST_TOO_LARGE", message), message
    return None


class AuditEverything:
    """Pure ASGI (no buffering of answers): one audit row per request, whatever happens."""

    def __init__(self, app: ASGIApp, *, audit: AuditLog, access: AccessControl) -> None:
        self.app, self.audit, self.access = app, audit, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        detail = ""
        refusal = _length_refusal(request)
        try:
            if refusal is not None:
                answer, detail = refusal
                await answer(scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        except ClientDisconnect:
            status, detail = 499, "the client went away"
        except Exception as err:
            # One masked line: a traceback could quote a caller's data.
            _log.error("%s failed: %s", _where(request), first_line(err))
            if status == 0:
                await error_response(500, "INTERNAL_ERROR", "the server failed on this request")(
                    scope, receive, sending
                )
            status, detail = 500, "internal error"
            if getattr(request.state, "audited", False):
                return  # the endpoint's own row stands; the log has the failure
        if getattr(request.state, "audited", False):
            return
        who = await self._who(request)
        action = _action(request.url.path, status)
        record(self.audit, request, who, action, (), status, f"{_where(request)} {detail}".strip())

    async def _who(self, request: Request) -> str:
        token = bearer(request)
        if not token:
            return "anonymous"
        try:
            caller = await run_in_threadpool(self.access.authenticate, token)
        except Exception as err:
            _log.error("authenticating for the audit failed: %s", first_line(err))
            return "anonymous"
        return caller.name if caller is not None else "anonymous"


async def _http_error(request: Request, exc: HTTPException) -> Response:
    where = _where(request)
    if exc.status_code == 404:
        message = (
            f"no endpoint {where}: this server answers Unity Catalog's "
            "/api/2.1/unity-catalog/ catalogs, schemas and tables, and POST /api/shoplake/v1/sql"
        )
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed there; use {allowed or 'another method'}"
    else:
        message = str(exc.detail)
    code = _CODES.get(exc.status_code, "INVALID_REQUEST")
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return error_response(400, "INVALID_PARAMETER_VALUE", problems or "invalid request")


def install(app: FastAPI, *, audit: AuditLog, access: AccessControl) -> None:
    """Audit every request and answer every refusal in the error shape."""
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_middleware(AuditEverything, audit=audit, access=access)


async def read_body(request: Request, cap: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, read as it streams in; :class:`BodyTooLarge` past ``cap``
    (a chunked body has no ``Content-Length`` to refuse it by)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise BodyTooLarge(cap)
    return bytes(body)
