"""Record what the DAG processor parsed: DAG rows, serialized versions, import errors.

The scheduler, API and UI read DAGs only from here (never from user code): the latest
:class:`~downwind.metastore.models.dag_version.DagVersion` of a DAG holds its serialized
structure; a new version is stored whenever the serialized DAG's hash changes.

A DAG id belongs to one file at a time: a second file that defines an id which another
file's active DAG already has gets an import error (``DuplicateDagId``) instead of taking
the DAG over. Once the first file drops the id (or is deleted), the second one takes it
on its next parse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from downwind.exceptions import DagNotFound
from downwind.metastore.models import DagModel, DagTag, DagVersion, ParseImportError
from downwind.sdk.serialization import SerializedDAG, canonical_json, dag_hash, deserialize_dag
from downwind.timetables import deserialize_timetable

__all__ = [
    "DUPLICATE_DAG_ID",
    "FileRecord",
    "ParsedDag",
    "deactivate_missing_files",
    "latest_version",
    "load_serialized_dag",
    "record_parsed_file",
]

#: how an import error for a DAG id already defined by another file starts its last line
DUPLICATE_DAG_ID = "DuplicateDagId"

# Rows changed per UPDATE ... WHERE dag_id IN (...): well under SQLite's variable limit.
_CHUNK = 500


@dataclass(frozen=True)
class ParsedDag:
    """One DAG of a parsed file, as the DAG processor hands it over: the output of
    :func:`~downwind.sdk.serialization.serialize_dag` and the file's source code."""

    data: dict[str, Any]
    source_code: str | None = None

    @property
    def dag_id(self) -> str:
        return self.data["dag_id"]


@dataclass
class FileRecord:
    """What :func:`record_parsed_file` changed for one file."""

    #: the versions stored (a DAG whose serialized form did not change gets none)
    versions: list[DagVersion] = field(default_factory=list)
    #: the import error now recorded for the file (the given one, or a duplicate DAG id)
    import_error: str | None = None
    #: ids of the DAGs the file no longer defines, now inactive
    deactivated: list[str] = field(default_factory=list)
    #: DAG ids the file defines that another file's active DAG already has
    duplicate_ids: list[str] = field(default_factory=list)


def record_parsed_file(
    session: Session,
    *,
    fileloc: str,
    dags: Iterable[ParsedDag],
    import_error: str | None,
    now: datetime,
    paused_at_creation: bool,
) -> FileRecord:
    """Store the outcome of parsing ``fileloc``.

    A DAG seen for the first time gets a row, paused when ``paused_at_creation`` (a DAG's
    own ``is_paused_upon_creation`` wins); a DAG whose serialized form changed gets a new
    version. A file that failed keeps its DAGs (and their runs) as they were, flagged with
    ``has_import_errors``; a fixed file clears its import error. DAGs the file no longer
    defines become inactive. The caller owns the transaction.
    """
    dags = list(dags)
    session.execute(delete(ParseImportError).where(ParseImportError.filename == fileloc))
    known = session.scalars(select(DagModel).where(DagModel.fileloc == fileloc)).all()
    record = FileRecord()
    if import_error is None:
        import_error = _duplicate_error(session, fileloc, dags, record)
    if import_error is not None:
        session.add(ParseImportError(filename=fileloc, stacktrace=import_error, timestamp=now))
        for row in known:
            row.has_import_errors = True
        record.import_error = import_error
        return record
    seen: set[str] = set()
    for parsed in dags:
        seen.add(parsed.dag_id)
        row = _upsert_dag(session, parsed, fileloc, now, paused_at_creation)
        version = _store_version(session, row.dag_id, parsed, fileloc)
        if version is not None:
            row.next_dagrun_create_after = None  # the schedule may have changed: look again
            record.versions.append(version)
    for row in known:
        if row.dag_id not in seen:
            row.has_import_errors = False
            if row.is_active:
                row.is_active = False
                record.deactivated.append(row.dag_id)
    return record


def _duplicate_error(
    session: Session, fileloc: str, dags: list[ParsedDag], record: FileRecord
) -> str | None:
    """An import error when a DAG id of this file belongs to another file's active DAG."""
    ids = [parsed.dag_id for parsed in dags]
    owners: dict[str, str] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(DagModel.dag_id, DagModel.fileloc).where(
                DagModel.dag_id.in_(ids[start : start + _CHUNK]),
                DagModel.is_active.is_(True),
                DagModel.fileloc != fileloc,
            )
        )
        owners.update({dag_id: other for dag_id, other in rows if other is not None})
    if not owners:
        return None
    record.duplicate_ids = sorted(owners)
    lines = [
        f"{DUPLICATE_DAG_ID}: the DAG id '{dag_id}' is already used by {owners[dag_id]}"
        for dag_id in record.duplicate_ids
    ]
    return f'  File "{fileloc}"\n' + "\n".join(lines) + "\n"


def _upsert_dag(
    session: Session, parsed: ParsedDag, fileloc: str, now: datetime, paused_at_creation: bool
) -> DagModel:
    data = parsed.data
    row = session.get(DagModel, parsed.dag_id)
    if row is None:
        paused = data.get("is_paused_upon_creation")
        row = DagModel(
            dag_id=parsed.dag_id,
            is_paused=paused_at_creation if paused is None else bool(paused),
        )
        session.add(row)
    timetable = deserialize_timetable(data["timetable"])
    row.is_active = True
    row.has_import_errors = False
    row.fileloc = fileloc
    row.owners = data.get("owner", "downwind")
    row.description = data.get("description")
    row.timetable_summary = timetable.summary
    row.timetable_description = timetable.description
    row.max_active_runs = data.get("max_active_runs", 16)
    row.max_active_tasks = data.get("max_active_tasks", 16)
    row.last_parsed_time = now
    wanted = sorted(set(data.get("tags", [])))
    if [tag.name for tag in row.tags] != wanted:
        kept = {tag.name: tag for tag in row.tags}
        row.tags = [kept.get(name) or DagTag(dag_id=row.dag_id, name=name) for name in wanted]
    return row


def _store_version(
    session: Session, dag_id: str, parsed: ParsedDag, fileloc: str
) -> DagVersion | None:
    digest = dag_hash(parsed.data)
    latest = latest_version(session, dag_id)
    if latest is not None and latest.dag_hash == digest:
        if parsed.source_code is not None and latest.source_code != parsed.source_code:
            latest.source_code = parsed.source_code  # a comment changed: same DAG
        return None
    number = (
        session.scalar(
            select(func.max(DagVersion.version_number)).where(DagVersion.dag_id == dag_id)
        )
        or 0
    )
    version = DagVersion(
        dag_id=dag_id,
        version_number=number + 1,
        dag_hash=digest,
        data=canonical_json(parsed.data),
        source_code=parsed.source_code,
        fileloc=fileloc,
    )
    session.add(version)
    session.flush()
    return version


def ensure_dag_version(
    session: Session,
    parsed: ParsedDag,
    *,
    fileloc: str,
    now: datetime,
    paused_at_creation: bool,
) -> DagVersion:
    """The stored version of ``parsed`` (stored now if it is new), without touching the
    other DAGs of its file: for ``dags test`` recording a run of a DAG the DAG processor
    may not have parsed yet."""
    row = _upsert_dag(session, parsed, fileloc, now, paused_at_creation)
    version = _store_version(session, row.dag_id, parsed, fileloc)
    if version is not None:
        row.next_dagrun_create_after = None
        return version
    latest = latest_version(session, parsed.dag_id)
    assert latest is not None  # _store_version found it unchanged
    return latest


def deactivate_missing_files(session: Session, present_files: Iterable[str]) -> list[str]:
    """Mark inactive the DAGs whose file is not in ``present_files`` (every DAG file the
    processor found); drop the import errors of files not in it.

    Returns the ids of the DAGs deactivated, sorted. Their runs and history are kept.
    """
    present = set(present_files)
    rows = session.execute(
        select(DagModel.dag_id, DagModel.fileloc).where(DagModel.is_active.is_(True))
    )
    gone = sorted(dag_id for dag_id, fileloc in rows if fileloc not in present)
    for start in range(0, len(gone), _CHUNK):
        session.execute(
            update(DagModel)
            .where(DagModel.dag_id.in_(gone[start : start + _CHUNK]))
            .values(is_active=False, has_import_errors=False)
        )
    errors = session.execute(select(ParseImportError.id, ParseImportError.filename))
    stale = [error_id for error_id, filename in errors if filename not in present]
    for start in range(0, len(stale), _CHUNK):
        session.execute(
            delete(ParseImportError).where(ParseImportError.id.in_(stale[start : start + _CHUNK]))
        )
    return gone


def latest_version(session: Session, dag_id: str) -> DagVersion | None:
    """The newest stored version of ``dag_id``, if any."""
    return session.scalar(
        select(DagVersion)
        .where(DagVersion.dag_id == dag_id)
        .order_by(DagVersion.version_number.desc())
        .limit(1)
    )


def load_serialized_dag(
    session: Session, dag_id: str, version_id: int | None = None
) -> SerializedDAG:
    """The serialized DAG of ``dag_id`` (its latest version, or the version whose id is
    ``version_id``); :class:`~downwind.exceptions.DagNotFound` when there is none.

    Deserialized DAGs are cached by their hash, so a call costs one small query (the
    version's hash) unless the version is new to this process.
    """
    query = select(DagVersion.dag_id, DagVersion.dag_hash)
    if version_id is None:
        query = query.where(DagVersion.dag_id == dag_id).order_by(DagVersion.version_number.desc())
    else:
        query = query.where(DagVersion.id == version_id)
    found = session.execute(query.limit(1)).first()
    if found is None or found.dag_id != dag_id:
        if version_id is not None:
            raise DagNotFound(f"DAG '{dag_id}' has no stored version with id {version_id}")
        raise DagNotFound(
            f"DAG '{dag_id}' has no stored version: is it in the dags folder, and has the "
            "DAG processor parsed it?"
        )
    cached = _by_hash.get(found.dag_hash)
    if cached is None:
        data = session.scalar(
            select(DagVersion.data)
            .where(DagVersion.dag_id == dag_id, DagVersion.dag_hash == found.dag_hash)
            .limit(1)
        )
        cached = deserialize_dag(json.loads(data))
        if len(_by_hash) >= _CACHE_SIZE:
            _by_hash.pop(next(iter(_by_hash)))
        _by_hash[found.dag_hash] = cached
    return cached


#: deserialized DAGs by the hash of their serialized form (oldest first, bounded)
_by_hash: dict[str, SerializedDAG] = {}
_CACHE_SIZE = 256
