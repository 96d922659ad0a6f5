"""A landing folder on an object store (any fsspec URI: ``s3://``, ``gs://``, ``memory://``…).

Listed, read and archived through fsspec. Object stores have no symlinks and
no ``..`` in listed keys; names are still checked (control characters are
refused) and every key must sit under the landing prefix. The archive is the
``archive/`` prefix beside the landing prefix. There are no file-system
events: ``watch`` polls such a landing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import fsspec

from shoplake.sources.listing import LandedFile, Rejected, name_problem, unsupported


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

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.fs, root = fsspec.core.url_to_fs(self.uri)
        self.root = root.rstrip("/")
        parent = self.root.rpartition("/")[0]
        self.archive_root = f"{parent}/archive"

    def __str__(self) -> str:
        return self.uri

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
        dest = f"{self.archive_root}/{archive_relative}"
        final, n = dest, 1
        while self.fs.exists(final):
            final, n = f"{dest}.{n}", n + 1
        self.fs.makedirs(final.rpartition("/")[0], exist_ok=True)
        self.fs.mv(self._key(relative), final)
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
        self.landing.fs.mv(self.key, final)
        self.landing.fs.pipe(f"{final}.outcome.json", outcome.encode())
        return final


def manifests_in(landing: RemoteLanding, folder: str) -> list[RemoteManifest]:
    key = f"{landing.root}/{folder}"
    if not landing.fs.exists(key):
        return []
    names = sorted(k for k in landing.fs.ls(key, detail=False) if k.endswith(".json"))
    found = [RemoteManifest(landing, k) for k in names]
    return [m for m in found if m.name[0] not in "._" and name_problem(m.name) is None]


def open_landing(spec: str) -> Any:
    """A local folder (``Path``) or a :class:`RemoteLanding` for an object-store URI."""
    from pathlib import Path

    if is_remote(spec):
        return RemoteLanding(spec)
    return Path(spec.removeprefix("file://"))
