"""Storage errors as one line a user can act on: which table, what broke, the way out.

delta-rs reports a damaged log as a kernel JSON error without naming the file, a
full disk as an OS error deep in its message (sometimes after a panic), and with
``RUST_BACKTRACE=1`` appends a backtrace to every message. These helpers turn
such an error on one table into a sentence, finding the damaged log file
themselves when the table is on local disk.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

import orjson

from shoplake.errors import first_line

_FULL = re.compile(r"No space left on device|os error 28|Already shut down|ENOSPC", re.I)
_READ_ONLY = re.compile(r"Read-only file system|os error 30|EROFS", re.I)
_DENIED = re.compile(r"Permission denied|os error 13|EACCES", re.I)
_LOG = re.compile(r"Kernel error: Json error|Invalid JSON in log record|checkpoint", re.I)


def damaged_log_file(table_uri: str) -> Path | None:
    """The newest commit file of a local table's ``_delta_log`` that is not JSON lines."""
    log = Path(table_uri.removeprefix("file://")) / "_delta_log"
    if not log.is_dir():
        return None
    for commit in sorted(log.glob("*.json"), reverse=True):
        try:
            for line in commit.read_bytes().splitlines():
                if line.strip():
                    orjson.loads(line)
        except (orjson.JSONDecodeError, OSError):
            return commit
    return None


def explain_anywhere(err: BaseException) -> str | None:
    """A full disk, a read-only lake or a missing permission, wherever in the lake it
    struck (a system table, the lock, a log): None for any other error."""
    return _environment("the lake", "the lake's folder", err)


def _environment(what: str, where: str, err: BaseException) -> str | None:
    code = getattr(err, "errno", None)
    text = str(err)
    if code == errno.ENOSPC or _FULL.search(text):
        return (
            f"the disk holding {where} is full: nothing more was committed to {what}; "
            "free some space and run again (the run picks up where it stopped)"
        )
    if code == errno.EROFS or _READ_ONLY.search(text):
        return (
            f"{where} is on a read-only file system: nothing was committed to {what}; "
            "point --lake at a writable folder"
        )
    if code == errno.EACCES or _DENIED.search(text):
        return (
            f"no permission to write {where}: nothing was committed to {what}; "
            "give this user write access to the lake folder, or point --lake elsewhere"
        )
    return None


def _store_refusal(ref: str, table_uri: str, err: BaseException) -> str | None:
    """A store refusing a request on a table on an object store (delta-rs words it as a
    parquet or kernel error, the store's 403 deep inside): the table's URI and what to
    check, not the store's answer."""
    from shoplake.stores import display, is_object_store, permission_denied

    if not is_object_store(table_uri):
        return None
    # The refused key is one data or log file of the table: the table's URI names the
    # prefix to grant; a Delta commit is all or nothing, so nothing of it was committed.
    where = display(table_uri.rstrip("/")) + "/"
    denied = permission_denied(str(err), table_uri, name=where)
    if denied is None:
        return None
    return f"{denied}; nothing of {ref} was committed, and a run once it is allowed builds it"


def explain(ref: str, table_uri: str, err: BaseException) -> str | None:
    """What went wrong writing or reading ``ref`` and what to do, or None when the error
    is none of the storage problems known here (full disk, read-only, a damaged log)."""
    message = first_line(err)
    store = _store_refusal(ref, table_uri, err)
    if store is not None:
        return store
    environment = _environment(ref, table_uri, err)
    if environment is not None:
        return environment
    if _LOG.search(message):
        damaged = damaged_log_file(table_uri)
        where = f"{damaged.name} in its _delta_log" if damaged else "a file of its _delta_log"
        version = int(damaged.stem) if damaged else None
        # Deleting a damaged commit makes its version number free again, and a table
        # downstream that consumed it would take the next commit for one it has seen:
        # after a deletion, only a rebuild of everything downstream is safe.
        undo = (
            f"restore {damaged} from a backup, or delete it and rebuild with "
            "`shoplake run --full-refresh`"
            if damaged is not None and version
            else "restore the _delta_log from a backup, or delete the table's folder and "
            "rebuild with `shoplake run --full-refresh`"
        )
        return f"the Delta log of {ref} is damaged ({where}: {message}); {undo}"
    return None
