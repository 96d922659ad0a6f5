"""Reading a Delta log the same way whichever engine wrote it.

delta-rs keeps custom commit metadata as top-level keys of ``commitInfo``; Spark's
Delta keeps one ``userMetadata`` string, into which the Spark engine writes the same
keys as a JSON object. :func:`commit_values` reads both, so either engine finds the
other's file identities, run ids and extra app transactions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

import pyarrow.fs as pafs

METADATA_OPERATIONS = ("UPDATE TABLE METADATA", "SET TBLPROPERTIES", "UPDATE FIELD METADATA")
"""delta-rs' metadata-only commits (a description, properties, column comments)."""
SAME_ROWS = ("OPTIMIZE", "VACUUM START", "VACUUM END", *METADATA_OPERATIONS)
"""Commits that change files but not rows (compaction, Z-order, vacuum) or no files at
all (metadata): a change feed passes over them, whichever engine reads it."""
USER_METADATA = "userMetadata"
TRANSACTIONS = "shoplake.transactions"
"""Commit metadata holding every app transaction of a commit as JSON (``{app_id:
version}``): Spark's writer records only one ``txn`` action per commit."""


WRITER = "shoplake.writer"
"""Commit metadata naming the process that wrote the commit (``names.writer()``), so a
writer that lost a commit race can say who won (``describe_commit``)."""


def commit_values(commit: Mapping[str, object]) -> dict[str, str]:
    """The custom metadata of one commit (``history()`` entry) as strings."""
    values = {k: str(v) for k, v in commit.items() if k.startswith("shoplake.")}
    user = commit.get(USER_METADATA)
    if isinstance(user, str) and user.startswith("{"):
        try:
            decoded = json.loads(user)
        except ValueError:
            return values
        if isinstance(decoded, dict):
            values.update({str(k): str(v) for k, v in decoded.items()})
    return values


def recorded_transactions(commit: Mapping[str, object]) -> dict[str, int]:
    """The app transactions a commit recorded in its metadata (see ``TRANSACTIONS``)."""
    raw = commit_values(commit).get(TRANSACTIONS)
    if raw is None:
        return {}
    return {str(k): int(v) for k, v in json.loads(raw).items()}


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" in uri:
        fs, path = pafs.FileSystem.from_uri(uri)
        return fs, str(path)
    return pafs.LocalFileSystem(), uri


def read_file(uri: str) -> bytes:
    """A whole small file (a commit, a note) of a local or object-store lake."""
    from shoplake.stores import is_object_store

    if is_object_store(uri):  # with the lake's own settings (pyarrow knows neither az:// nor them)
        from shoplake.sources.objects import object_fs

        fs, key = object_fs(uri)
        return fs.cat_file(key)
    fs_, path = filesystem(uri)
    with fs_.open_input_stream(path) as handle:
        return bytes(handle.read())


def actions(base: str, version: int) -> list[dict[str, Any]] | None:
    """The actions of one commit of the table at ``base`` (one JSON object a line), or
    None when its file is gone (log clean-up)."""
    try:
        lines = read_file(f"{base}/_delta_log/{version:020d}.json").splitlines()
    except (FileNotFoundError, OSError):
        return None
    return [json.loads(line) for line in lines if line.strip()]


def commit_info(base: str, version: int) -> dict[str, Any] | None:
    """The ``commitInfo`` of one commit of the table at ``base``, with its ``version``,
    read from the commit file itself; None when that file is gone (log clean-up).

    Not ``DeltaTable.history()``: delta-rs (1.6) returns the newest commits *in storage*
    but numbers them down from the handle's version, so on a handle another process has
    committed past every commit gets another commit's number.
    """
    found = actions(base, version)
    if found is None:
        return None
    for action in found:
        if "commitInfo" in action:
            info = dict(action["commitInfo"])
            info["version"] = version
            return info
    return {"version": version}  # a writer that records no commitInfo


def commit_infos(base: str, versions: Iterable[int]) -> list[dict[str, Any]]:
    """``commit_info`` of each version that still has its commit file, in the order given."""
    found = (commit_info(base, v) for v in versions)
    return [c for c in found if c is not None]


def describe_commit(commit: Mapping[str, object]) -> str:
    """One commit as a person reads it: ``version 57, MERGE by shoplake stream (pid 4321 on
    box) in run 20261205T…``; a commit of another tool names its engine instead."""
    values = commit_values(commit)
    operation = str(commit.get("operation") or "a commit")
    who = values.get(WRITER) or str(commit.get("engineInfo") or commit.get("clientVersion") or "")
    run = values.get("shoplake.run_id")
    text = f"version {commit.get('version', '?')}, {operation}"
    text += f" by {who}" if who else " by another writer"
    return text + (f" in run {run}" if run else "")


def appended_rows(base: str, after: int, until: int) -> int | None:
    """Rows the commits in (after, until] added with ``dataChange`` (an append's rows; a
    compaction's rewritten files are no change), from the ``numRecords`` statistics of
    their files: no data is read. None when a file has no statistics or a commit file is
    gone (the caller counts the rows instead)."""
    total = 0
    for version in range(after + 1, until + 1):
        found = actions(base, version)
        if found is None:
            return None
        for action in found:
            added = action.get("add")
            if not added or not added.get("dataChange", True):
                continue
            stats = json.loads(added.get("stats") or "{}")
            if "numRecords" not in stats:
                return None
            total += int(stats["numRecords"])
    return total


def data_files(base: str, after: int, until: int) -> list[str] | None:
    """Files added or removed with ``dataChange`` by the commits in (after, until] of the
    table at ``base``, read from the commit files themselves: an OPTIMIZE (same rows in
    new files) is no change. None when a commit file is gone (log cleaned up)."""
    files: set[str] = set()
    for version in range(after + 1, until + 1):
        found = actions(base, version)
        if found is None:
            return None
        for action in found:
            for kind in ("add", "remove"):
                entry = action.get(kind)
                if entry and entry.get("dataChange", True):
                    files.add(f"{base}/{unquote(entry['path'])}")
    return sorted(files)


def is_file(uri: str) -> bool:
    from shoplake.stores import is_object_store

    if is_object_store(uri):
        from shoplake.sources.objects import object_fs

        store, key = object_fs(uri)
        try:
            store.info(key)
            return True
        except FileNotFoundError:
            return False
    fs, path = filesystem(uri)
    return bool(fs.get_file_info(path).type == pafs.FileType.File)
