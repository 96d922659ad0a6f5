"""Knowing that a run has nothing to do without opening every table.

After a run that left nothing pending and nothing failed, the loader notes what it
saw in ``<lake>/_system/quiet.json``: a fingerprint of the pipeline (its tables,
their kinds and inputs, the sources' schemas and the declared metadata), the
version of every table the run looks at, and a digest of each landing folder's
listing. The next run compares: the same pipeline, the same listings and every
table still at its version mean nothing is new, and the run ends there.

A new or changed file, a waiting manifest, another process's commit (a stream, a
maintenance run), a changed definition or a removed table each send the run down
the usual path, which notes the state again at its end. Checking a table is one
listing of its log after the noted version, however long its history: on an object
store the usual path reads every table's log, and delta-rs reads the log again for
each consumed-version question.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from shoplake.engines.base import Engine
from shoplake.engines.delta_log import read_file
from shoplake.ingest.bronze import schema_fingerprint
from shoplake.ingest.triggers import manifests
from shoplake.names import JSONL
from shoplake.pipeline.context import quarantine_ref
from shoplake.pipeline.graph import build_graph
from shoplake.pipeline.tables import Pipeline, SourceDef, StreamSourceDef
from shoplake.sources.listing import scan
from shoplake.stores import is_object_store

NOTE = "_system/quiet.json"
LOADER_TABLES = ("_system.batches", "_system.files")
"""Written by the loader itself: an interrupted batch changes them first."""
PROBES = 8  # log listings at once on an object store
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _pipeline_fingerprint(pipeline: Pipeline) -> str:
    graph = build_graph(pipeline)
    parts: list[object] = []
    for ref in graph.order:
        definition = graph.definitions[ref]
        inputs = sorted(graph.inputs.get(ref, {}).items())
        schema = schema_fingerprint(definition) if isinstance(definition, SourceDef) else ""
        kind = _ADDRESS.sub("", repr(definition.kind))  # a plan object's repr names its address
        parts.append([ref, kind, inputs, schema, repr(definition.metadata)])
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _listings(pipeline: Pipeline, landing: Any) -> dict[str, str]:
    """Per source, a digest of what its landing folder holds (names, sizes, times)."""
    digests: dict[str, str] = {}
    for definition in pipeline.definitions.values():
        if isinstance(definition, SourceDef):
            fmt = definition.format
        elif isinstance(definition, StreamSourceDef):
            fmt = JSONL
        else:
            continue
        found, refused = scan(landing, definition.name, fmt)
        keys = sorted([*(f.stat_key for f in found), *(r.stat_key for r in refused)])
        digests[definition.name] = hashlib.sha256(json.dumps(keys).encode()).hexdigest()
    return digests


def watched_tables(pipeline: Pipeline) -> list[str]:
    """Every table a run reads or writes: the graph's, their quarantine, the loader's."""
    refs = list(build_graph(pipeline).order)
    return list(dict.fromkeys([*refs, *(quarantine_ref(r) for r in refs), *LOADER_TABLES]))


def _commit_name(version: int) -> str:
    return f"{version:020d}.json"


def _unchanged_local(log: Path, version: int | None) -> bool:
    if version is None:
        return not (log / _commit_name(0)).exists()
    return (log / _commit_name(version)).exists() and not (log / _commit_name(version + 1)).exists()


def _unchanged_store(uri: str, version: int | None) -> bool:
    from shoplake.sources.objects import object_fs

    fs, key = object_fs(f"{uri}/_delta_log")
    offset = f"{key}/{_commit_name(version - 1)}" if version else ""
    names = {k.rpartition("/")[2] for k in fs.list_after(key, offset)}
    commits = {n for n in names if n.endswith(".json") and n[:20].isdigit()}
    if version is None:
        return not commits
    return _commit_name(version) in commits and commits == {_commit_name(version)}


def _unchanged(engine: Engine, versions: Mapping[str, int | None]) -> bool:
    lake = engine.lake
    if is_object_store(lake):
        with ThreadPoolExecutor(PROBES) as pool:
            checks = pool.map(lambda r: _unchanged_store(engine.uri(r), versions[r]), versions)
            return all(checks)
    if "://" in lake:
        return False  # another kind of URI: take the usual path
    return all(_unchanged_local(Path(engine.uri(r)) / "_delta_log", v) for r, v in versions.items())


def _location(engine: Engine) -> str:
    return f"{engine.lake}/{NOTE}"


def _read_note(engine: Engine) -> dict[str, Any] | None:
    try:
        note = json.loads(read_file(_location(engine)))
    except (OSError, ValueError):  # none yet, or unreadable: take the usual path
        return None
    return note if isinstance(note, dict) else None


def is_quiet(engine: Engine, pipeline: Pipeline, landing: Any) -> bool:
    """Whether nothing changed since the last run noted the lake as settled."""
    note = _read_note(engine)
    if note is None or note.get("pipeline") != _pipeline_fingerprint(pipeline):
        return False
    if manifests(landing) or note.get("landing") != _listings(pipeline, landing):
        return False
    versions = note.get("tables")
    if not isinstance(versions, dict) or set(versions) != set(watched_tables(pipeline)):
        return False
    return _unchanged(engine, versions)


def note_quiet(engine: Engine, pipeline: Pipeline, landing: Any) -> None:
    """Record the settled state (call under the lake lock, after a run that left nothing
    pending or failed). Best effort: without a note the next run takes the usual path."""
    tables = {ref: engine.version(ref) for ref in watched_tables(pipeline)}
    note = {
        "pipeline": _pipeline_fingerprint(pipeline),
        "landing": _listings(pipeline, landing),
        "tables": tables,
    }
    data = json.dumps(note, indent=1, sort_keys=True).encode()
    location = _location(engine)
    try:
        if is_object_store(location):
            from shoplake.sources.objects import object_fs

            fs, key = object_fs(location)
            fs.pipe(key, data)
        elif "://" not in location:
            path = Path(location)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            partial.write_bytes(data)
            partial.replace(path)  # a reader sees the old note or the new, never half
    except OSError:
        return
