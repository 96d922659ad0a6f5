"""S3, ADLS Gen2 / Azure Blob and GCS through ``obstore``: listing, reading, copying, and the
conditional puts a lock needs.

``obstore`` wraps the Rust ``object_store`` crate that delta-rs uses for the tables, so a
landing zone, the archive and the lake's lock are reached with the same configuration
keys, environment variables and credential chains as the lake itself
(``shoplake.stores``). :class:`ObjectFS` offers the few file-system calls
``sources/remote.py`` makes (the fsspec names), plus what fsspec has no word for:
listing after a key, put-if-absent and put-if-unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shoplake.errors import ShoplakeError
from shoplake.stores import display, options_for, provider, split_client_options


class Conflict(ShoplakeError):
    """A conditional put lost: the object exists, or changed since it was read."""


class ObjectFS:
    """The objects of one bucket or container; paths are keys (``landing/orders/a.csv``)."""

    def __init__(self, uri: str) -> None:
        from obstore.store import from_url

        scheme, _, rest = uri.partition("://")
        bucket = rest.split("/", 1)[0]
        self.base = f"{scheme}://{bucket}"
        prefix = provider(uri) or ""
        config, client = split_client_options(prefix, options_for(uri) or {})
        # Keys are checked by the crate itself (an unknown one is a one-line error).
        options: dict[str, Any] = {"config": config or None, "client_options": client or None}
        try:
            self.store = from_url(self.base, **options)
        except Exception as err:  # an unknown key, a malformed URI: a setting to fix
            from shoplake.errors import ConfigError, first_line

            raise ConfigError(f"{display(uri)}: {first_line(err)}") from None

    def __str__(self) -> str:
        return display(self.base)

    # -- the fsspec calls sources/remote.py makes ------------------------------------------
    def find(self, path: str, detail: bool = False) -> dict[str, dict[str, Any]]:
        import obstore

        found: dict[str, dict[str, Any]] = {}
        for page in obstore.list(self.store, _folder(path)):
            for meta in page:
                found[meta["path"]] = _info(meta)
        return found

    def list_after(self, prefix: str, offset: str) -> dict[str, dict[str, Any]]:
        """Objects under ``prefix`` whose key sorts after ``offset`` (S3's start-after; the
        crate filters on the client where the store has no such parameter)."""
        import obstore

        found: dict[str, dict[str, Any]] = {}
        for page in obstore.list(self.store, _folder(prefix), offset=offset):
            for meta in page:
                found[meta["path"]] = _info(meta)
        return found

    def ls(self, path: str, detail: bool = False) -> list[str]:
        import obstore

        listing = obstore.list_with_delimiter(self.store, _folder(path))
        folders = [p.rstrip("/") for p in listing["common_prefixes"]]
        return folders + [m["path"] for m in listing["objects"]]

    def info(self, path: str) -> dict[str, Any]:
        return _info(self._head(path))

    def exists(self, path: str) -> bool:
        """An object at ``path``, or any object under ``path/`` (a folder)."""
        import obstore

        try:
            self._head(path)
            return True
        except FileNotFoundError:
            pass
        page = next(iter(obstore.list(self.store, _folder(path), chunk_size=1)), [])
        return bool(page)

    def _head(self, path: str) -> Any:
        """The object's metadata. A HEAD answer has no body, so its 403 does not say whether
        the credentials were refused or only lack permission on this key: then the first
        byte is asked for, whose refusal carries the store's error code, and that error is
        raised (the error message tells the user which of the two to fix)."""
        import obstore
        from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

        try:
            return obstore.head(self.store, path)
        except PermissionDeniedError as headless:
            try:
                obstore.get(self.store, path, options={"range": (0, 1)})
            except (PermissionDeniedError, UnauthenticatedError) as coded:
                raise coded from None
            except Exception:  # allowed after all (or empty): the HEAD's own error stands
                pass
            raise headless

    def cat_file(self, path: str) -> bytes:
        import obstore

        return bytes(obstore.get(self.store, path).bytes())

    def pipe(self, path: str, data: bytes) -> None:
        import obstore

        obstore.put(self.store, path, data)

    def copy(self, source: str, dest: str) -> None:
        import obstore

        obstore.copy(self.store, source, dest)  # on the server: the bytes do not travel

    def rm(self, path: str, recursive: bool = False) -> None:
        import obstore

        keys = list(self.find(path)) if recursive else [path]
        if keys:
            obstore.delete(self.store, keys)

    def makedirs(self, path: str, exist_ok: bool = True) -> None:
        """Object stores have no folders: nothing to make."""

    # -- conditional puts (the lock) -------------------------------------------------------
    def put_if_absent(self, path: str, data: bytes) -> str:
        """Create ``path`` unless it exists (If-None-Match: *); its ETag, or :class:`Conflict`."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        try:
            return str(obstore.put(self.store, path, data, mode="create")["e_tag"])
        except (AlreadyExistsError, PreconditionError):
            raise Conflict(f"{path} exists") from None

    def put_if_match(self, path: str, data: bytes, etag: str) -> str:
        """Replace ``path`` if it still has ``etag`` (If-Match); the new ETag, or
        :class:`Conflict` when someone else wrote it meanwhile."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        try:
            result = obstore.put(self.store, path, data, mode={"e_tag": etag})
        except (AlreadyExistsError, PreconditionError, FileNotFoundError):
            raise Conflict(f"{path} changed") from None
        return str(result["e_tag"])

    def read_tagged(self, path: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or None when there is none."""
        import obstore

        try:
            got = obstore.get(self.store, path)
        except FileNotFoundError:
            return None
        return bytes(got.bytes()), str(got.meta["e_tag"])


def _folder(path: str) -> str:
    return path.strip("/") + "/" if path.strip("/") else ""


def _info(meta: Any) -> dict[str, Any]:
    modified = meta["last_modified"]
    return {
        "name": meta["path"],
        "size": int(meta["size"]),
        "type": "file",
        "mtime": modified if isinstance(modified, datetime) else None,
        "etag": meta.get("e_tag"),
    }


def object_fs(uri: str) -> tuple[ObjectFS, str]:
    """The store of ``uri`` and the key ``uri`` names in it (no slashes at its ends)."""
    rest = uri.partition("://")[2]
    key = rest.split("/", 1)[1] if "/" in rest else ""
    return ObjectFS(uri), key.split("?", 1)[0].strip("/")
