"""Trigger files: a JSON manifest in ``<landing>/_triggers/`` names one batch.

    {"batch_id": "eod-2024-06-01", "files": ["orders/day1.jsonl", "customers/day1.csv"]}
    {"batch_id": "eod-2024-06-02", "sources": ["orders"]}

``files`` are paths relative to the landing root, each in a declared
source's folder; ``sources`` take every new file of those sources. The update
runs for exactly that batch. A manifest that is not valid is rejected with
the reason; either way the manifest leaves ``_triggers/`` for the archive,
with its outcome, so it never fires twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from shoplake.errors import ShoplakeError
from shoplake.ingest.archive import place
from shoplake.names import SUFFIXES
from shoplake.pipeline.tables import SourceDef
from shoplake.sources.listing import LandedFile, printable

TRIGGERS_DIR = "_triggers"
_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ManifestError(ShoplakeError):
    """A trigger manifest that cannot be run as written."""


@dataclass(frozen=True)
class Manifest:
    path: Path
    batch_id: str
    files: dict[str, list[LandedFile] | None]  # source → files, None = every new file
    text: str


def manifests(landing: Path) -> list[Path]:
    """Manifests waiting in ``_triggers/``, oldest name first (``_``/``.`` names are partial)."""
    if not isinstance(landing, Path):
        from shoplake.sources.remote import manifests_in

        return manifests_in(landing, TRIGGERS_DIR)
    folder = landing / TRIGGERS_DIR
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(".json") and p.name[0] not in "._")


def _file(landing: Path, sources: dict[str, SourceDef], entry: object) -> tuple[str, LandedFile]:
    if not isinstance(entry, str) or not entry:
        raise ManifestError(f"files: {entry!r} is not a path")
    if "\\" in entry or "\x00" in entry:
        raise ManifestError(f"files: {entry!r} holds a backslash or NUL; write a/b/c.csv")
    pure = PurePosixPath(entry)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:", entry):
        raise ManifestError(f"files: {entry!r} is absolute; name files relative to the landing")
    if any(part in ("..", ".", "") for part in entry.split("/")):
        raise ManifestError(f"files: {entry!r} leaves its folder ('..' or '.'); not followed")
    source_name = pure.parts[0]
    if source_name not in sources or len(pure.parts) < 2:
        known = ", ".join(sorted(sources))
        raise ManifestError(f"files: {entry!r} is not in a source folder ({known})")
    source = sources[source_name]
    base = pure.name[:-3] if pure.name.endswith(".gz") else pure.name
    if not isinstance(landing, Path):  # an object store: no symlinks, keys only
        stat = landing.stat(entry)
        if stat is None:
            raise ManifestError(f"files: {entry!r} does not exist in the landing folder")
        if not base.endswith(SUFFIXES[source.format]):
            raise ManifestError(f"files: {entry!r} is not a {source.format} file")
        return source_name, LandedFile(entry, *stat)
    path = landing / entry
    folders = [landing / q for q in pure.parents if str(q) != "."]
    if path.is_symlink() or any(f.is_symlink() for f in folders):
        raise ManifestError(f"files: {entry!r} is or passes through a symlink; not followed")
    if not path.resolve().is_relative_to(landing.resolve()):
        raise ManifestError(f"files: {entry!r} resolves outside the landing folder")
    if not path.is_file():
        raise ManifestError(f"files: {entry!r} does not exist in the landing folder")
    if not base.endswith(SUFFIXES[source.format]):
        raise ManifestError(f"files: {entry!r} is not a {source.format} file")
    st = path.stat()
    return source_name, LandedFile(entry, st.st_size, st.st_mtime_ns)


def parse_manifest(path: Path, landing: Path, sources: list[SourceDef]) -> Manifest:
    """Read and check one manifest; raises :class:`ManifestError` naming what is wrong."""
    if path.is_symlink():
        raise ManifestError("the manifest is a symlink; not followed")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise ManifestError("not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ManifestError(f"not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise ManifestError("must be a JSON object with batch_id and files or sources")
    unknown = set(data) - {"batch_id", "files", "sources", "description"}
    if unknown:
        raise ManifestError(f"unknown key(s) {', '.join(sorted(unknown))}")
    batch_id = data.get("batch_id")
    if not isinstance(batch_id, str) or not _BATCH_ID.match(batch_id):
        raise ManifestError(
            f"batch_id {batch_id!r}: give 1–64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    by_name = {s.name: s for s in sources}
    files: dict[str, list[LandedFile] | None] = {}
    entries = data.get("files", [])
    names = data.get("sources", [])
    if not isinstance(entries, list) or not isinstance(names, list):
        raise ManifestError("files and sources must be lists")
    if not entries and not names:
        raise ManifestError("names no files and no sources; give at least one")
    for name in names:
        if name not in by_name:
            raise ManifestError(f"sources: {name!r} is not a source ({', '.join(sorted(by_name))})")
        files[name] = None
    for entry in entries:
        source, landed = _file(landing, by_name, entry)
        if source in files and files[source] is None:
            continue  # the whole source is in the batch already
        listed = files.setdefault(source, [])
        assert listed is not None
        if landed not in listed:
            listed.append(landed)
    return Manifest(path, batch_id, files, text)


def archive_manifest(
    path: Path, root: Path, day: datetime, batch_id: str | None, outcome: dict[str, object]
) -> Path:
    """Move a manifest out of ``_triggers/`` with its outcome beside it."""
    if not isinstance(path, Path):  # on an object store (sources/remote.py)
        folder_name = f"{day:%Y-%m-%d}/{batch_id or '_failed'}"
        return Path(path.archive(folder_name, json.dumps(outcome, indent=2) + "\n"))
    folder = root / f"{day:%Y-%m-%d}" / (batch_id or "_failed")
    name = printable(path.name)
    dest = place(path, folder / f"{name}")
    (dest.parent / f"{dest.name}.outcome.json").write_text(json.dumps(outcome, indent=2) + "\n")
    return dest
