"""Listing a landing folder safely: the files of a source, and the names never followed.

File names are untrusted: discovery walks the source folder without following
symlinks and reports (never reads) a symlink, a name that is not UTF-8 or
holds control characters, and anything that resolves outside the landing root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shoplake.names import SUFFIXES

_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


@dataclass(frozen=True)
class LandedFile:
    """A file in the landing folder, named relative to the landing root.

    ``location`` is where to read it when that is not ``<landing>/<path>``
    (a batch replayed from its archived copies).
    """

    path: str
    size: int
    mtime_ns: int
    location: str | None = None

    @property
    def stat_key(self) -> tuple[str, int, int]:
        return (self.path, self.size, self.mtime_ns)


@dataclass(frozen=True)
class Rejected:
    """A name in the landing folder that is reported and never followed, read or moved."""

    path: str  # printable: bytes that are not UTF-8 appear as \\xNN escapes
    size: int
    mtime_ns: int
    reason: str
    status: str = "rejected"
    """``rejected`` (a name never followed) or ``unsupported`` (a file of another format)."""

    @property
    def stat_key(self) -> tuple[str, int, int]:
        return (self.path, self.size, self.mtime_ns)


def printable(name: str) -> str:
    """A file name as text that can be shown and stored, whatever bytes it holds."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def unsupported(relative: str, size: int, mtime_ns: int, fmt: str) -> Rejected | None:
    """A file the source's format does not read, accounted for rather than left unseen."""
    name = relative.rpartition("/")[2]
    base = name[:-3] if name.endswith(".gz") else name
    suffixes = SUFFIXES[fmt]
    if base.endswith(suffixes):
        return None
    expected = " or ".join(f"{s} or {s}.gz" for s in suffixes)
    reason = f"unsupported format: this source reads {fmt} files ({expected})"
    return Rejected(relative, size, mtime_ns, reason, "unsupported")


def name_problem(relative: str) -> str | None:
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        return "the name is not valid UTF-8"
    if _CONTROL & set(relative):
        return "the name holds control characters"
    return None


def scan(landing: Path, source: str, fmt: str) -> tuple[list[LandedFile], list[Rejected]]:
    """Files of ``source`` under ``landing/<source>/`` in name order, and the names refused.

    Only regular files that resolve inside the landing root are returned;
    hidden and ``_``-prefixed names (files being written) are ignored. An
    object-store landing (``sources/remote.py``) lists itself.
    """
    if not isinstance(landing, Path):
        return landing.scan(source, fmt)
    root = landing.resolve()
    folder = landing / source
    rejected: list[Rejected] = []
    if folder.is_symlink():
        st = folder.lstat()
        return [], [Rejected(source, st.st_size, st.st_mtime_ns, "a symlink: not followed")]
    if not folder.is_dir():
        return [], []
    found: list[LandedFile] = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        here = Path(top)
        for name in dirs:
            if (here / name).is_symlink():
                st = (here / name).lstat()
                rel = printable((here / name).relative_to(landing).as_posix())
                reason = "a symlink: not followed"
                rejected.append(Rejected(rel, st.st_size, st.st_mtime_ns, reason))
        dirs[:] = sorted(d for d in dirs if not (here / d).is_symlink() and not d.startswith("."))
        for name in names:
            path = here / name
            relative = path.relative_to(landing).as_posix()
            if name.startswith((".", "_")):
                continue
            try:
                st = path.lstat()
            except FileNotFoundError:
                # Archived by the process holding the lake lock since the folder was read
                # (this listing may run outside the lock, e.g. to size a progress bar).
                continue
            problem = name_problem(relative)
            if problem is None and path.is_symlink():
                problem = f"a symlink (to {printable(os.readlink(path))}): not followed"
            elif problem is None and not path.resolve().is_relative_to(root):
                problem = "it resolves outside the landing folder"
            elif problem is None and not path.is_file():
                if not path.exists():
                    continue  # gone meanwhile, as above
                problem = "not a regular file"
            if problem is not None:
                rejected.append(Rejected(printable(relative), st.st_size, st.st_mtime_ns, problem))
                continue
            other = unsupported(relative, st.st_size, st.st_mtime_ns, fmt)
            if other is not None:
                rejected.append(other)
                continue
            found.append(LandedFile(relative, st.st_size, st.st_mtime_ns))
    return sorted(found, key=lambda f: f.path), sorted(rejected, key=lambda r: r.path)


def discover(landing: Path, source: str, fmt: str) -> list[LandedFile]:
    """Readable files of ``source`` under ``landing/<source>/``, oldest name first."""
    return scan(landing, source, fmt)[0]
