"""Sharing the lake: ``serve`` (Unity Catalog API + SQL), tokens, grants."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from shoplake.cli import common
from shoplake.cli.common import Debug, Lake
from shoplake.cli.console import console

if TYPE_CHECKING:
    from shoplake.engines.base import Engine

token_app = typer.Typer(help="Bearer tokens for `shoplake serve`: create, list, revoke.")

Grants = Annotated[
    list[str] | None,
    typer.Option(
        "--grant",
        help="PRIVILEGE:SECURABLE, e.g. SELECT:gold.*, SELECT:silver.customers, PII:*; repeat",
    ),
]


def _engine(lake: str | None) -> Engine:
    from shoplake.engines import create_engine

    # Tokens and grants are small system tables: always written with delta-rs.
    return create_engine(common.settings(lake, reads=("lake",)).lake)


def _check_free(host: str, port: int) -> None:
    """Refuse a busy or forbidden address in one line, before the server starts."""
    import socket

    from shoplake.errors import ConfigError

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as err:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({err.strerror}); pick another with --port, "
            "or stop what is using it"
        ) from None


def serve(
    lake: Lake = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes it to the network")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on")] = 8080,
    catalog: Annotated[str, typer.Option("--catalog", help="The catalog's name")] = "shoplake",
    max_rows: Annotated[int, typer.Option("--max-rows", help="Rows a query may return")] = 10_000,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds a query may take, running and encoding its answer"),
    ] = 30.0,
    max_bytes: Annotated[
        int,
        typer.Option("--max-bytes", help="Bytes an answer may hold (JSON or Arrow); more: refused"),
    ] = 64 * 1024 * 1024,
    debug: Debug = False,
) -> None:
    """Serve the lake's catalog (Unity Catalog's REST API) and SQL to token holders."""
    import uvicorn

    from shoplake.governance.masking import load_masking
    from shoplake.share.app import ENDPOINTS, create_app
    from shoplake.share.query import Limits

    with common.errors(debug):
        settings = common.settings(lake, reads=("lake",))
        _check_free(host, port)
        app = create_app(
            settings.lake,
            catalog=catalog,
            masking=load_masking(),
            limits=Limits(max_rows=max_rows, timeout_s=timeout, max_bytes=max_bytes),
        )
    console.print(f"shoplake serve on http://{host}:{port} — catalog {catalog!r} (Ctrl+C stops it)")
    console.print(
        f"[dim]{len(ENDPOINTS)} endpoints; callers need a token (shoplake token create)[/]"
    )
    if "://" not in settings.lake:
        console.print(
            "[dim]the lake is on local disk: the server controls what it answers, not who "
            "can read the files themselves[/]"
        )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Who the token is for (an analyst, a tool)")],
    grant: Grants = None,
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            help="How long it is valid: 30d, 12h, 2w, or never "
            "(default: token_expiry of the serve section of shoplake.toml, else 90d)",
        ),
    ] = None,
    lake: Lake = None,
    debug: Debug = False,
) -> None:
    """Create a token; it is printed once and only its salted hash is stored."""
    from shoplake.share.access import create_token, default_expiry, parse_expiry, parse_grant

    with common.errors(debug):
        engine = _engine(lake)  # the settings are checked here, [serve] among them
        valid = default_expiry() if expires is None else parse_expiry(expires)
        grants = [parse_grant(g) for g in grant or []]
        token = create_token(engine, name, grants, expires=valid)
    until = "until revoked" if valid is None else f"for {_duration(valid)}"
    console.print(f"token for {name}, valid {until} (shown once; store it now):")
    typer.echo(token)
    if not grants:
        console.print(f"[dim]it may see nothing yet: shoplake grant {name} SELECT 'gold.*'[/]")


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="Whose token to revoke")],
    lake: Lake = None,
    debug: Debug = False,
) -> None:
    """Revoke a token: it stops working on the server's next request."""
    from shoplake.share.access import revoke_token

    with common.errors(debug):
        count = revoke_token(_engine(lake), name)
    console.print(f"revoked {count} token(s) of {name}")


@token_app.command("list")
def token_list(lake: Lake = None, debug: Debug = False) -> None:
    """List tokens (names and dates; the tokens themselves are never stored)."""
    from shoplake.share.access import tokens

    with common.errors(debug):
        frame = tokens(_engine(lake))
    table = Table("name", "id", "created", "expires", "revoked")
    for row in frame.iter_rows(named=True):
        revoked, expires = row["revoked_at"], row["expires_at"]
        table.add_row(
            row["name"],
            row["token_id"],
            f"{row['created_at']:%Y-%m-%d %H:%M}",
            f"{expires:%Y-%m-%d %H:%M}" if expires else "never",
            f"{revoked:%Y-%m-%d %H:%M}" if revoked else "",
        )
    console.print(table)


def grant(
    principal: Annotated[str, typer.Argument(help="The token's name")],
    privilege: Annotated[str, typer.Argument(help="SELECT or PII")],
    securable: Annotated[str, typer.Argument(help="*, layer.* or layer.table")],
    lake: Lake = None,
    debug: Debug = False,
) -> None:
    """Grant SELECT (read a table) or PII (see its personal data in clear)."""
    from shoplake.share.access import grant as give

    with common.errors(debug):
        added = give(_engine(lake), principal, privilege, securable)
    verb = "granted" if added else "already held"
    console.print(f"{verb}: {privilege.upper()} on {securable} to {principal}")


def revoke(
    principal: Annotated[str, typer.Argument(help="The token's name")],
    privilege: Annotated[str, typer.Argument(help="SELECT or PII")],
    securable: Annotated[str, typer.Argument(help="*, layer.* or layer.table")],
    lake: Lake = None,
    debug: Debug = False,
) -> None:
    """Take a privilege back; it stops working on the server's next request."""
    from shoplake.share.access import revoke as take

    with common.errors(debug):
        removed = take(_engine(lake), principal, privilege, securable)
    verb = "revoked" if removed else "was not held"
    console.print(f"{verb}: {privilege.upper()} on {securable} from {principal}")


def grants(
    principal: Annotated[str | None, typer.Argument(help="Only this token's grants")] = None,
    lake: Lake = None,
    debug: Debug = False,
) -> None:
    """List grants: who may read what, and who may see PII."""
    from shoplake.share.access import grants as held

    with common.errors(debug):
        found = held(_engine(lake), principal)
    table = Table("principal", "privilege", "securable")
    for g in found:
        table.add_row(g.principal, g.privilege, g.securable)
    console.print(table if found else "no grants yet: shoplake grant NAME SELECT 'gold.*'")


def _duration(span: timedelta) -> str:
    days, seconds = span.days, span.seconds
    if days and not seconds:
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{span.total_seconds() / 3600:g} hours"


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(grant)
    app.command()(revoke)
    app.command()(grants)
    app.add_typer(token_app, name="token")
