"""A landing folder on an object store: S3, ADLS / Azure Blob and GCS through ``obstore``
(``sources/objects.py``, the same settings as the lake), any other fsspec URI
(``memory://``…) through fsspec. Object stores have no symlinks and
no ``..`` in listed keys; names are still checked (control characters are
refused) and every key must sit under the landing prefix. The archive is the
``archive/`` prefix beside the landing prefix (or ``archive_dir`` when it is a URI on
the same store). Archiving is a copy, then a delete of the landing object: a crash
between the two leaves both, and the next settle finds the copy and only deletes.
There are no file-system events: ``watch`` polls such a landing, each source
folder listed only after the last key it saw (:meth:`RemoteLanding.arrivals`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import fsspec

from shoplake.pipeline.faults import fault
from shoplake.sources.listing import LandedFile, Rejected, name_problem, unsupported
from shoplake.stores import display, is_object_store


def _mtime_ns(info: dict[str, Any]) -> int:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, datetime):
            return int(value.timestamp() * 1_000_000_000)
        if isinstance(value, int | float):
            return int(value * 1_000_000_000)
        if isinstance(value, str):
            try:
                return int(datetime.fromisoformat(value).timestamp() * 1_000_000_000)
            except ValueError:
                continue
    return 0


def is_remote(spec: str) -> bool:
    return "://" in spec and not spec.startswith("file://")


class RemoteLanding:
    """``<uri>/<source>/...`` on an fsspec file system."""

    def __init__(self, uri: str, archive: str | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.fs: Any
        if is_object_store(self.uri):
            from shoplake.sources.objects import object_fs

            self.fs, root = object_fs(self.uri)
        else:
            self.fs, root = fsspec.core.url_to_fs(self.uri)
        self.root = root.rstrip("/")
        parent = self.root.rpartition("/")[0]
        self.archive_root = f"{parent}/archive"
        if is_object_store(uri):  # keys have no leading slash (a landing at the bucket's top)
            self.archive_root = self.archive_root.lstrip("/")
        if archive is not None:
            self.archive_root = _archive_key(self.uri, archive)
        # watch: the last key seen in each source folder (lexical order, see arrivals()).
        self.markers: dict[str, str] = {}

    def __str__(self) -> str:
        return display(self.uri)

    def _key(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def scan(self, source: str, fmt: str) -> tuple[list[LandedFile], list[Rejected]]:
        folder = self._key(source)
        if not self.fs.exists(folder):
            return [], []
        found: list[LandedFile] = []
        rejected: list[Rejected] = []
        for key, info in sorted(self.fs.find(folder, detail=True).items()):
            key = key.lstrip("/") if not self.root.startswith("/") else key
            if not key.startswith(f"{self.root}/") or info.get("type") == "directory":
                continue
            relative = key[len(self.root) + 1 :]
            name = relative.rpartition("/")[2]
            if name.startswith((".", "_")):
                continue
            size, mtime = int(info.get("size") or 0), _mtime_ns(info)
            problem = name_problem(relative)
            if problem is None and any(p in ("", ".", "..") for p in relative.split("/")):
                problem = "the key holds an empty, '.' or '..' part"
            if problem is not None:
                rejected.append(Rejected(relative, size, mtime, problem))
                continue
            other = unsupported(relative, size, mtime, fmt)
            if other is not None:
                rejected.append(other)
                continue
            found.append(LandedFile(relative, size, mtime))
        return found, rejected

    def read(self, file: LandedFile) -> bytes:
        data = self.fs.cat_file(file.location or self._key(file.path))
        assert isinstance(data, bytes)
        return data

    def stat(self, relative: str) -> tuple[int, int] | None:
        key = self._key(relative)
        if not self.fs.exists(key):
            return None
        info = self.fs.info(key)
        return int(info.get("size") or 0), _mtime_ns(info)

    def archived(self, archive_relative: str) -> LandedFile | None:
        """The archived copy at ``archive/<archive_relative>``, located for reading."""
        key = f"{self.archive_root}/{archive_relative}"
        if not self.fs.exists(key):
            return None
        info = self.fs.info(key)
        return LandedFile("", int(info.get("size") or 0), _mtime_ns(info), location=key)

    def archive(self, relative: str, archive_relative: str) -> str:
        """Copy to the archive, then delete from landing; idempotent. The archive key holds
        the batch id, so an object already there of the same size is this file's copy
        from an attempt that died before the delete: only the delete is left to do."""
        source = self._key(relative)
        dest = f"{self.archive_root}/{archive_relative}"
        size = int(self.fs.info(source).get("size") or 0)
        final, n = dest, 1
        while self.fs.exists(final):
            if int(self.fs.info(final).get("size") or 0) == size:
                self.fs.rm(source)
                return final
            final, n = f"{dest}.{n}", n + 1
        self.fs.makedirs(final.rpartition("/")[0], exist_ok=True)
        self.fs.copy(source, final)
        fault("archive_copied")
        self.fs.rm(source)
        return final

    def purge(self, cutoff: datetime) -> list[str]:
        if not self.fs.exists(self.archive_root):
            return []
        removed: list[str] = []
        for key in self.fs.ls(self.archive_root, detail=False):
            try:
                day = datetime.strptime(key.rstrip("/").rpartition("/")[2], "%Y-%m-%d")
            except ValueError:
                continue
            if day.date() < cutoff.date():
                self.fs.rm(key, recursive=True)
                removed.append(key)
        return removed

    def arrivals(self) -> list[str]:
        """Keys that arrived since the last call: each source folder listed only after the
        newest key it had (S3's start-after; GCS likewise; Azure Blob has no such parameter,
        so there the listing still pages through the folder and is filtered here). Object
        keys sort lexically: a name sorting before one already seen in its folder is found
        by the next full scan, which every update makes anyway."""
        new: list[str] = []
        for folder in self.fs.ls(self.root, detail=False) if self.fs.exists(self.root) else []:
            folder = folder.rstrip("/")
            marker = self.markers.get(folder)
            if marker is None or not hasattr(self.fs, "list_after"):
                keys = sorted(self.fs.find(folder, detail=True))
                keys = [k for k in keys if marker is None or k > marker]
            else:
                keys = sorted(self.fs.list_after(folder, marker))
            if keys:
                self.markers[folder] = max(keys[-1], marker or "")
                new += keys
        return new

    def signature(self) -> frozenset[tuple[str, int, int]]:
        """What is in the landing now: polling compares two of these."""
        if not self.fs.exists(self.root):
            return frozenset()
        listing = self.fs.find(self.root, detail=True)
        return frozenset(
            (k, int(i.get("size") or 0), _mtime_ns(i))
            for k, i in listing.items()
            if i.get("type") != "directory"
        )


class RemoteManifest:
    """A trigger manifest under ``<landing>/_triggers/`` on an object store."""

    def __init__(self, landing: RemoteLanding, key: str) -> None:
        self.landing, self.key = landing, key
        self.name = key.rpartition("/")[2]

    def is_symlink(self) -> bool:
        return False

    def read_text(self, encoding: str = "utf-8") -> str:
        data = self.landing.fs.cat_file(self.key)
        assert isinstance(data, bytes)
        return data.decode(encoding)

    def archive(self, folder: str, outcome: str) -> str:
        """Move to ``archive/<folder>/<name>`` and write the outcome beside it."""
        dest = f"{self.landing.archive_root}/{folder}/{self.name}"
        final, n = dest, 1
        while self.landing.fs.exists(final):
            final, n = f"{dest}.{n}", n + 1
        self.landing.fs.makedirs(final.rpartition("/")[0], exist_ok=True)
        self.landing.fs.copy(self.key, final)
        self.landing.fs.rm(self.key)
        self.landing.fs.pipe(f"{final}.outcome.json", outcome.encode())
        return final


def manifests_in(landing: RemoteLanding, folder: str) -> list[RemoteManifest]:
    key = f"{landing.root}/{folder}"
    if not landing.fs.exists(key):
        return []
    names = sorted(k for k in landing.fs.ls(key, detail=False) if k.endswith(".json"))
    found = [RemoteManifest(landing, k) for k in names]
    return [m for m in found if m.name[0] not in "._" and name_problem(m.name) is None]


def _archive_key(landing: str, archive: str) -> str:
    """The key prefix of an ``archive_dir`` URI, which must name the landing's store."""
    from shoplake.errors import ConfigError

    def store(uri: str) -> str:
        scheme, _, rest = uri.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    if not is_remote(archive) or store(archive) != store(landing):
        raise ConfigError(
            f"archive_dir {display(archive)}: an object-store landing archives on its own "
            f"store; give a URI under {display(store(landing))}/"
        )
    rest = archive.partition("://")[2]
    return (rest.split("/", 1)[1] if "/" in rest else "").strip("/")


def open_landing(spec: str, archive: str | None = None) -> Any:
    """A local folder (``Path``) or a :class:`RemoteLanding` for an object-store URI
    (``archive``: its archive location, a URI on the same store)."""
    from pathlib import Path

    if is_remote(spec):
        return RemoteLanding(spec, archive)
    return Path(spec.removeprefix("file://"))
