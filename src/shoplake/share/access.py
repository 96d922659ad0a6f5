"""Who may read what: bearer tokens and grants, kept in the lake as Delta tables.

``_system.tokens`` holds one row per token: its name, a random id, a salt and the
HMAC-SHA256 of the secret under that salt — never the token. A token reads
``slk_<id>_<secret>``; the id finds the row, the digest is compared in constant time.
The secret is 32 random bytes, so one fast keyed hash is enough (a slow password hash
protects guessable passwords, not random keys).

``_system.grants`` holds one row per (principal, privilege, securable): ``SELECT`` on
``layer.table``, ``layer.*`` or ``*``, and ``PII`` (see columns classified as personal
data in clear) on the same kinds of securable. Each change rewrites the small table,
so its Delta versions are the history of who could see what, and when.

Grants belong to a live token's name: revoking the token ends them, a grant needs a
live token, and a new token under a name whose token was revoked or expired starts with
none. Tokens expire (``--expires 30d``; ``token_expiry`` in ``[serve]``, 90 days unless
set; ``never`` only when asked).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from shoplake.engines.base import Engine
from shoplake.errors import ConfigError, ShoplakeError
from shoplake.names import utcnow

TOKENS = "_system.tokens"
GRANTS = "_system.grants"
INTERNAL_LAYER = "_system"
"""Tokens, grants and the audit log: no grant reaches them, not even ``SELECT:*``."""
PRIVILEGES = ("SELECT", "PII")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.@-]{0,63}$")
_PART = re.compile(r"^[a-z_][a-z0-9_]*$")
_TOKEN = re.compile(r"^slk_([0-9a-f]{16})_([A-Za-z0-9_-]{20,})$")
_TOKEN_SCHEMA = {
    "name": pl.String,
    "token_id": pl.String,
    "salt": pl.String,
    "digest": pl.String,
    "created_at": pl.Datetime("us"),
    "revoked_at": pl.Datetime("us"),
    "expires_at": pl.Datetime("us"),  # null: never (only when asked for)
}
SERVE_KEYS = ("token_expiry",)
"""The keys of ``[serve]`` in ``shoplake.toml``."""
DEFAULT_EXPIRY = "90d"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_GRANT_SCHEMA = {
    "principal": pl.String,
    "privilege": pl.String,
    "securable": pl.String,
    "granted_at": pl.Datetime("us"),
}


class AccessError(ShoplakeError):
    """A token or grant request that cannot be done as asked."""


@dataclass(frozen=True)
class Grant:
    principal: str
    privilege: str
    securable: str


def check_principal(name: str) -> str:
    if not _NAME.match(name):
        raise AccessError(
            f"token name {name!r}: use letters, digits, _ . @ - (up to 64), starting with a letter"
        )
    return name


def check_securable(securable: str) -> str:
    """``*``, ``layer.*`` or ``layer.table`` (lower-case identifiers), else an error."""
    if securable == "*":
        return securable
    layer, dot, table = securable.partition(".")
    if dot and _PART.match(layer) and (table == "*" or _PART.match(table)):
        return securable
    raise AccessError(f"securable {securable!r}: write *, layer.* or layer.table (e.g. gold.*)")


def parse_grant(text: str) -> tuple[str, str]:
    """``SELECT:gold.*`` → (``SELECT``, ``gold.*``); a bare ``PII`` means ``PII:*``."""
    privilege, _, securable = text.partition(":")
    privilege = privilege.strip().upper()
    if privilege not in PRIVILEGES:
        raise AccessError(f"privilege {privilege!r}: use one of {', '.join(PRIVILEGES)}")
    return privilege, check_securable(securable.strip() or "*")


def covers(securable: str, ref: str) -> bool:
    """Whether a grant on ``securable`` reaches the table ``ref`` (``layer.name``)."""
    if securable == "*":
        return True
    layer, _, table = securable.partition(".")
    return ref.split(".", 1)[0] == layer and (table == "*" or securable == ref)


def parse_expiry(text: str, where: str = "--expires") -> timedelta | None:
    """``30d``, ``12h``, ``90m``, ``2w`` → a duration; ``never`` → None (no expiry)."""
    if text.strip().lower() == "never":
        return None
    found = _DURATION.match(text.lower())
    if found is None or int(found.group(1)) == 0:
        raise ConfigError(
            f"{where} {text!r}: write a duration like 30d, 12h, 90m or 2w (or never)"
        )
    return timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])


def default_expiry(config: Path | None = None) -> timedelta | None:
    """``token_expiry`` of ``[serve]`` (or ``SHOPLAKE_SERVE_TOKEN_EXPIRY``), else 90 days."""
    from shoplake.config import load_section

    section = load_section("serve", config)
    for key in section:
        if key not in SERVE_KEYS:
            raise ConfigError(f"[serve] has no key {key!r}; the keys are: {', '.join(SERVE_KEYS)}")
    value = os.environ.get("SHOPLAKE_SERVE_TOKEN_EXPIRY") or section.get("token_expiry")
    if value is None:
        return parse_expiry(DEFAULT_EXPIRY)
    if not isinstance(value, str):
        raise ConfigError('[serve] token_expiry must be a string like "90d" (or "never")')
    return parse_expiry(value, "[serve] token_expiry")


def _live(now: datetime) -> pl.Expr:
    return pl.col("revoked_at").is_null() & (
        pl.col("expires_at").is_null() | (pl.col("expires_at") > now)
    )


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def _read(engine: Engine, ref: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if engine.version(ref) is None:
        return pl.DataFrame(schema=schema)
    frame = engine.collect(engine.read(ref)).to_native()
    assert isinstance(frame, pl.DataFrame)
    return frame


def _write(engine: Engine, ref: str, frame: pl.DataFrame) -> None:
    import narwhals as nw

    engine.overwrite(ref, nw.from_native(frame, eager_only=True))


def tokens(engine: Engine) -> pl.DataFrame:
    """Every token's record (no secrets: only salted digests are stored)."""
    frame = _read(engine, TOKENS, _TOKEN_SCHEMA)  # type: ignore[arg-type]
    if "expires_at" not in frame.columns:  # written before tokens expired
        frame = frame.with_columns(pl.lit(None, pl.Datetime("us")).alias("expires_at"))
    return frame.select(list(_TOKEN_SCHEMA))


def has_live_token(engine: Engine, name: str) -> bool:
    return bool(tokens(engine).filter(pl.col("name") == name, _live(utcnow())).height)


def create_token(
    engine: Engine,
    name: str,
    grants: Sequence[tuple[str, str]] = (),
    *,
    expires: timedelta | None = timedelta(days=90),
) -> str:
    """A new token for ``name`` (shown once, stored only as a digest) with ``grants``,
    valid for ``expires`` (None: until revoked). A name whose earlier token was revoked
    or expired starts again with no grant."""
    check_principal(name)
    current = tokens(engine)
    now = utcnow()
    if current.filter(pl.col("name") == name, _live(now)).height:
        raise AccessError(f"a token named {name!r} exists; revoke it first or pick another name")
    _drop_grants(engine, name)  # left from a token that expired
    token_id, salt, secret = secrets.token_hex(8), secrets.token_hex(16), secrets.token_urlsafe(32)
    row = pl.DataFrame(
        {
            "name": [name],
            "token_id": [token_id],
            "salt": [salt],
            "digest": [_digest(salt, secret)],
            "created_at": [now],
            "revoked_at": [None],
            "expires_at": [None if expires is None else now + expires],
        },
        schema=_TOKEN_SCHEMA,  # type: ignore[arg-type]
    )
    _write(engine, TOKENS, pl.concat([current, row]))
    for privilege, securable in grants:
        grant(engine, name, privilege, securable)
    return f"slk_{token_id}_{secret}"


def revoke_token(engine: Engine, name: str) -> int:
    """Revoke every live token of ``name`` and end its grants; returns how many tokens."""
    current = tokens(engine)
    live = (pl.col("name") == name) & _live(utcnow())
    count = current.filter(live).height
    if count == 0:
        raise AccessError(f"no live token named {name!r} (see `shoplake token list`)")
    revoked = (
        pl.when(live).then(pl.lit(utcnow(), pl.Datetime("us"))).otherwise(pl.col("revoked_at"))
    )
    # Grants first: were the process to stop between the two writes, the token would
    # still work but see nothing, never the other way round.
    _drop_grants(engine, name)
    _write(engine, TOKENS, current.with_columns(revoked.alias("revoked_at")))
    return count


def _drop_grants(engine: Engine, name: str) -> None:
    current = _read(engine, GRANTS, _GRANT_SCHEMA)  # type: ignore[arg-type]
    if current.filter(pl.col("principal") == name).height:
        _write(engine, GRANTS, current.filter(pl.col("principal") != name))


def grants(engine: Engine, principal: str | None = None) -> list[Grant]:
    frame = _read(engine, GRANTS, _GRANT_SCHEMA)  # type: ignore[arg-type]
    if principal is not None:
        frame = frame.filter(pl.col("principal") == principal)
    rows = frame.iter_rows(named=True)
    return [Grant(r["principal"], r["privilege"], r["securable"]) for r in rows]


def _held(principal: str, privilege: str, securable: str) -> pl.Expr:
    """The grants row of ``principal`` holding ``privilege`` on ``securable``."""
    return (
        (pl.col("principal") == principal)
        & (pl.col("privilege") == privilege)
        & (pl.col("securable") == securable)
    )


def grant(engine: Engine, principal: str, privilege: str, securable: str) -> bool:
    """Give ``principal`` ``privilege`` on ``securable``; False if it already had it."""
    check_principal(principal)
    privilege, securable = parse_grant(f"{privilege}:{securable}")
    if not has_live_token(engine, principal):
        # A grant waiting for a name would go to whoever next gets a token of that name.
        raise AccessError(
            f"no live token named {principal!r}: create it first "
            f"(shoplake token create {principal} --grant {privilege}:{securable})"
        )
    current = _read(engine, GRANTS, _GRANT_SCHEMA)  # type: ignore[arg-type]
    same = _held(principal, privilege, securable)
    if current.filter(same).height:
        return False
    row = pl.DataFrame(
        {
            "principal": [principal],
            "privilege": [privilege],
            "securable": [securable],
            "granted_at": [utcnow()],
        },
        schema=_GRANT_SCHEMA,  # type: ignore[arg-type]
    )
    _write(engine, GRANTS, pl.concat([current, row]))
    return True


def revoke(engine: Engine, principal: str, privilege: str, securable: str) -> bool:
    """Take ``privilege`` on ``securable`` from ``principal``; False if it did not have it."""
    privilege, securable = parse_grant(f"{privilege}:{securable}")
    current = _read(engine, GRANTS, _GRANT_SCHEMA)  # type: ignore[arg-type]
    same = _held(principal, privilege, securable)
    if not current.filter(same).height:
        return False
    _write(engine, GRANTS, current.filter(~same))
    return True


@dataclass(frozen=True)
class Caller:
    """An authenticated caller and what it may do."""

    name: str
    grants: tuple[Grant, ...]

    def may_select(self, ref: str) -> bool:
        if ref.split(".", 1)[0] == INTERNAL_LAYER:
            return False
        return any(g.privilege == "SELECT" and covers(g.securable, ref) for g in self.grants)

    def sees_pii(self, ref: str) -> bool:
        if ref.split(".", 1)[0] == INTERNAL_LAYER:
            return False
        return any(g.privilege == "PII" and covers(g.securable, ref) for g in self.grants)


class AccessControl:
    """Authenticates tokens against the lake's current tokens and grants.

    Both tables are re-read whenever their Delta version moves, so a revoked token or
    grant stops working on the next request.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._seen: tuple[int | None, int | None] | None = None
        # token_id -> name, salt, digest, expiry
        self._tokens: dict[str, tuple[str, str, str, datetime | None]] = {}
        self._grants: dict[str, tuple[Grant, ...]] = {}
        self._refreshing = threading.Lock()

    def _refresh(self) -> None:
        with self._refreshing:  # requests authenticate from several worker threads
            self._reload()

    def _reload(self) -> None:
        versions = (self.engine.version(TOKENS), self.engine.version(GRANTS))
        if versions == self._seen:
            return
        live = tokens(self.engine).filter(pl.col("revoked_at").is_null())
        self._tokens = {
            r["token_id"]: (r["name"], r["salt"], r["digest"], r["expires_at"])
            for r in live.iter_rows(named=True)
        }
        by_principal: dict[str, list[Grant]] = {}
        for g in grants(self.engine):
            by_principal.setdefault(g.principal, []).append(g)
        self._grants = {k: tuple(v) for k, v in by_principal.items()}
        self._seen = versions

    def authenticate(self, token: str | None) -> Caller | None:
        """The caller a bearer token stands for, or None when it is missing, unknown,
        revoked, expired or wrong."""
        if not token:
            return None
        match = _TOKEN.match(token.strip())
        if match is None:
            return None
        self._refresh()
        found = self._tokens.get(match.group(1))
        if found is None:
            return None
        name, salt, digest, expires_at = found
        if not hmac.compare_digest(_digest(salt, match.group(2)), digest):
            return None
        if expires_at is not None and utcnow() >= expires_at:
            return None
        return Caller(name, self._grants.get(name, ()))
