"""Record what the DAG processor parsed: DAG rows, serialized versions, import errors.

The scheduler, API and UI read DAGs only from here (never from user code): the latest
:class:`~downwind.metastore.models.dag_version.DagVersion` of a DAG holds its serialized
structure; a new version is stored whenever the serialized DAG's hash changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from downwind.exceptions import DagNotFound
from downwind.metastore.models import DagModel, DagTag, DagVersion, ParseImportError
from downwind.sdk.serialization import SerializedDAG, canonical_json, dag_hash, deserialize_dag
from downwind.timetables import deserialize_timetable


@dataclass(frozen=True)
class ParsedDag:
    """One DAG of a parsed file, as the DAG processor hands it over."""

    data: dict[str, Any]
    source_code: str | None = None

    @property
    def dag_id(self) -> str:
        return self.data["dag_id"]


def record_parsed_file(
    session: Session,
    *,
    fileloc: str,
    dags: Iterable[ParsedDag],
    import_error: str | None,
    now: datetime,
    paused_at_creation: bool,
) -> list[DagVersion]:
    """Store the outcome of parsing ``fileloc``; return the versions created.

    A file that failed keeps its DAGs (and their runs) as they were, flagged with
    ``has_import_errors``; a fixed file clears its import error. DAGs the file no longer
    defines become inactive.
    """
    session.execute(delete(ParseImportError).where(ParseImportError.filename == fileloc))
    known = session.scalars(select(DagModel).where(DagModel.fileloc == fileloc)).all()
    if import_error is not None:
        session.add(ParseImportError(filename=fileloc, stacktrace=import_error, timestamp=now))
        for row in known:
            row.has_import_errors = True
        return []
    created: list[DagVersion] = []
    seen: set[str] = set()
    for parsed in dags:
        seen.add(parsed.dag_id)
        row = _upsert_dag(session, parsed, fileloc, now, paused_at_creation)
        version = _store_version(session, row.dag_id, parsed, fileloc)
        if version is not None:
            created.append(version)
    for row in known:
        if row.dag_id not in seen:
            row.is_active = False
    return created


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
        row.tags = [DagTag(dag_id=row.dag_id, name=name) for name in wanted]
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


def deactivate_missing_files(session: Session, present_files: Iterable[str]) -> list[str]:
    """Mark inactive the DAGs whose file is gone; drop import errors of gone files.

    Returns the ids of the DAGs deactivated. Their runs and history are kept.
    """
    present = set(present_files)
    gone: list[str] = []
    for row in session.scalars(select(DagModel).where(DagModel.is_active.is_(True))):
        if row.fileloc not in present:
            row.is_active = False
            gone.append(row.dag_id)
    for error in session.scalars(select(ParseImportError)):
        if error.filename not in present:
            session.delete(error)
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
    """The serialized DAG of ``dag_id`` (its latest version, or ``version_id``)."""
    if version_id is None:
        version = latest_version(session, dag_id)
    else:
        version = session.get(DagVersion, version_id)
    if version is None or version.dag_id != dag_id:
        raise DagNotFound(
            f"DAG '{dag_id}' has no stored version: is it in the dags folder, and has the "
            "DAG processor parsed it?"
        )
    return _deserialize_cached(version.dag_hash, version.data)


@lru_cache(maxsize=256)
def _deserialize_cached(digest: str, data: str) -> SerializedDAG:
    del digest  # part of the cache key only
    return deserialize_dag(json.loads(data))
