"""Unity Catalog's pagination of listings: ``max_results`` and ``page_token`` in,
``next_page_token`` out.

As the specification says: ``max_results`` above 0 asks for at most that many (and at
most the server's page size), 0 for the server's page size, below 0 is an error, and
without it every item comes in one page (what clients that never page expect). A page
token is opaque to the caller; here it names the last item sent, so a page continues
after it even when items were added or removed in between.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shoplake.share.middleware import ApiError

PAGE_SIZE = {"catalogs": 1000, "schemas": 1000, "tables": 50}
"""The server's page size per listing (Unity Catalog's clients allow at most 50 tables
and 1000 schemas or catalogs a page)."""
_PREFIX = "v1:"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _bad(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def page_size(raw: str | None, server: int) -> int | None:
    """How many items a page holds: None for all of them."""
    if raw is None:
        return None
    try:
        asked = int(raw)
    except ValueError:
        raise _bad(
            f"max_results {raw[:40]!r}: send a whole number (0 for the server's page size, "
            f"{server})"
        ) from None
    if asked < 0:
        raise _bad(f"max_results {asked}: send 0 or more")
    return min(asked, server) if asked else server


def encode_token(last: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + last).encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    """The name a page token continues after; a 400 for one this server did not make."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    name = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not _NAME.match(name):
        raise _bad(
            f"page_token {token[:40]!r} is not one this server gave: send the "
            "next_page_token of the previous page, or none for the first"
        )
    return name


def page(
    names: Sequence[str],
    params: Mapping[str, str],
    listing: str,
    order: Callable[[str], Any] = lambda name: name,
) -> tuple[list[str], str | None]:
    """The page of ``names`` (already in ``order``) the request asks for, and the token of
    the next page (None on the last)."""
    size = page_size(params.get("max_results"), PAGE_SIZE[listing])
    token = params.get("page_token") or None  # some clients send an empty token
    items = list(names)
    if token is not None:
        after = order(decode_token(token))
        items = [n for n in items if order(n) > after]
    if size is None or len(items) <= size:
        return items, None
    items = items[:size]
    return items, encode_token(items[-1])
