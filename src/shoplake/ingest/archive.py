"""Moving ingested files out of the landing folder, after their bronze commit.

Each file record a bronze commit holds names the file's archive location
(``<date>/<batch>/<path>`` under the archive root). Settling moves every
landing file whose record says so — the normal step after a batch, and, after
a crash between the commit and the move, the repair on the next run: the file
is archived, not ingested again. Only a file still at its recorded path with
its recorded size and modified time is moved, and only inside the two roots.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from shoplake.engines.base import Engine
from shoplake.errors import ConfigError
from shoplake.ingest.bronze import file_records
from shoplake.pipeline.faults import fault
from shoplake.pipeline.tables import SourceDef
from shoplake.sources.listing import scan

ARCHIVE_MODES = ("move", "delete", "leave")


@dataclass(frozen=True)
class ArchivePolicy:
    """``move`` (default) to ``<archive>/<date>/<batch>/``; ``delete`` moves too, then removes
    archive days older than ``retention_days``; ``leave`` keeps files in landing."""

    mode: str = "move"
    root: Path | None = None  # default: "archive" beside the landing folder
    retention_days: int = 30

    def __post_init__(self) -> None:
        if self.mode not in ARCHIVE_MODES:
            raise ConfigError(f"archive mode {self.mode!r}: use one of {', '.join(ARCHIVE_MODES)}")
        if self.retention_days < 0:
            raise ConfigError("archive retention_days must be 0 or more")

    def root_for(self, landing: Path) -> Path:
        return self.root or landing.absolute().parent / "archive"


def archive_prefix(batch_id: str, when: datetime) -> str:
    return f"{when:%Y-%m-%d}/{batch_id}"


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def place(source: Path, dest: Path) -> Path:
    """Move ``source`` to ``dest`` (atomic on one file system), never overwriting a file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    final = dest
    n = 1
    while final.exists():
        final = dest.with_name(f"{dest.name}.{n}")
        n += 1
    try:
        os.replace(source, final)
    except OSError:  # another file system: copy, then remove
        shutil.copy2(source, final)
        source.unlink()
    return final


def settle(
    engine: Engine, sources: Iterable[SourceDef], landing: Path, policy: ArchivePolicy
) -> list[tuple[str, Path]]:
    """Archive every landing file whose bronze record names an archive location.

    Works from the landing listing (safe names only), so its cost follows what is in
    the landing folder, not every file the lake ever ingested.
    """
    if policy.mode == "leave":
        return []
    remote = not isinstance(landing, Path)  # an object store (sources/remote.py)
    root = Path() if remote else policy.root_for(landing)
    moved: list[tuple[str, Path]] = []
    for source in sources:
        present = scan(landing, source.name, source.format)[0]
        if not present:
            continue
        wanted = {
            (r["path"], r["size"], r["mtime_ns"]): str(r["archive"])
            for r in file_records(engine, source)
            if r.get("archive")
        }
        for file in present:
            target = wanted.get(file.stat_key)
            if target is None:
                continue  # not committed yet, or rewritten since: a new file
            if remote:
                moved.append((file.path, Path(landing.archive(file.path, target))))  # type: ignore[attr-defined]
            else:
                dest = root / target
                if not _inside(dest.parent, root):
                    continue
                moved.append((file.path, place(landing / file.path, dest)))
            if len(moved) == 1:
                fault("mid_archive")
    if policy.mode == "delete":
        if remote:
            landing.purge(datetime.now() - timedelta(days=policy.retention_days))  # type: ignore[attr-defined]
        else:
            purge(root, policy.retention_days)
    return moved


def purge(root: Path, retention_days: int, now: datetime | None = None) -> list[Path]:
    """Remove archive day folders older than the retention period."""
    if not root.is_dir():
        return []
    cutoff = (now or datetime.now()).date() - timedelta(days=retention_days)
    removed: list[Path] = []
    for day in root.iterdir():
        try:
            date = datetime.strptime(day.name, "%Y-%m-%d").date()
        except ValueError:
            continue
        if date < cutoff and day.is_dir() and not day.is_symlink():
            shutil.rmtree(day)
            removed.append(day)
    return removed
