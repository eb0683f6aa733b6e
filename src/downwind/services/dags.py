"""DAGs as the metastore knows them: look one up, list and filter them, pause, unpause
and delete one; their tags, run statistics, stored versions, sources and import errors."""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select
from sqlalchemy.orm import Session

from downwind.exceptions import DagNotFound, TaskNotFound
from downwind.metastore.models import (
    DagModel,
    DagRun,
    DagTag,
    DagVersion,
    ParseImportError,
    TaskInstance,
)
from downwind.sdk.serialization import SerializedDAG, SerializedTask
from downwind.services.audit import record_action
from downwind.services.dag_registry import latest_version, load_serialized_dag
from downwind.services.errors import DagInUse, DagVersionNotFound, ImportErrorNotFound
from downwind.services.listing import matches_pattern, matches_prefix
from downwind.states import TASK_ACTIVE, DagRunState
from downwind.timetables import deserialize_timetable

__all__ = [
    "DAG_SORT_FIELDS",
    "DAG_VERSION_SORT_FIELDS",
    "IMPORT_ERROR_SORT_FIELDS",
    "DagDetails",
    "DagFilters",
    "DagShape",
    "dag_run_stats",
    "dag_shapes",
    "dag_timezone",
    "delete_dag",
    "get_dag_details",
    "get_dag_model",
    "get_dag_task",
    "get_dag_version",
    "get_import_error",
    "select_dag_tags",
    "select_dag_versions",
    "select_dags",
    "select_import_errors",
    "set_paused",
    "to_aware",
]


def get_dag_model(session: Session, dag_id: str, *, active: bool = False) -> DagModel:
    """The row of ``dag_id``; raises :class:`~downwind.exceptions.DagNotFound` when the
    metastore has never seen it (or, with ``active``, when its file no longer defines it)."""
    row = session.get(DagModel, dag_id)
    if row is None:
        known = session.scalars(select(DagModel.dag_id)).all()
        close = difflib.get_close_matches(dag_id, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise DagNotFound(
            f"DAG '{dag_id}' not found in the metastore: is its file in the dags folder, and "
            f"has the DAG processor parsed it?{hint}"
        )
    if active and not row.is_active:
        raise DagNotFound(
            f"DAG '{dag_id}' is not active: its file ({row.fileloc}) is gone or no longer "
            "defines it"
        )
    return row


def set_paused(
    session: Session,
    dag_id: str,
    paused: bool,
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> DagModel:
    """Pause (no new runs are started) or unpause ``dag_id``; audited as ``pause`` /
    ``unpause`` even when it already was so (with ``extra``, e.g. the client's address)."""
    row = get_dag_model(session, dag_id)
    row.is_paused = paused
    if not paused:
        row.next_dagrun_create_after = None  # let the scheduler look at it at once
    record_action(
        session,
        "pause" if paused else "unpause",
        owner=owner,
        now=now,
        dag_id=dag_id,
        extra=extra,
    )
    return row


def dag_timezone(session: Session, dag_id: str) -> tzinfo:
    """The time zone of the latest stored version of ``dag_id`` (UTC if none is stored)."""
    if latest_version(session, dag_id) is None:
        return UTC
    return load_serialized_dag(session, dag_id).timezone


def to_aware(value: datetime | None, tz: tzinfo) -> datetime | None:
    """``value`` in UTC; a naive ``value`` is a wall-clock time in ``tz``."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


# -- listing and filtering ----------------------------------------------------------------


@dataclass(frozen=True)
class DagFilters:
    """The filters of a DAG list; an empty or ``None`` filter does not filter.

    Patterns follow :mod:`downwind.services.listing`. A DAG's display name is its id.
    """

    tags: Sequence[str] = ()
    #: with several tags: a DAG must have all of them (else any one)
    match_all_tags: bool = False
    #: DAGs owned by any of these (a DAG's owners are its tasks' owners)
    owners: Sequence[str] = ()
    dag_id_pattern: str | None = None
    dag_id_prefix_pattern: str | None = None
    dag_display_name_pattern: str | None = None
    dag_display_name_prefix_pattern: str | None = None
    #: leave out DAGs whose file is gone or no longer defines them
    exclude_stale: bool = True
    paused: bool | None = None
    has_import_errors: bool | None = None
    #: the state of each DAG's latest run (by ``run_after``)
    last_dag_run_state: str | None = None


#: the fields a DAG list may be sorted by (``state`` and ``start_date``: of the latest run)
DAG_SORT_FIELDS = (
    "dag_id",
    "dag_display_name",
    "next_dagrun",
    "state",
    "start_date",
    "last_run_state",
    "last_run_start_date",
)


def _latest_run(column: Any) -> Any:
    """``column`` of the DAG's latest run, as a correlated scalar subquery."""
    return (
        select(column)
        .where(DagRun.dag_id == DagModel.dag_id)
        .order_by(DagRun.run_after.desc(), DagRun.id.desc())
        .limit(1)
        .correlate(DagModel)
        .scalar_subquery()
    )


def _has_owner(owner: str) -> ColumnElement[bool]:
    """The DAG's owners (``"ada, bob"``: its tasks' owners) include ``owner``."""
    owners = DagModel.owners
    return or_(
        owners == owner,
        owners.startswith(f"{owner}, ", autoescape=True),
        owners.endswith(f", {owner}", autoescape=True),
        owners.contains(f", {owner}, ", autoescape=True),
    )


def select_dags(filters: DagFilters) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The DAGs matching ``filters`` and the columns of :data:`DAG_SORT_FIELDS` (for
    :func:`~downwind.services.listing.fetch_page`)."""
    last_state = _latest_run(DagRun.state)
    last_start = _latest_run(DagRun.start_date)
    conditions: list[Any] = []
    if filters.tags:
        tags = sorted(set(filters.tags))
        tagged = select(DagTag.dag_id).where(DagTag.name.in_(tags))
        if filters.match_all_tags:
            tagged = tagged.group_by(DagTag.dag_id).having(func.count(DagTag.name) == len(tags))
        conditions.append(DagModel.dag_id.in_(tagged))
    if filters.owners:
        conditions.append(or_(*(_has_owner(owner) for owner in filters.owners)))
    for clause in (
        matches_pattern(DagModel.dag_id, filters.dag_id_pattern),
        matches_prefix(DagModel.dag_id, filters.dag_id_prefix_pattern),
        matches_pattern(DagModel.dag_id, filters.dag_display_name_pattern),
        matches_prefix(DagModel.dag_id, filters.dag_display_name_prefix_pattern),
    ):
        if clause is not None:
            conditions.append(clause)
    if filters.exclude_stale:
        conditions.append(DagModel.is_active.is_(True))
    if filters.paused is not None:
        conditions.append(DagModel.is_paused.is_(filters.paused))
    if filters.has_import_errors is not None:
        conditions.append(DagModel.has_import_errors.is_(filters.has_import_errors))
    if filters.last_dag_run_state is not None:
        conditions.append(last_state == filters.last_dag_run_state)
    columns: dict[str, ColumnElement[Any]] = {
        "dag_id": DagModel.dag_id,
        "dag_display_name": DagModel.dag_id,
        "next_dagrun": DagModel.next_dagrun,
        "state": last_state,
        "start_date": last_start,
        "last_run_state": last_state,
        "last_run_start_date": last_start,
    }
    return select(DagModel).where(*conditions), columns


@dataclass(frozen=True)
class DagShape:
    """What a DAG list tells of a DAG's structure, from its latest stored version."""

    #: runs repeat at regular intervals (so the DAG can be backfilled)
    timetable_periodic: bool
    #: the scheduler creates runs at all (``schedule=None``: manual runs only)
    can_be_scheduled: bool
    #: some task sets ``max_active_tis_per_dag``
    has_task_concurrency_limits: bool


#: shapes by the hash of the serialized DAG they were read from (oldest first, bounded)
_shapes: dict[str, DagShape] = {}
_SHAPE_CACHE_SIZE = 4096


def _shape_of(data: dict[str, Any]) -> DagShape:
    timetable = deserialize_timetable(data["timetable"])
    tasks = data.get("tasks") or []
    return DagShape(
        timetable_periodic=timetable.periodic,
        can_be_scheduled=timetable.can_be_scheduled,
        has_task_concurrency_limits=any(
            task.get("max_active_tis_per_dag") is not None for task in tasks
        ),
    )


def dag_shapes(session: Session, dag_ids: Collection[str]) -> dict[str, DagShape]:
    """The :class:`DagShape` of each of ``dag_ids`` that has a stored version: two small
    queries, and a version already seen by this process is not read again."""
    if not dag_ids:
        return {}
    newest = (
        select(DagVersion.dag_id, func.max(DagVersion.version_number).label("number"))
        .where(DagVersion.dag_id.in_(list(dag_ids)))
        .group_by(DagVersion.dag_id)
        .subquery()
    )
    hashes = session.execute(
        select(DagVersion.dag_id, DagVersion.dag_hash).join(
            newest,
            (DagVersion.dag_id == newest.c.dag_id) & (DagVersion.version_number == newest.c.number),
        )
    ).all()
    unseen = {digest for _, digest in hashes if digest not in _shapes}
    if unseen:
        rows = session.execute(
            select(DagVersion.dag_hash, DagVersion.data).where(DagVersion.dag_hash.in_(unseen))
        )
        for digest, data in rows:
            if digest not in _shapes:
                if len(_shapes) >= _SHAPE_CACHE_SIZE:
                    _shapes.pop(next(iter(_shapes)))
                _shapes[digest] = _shape_of(json.loads(data))
    return {dag_id: _shapes[digest] for dag_id, digest in hashes if digest in _shapes}


# -- one DAG ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DagDetails:
    """A DAG's row, its latest stored version (parsed and as stored) and how many of its
    runs are running."""

    model: DagModel
    dag: SerializedDAG
    latest_version: DagVersion
    running_runs: int


def get_dag_details(session: Session, dag_id: str) -> DagDetails:
    """Everything the details of ``dag_id`` show; :class:`DagNotFound` if unknown."""
    model = get_dag_model(session, dag_id)
    version = latest_version(session, dag_id)
    if version is None:
        raise DagNotFound(
            f"DAG '{dag_id}' has no stored version yet: the DAG processor has not parsed its file"
        )
    running = session.scalar(
        select(func.count())
        .select_from(DagRun)
        .where(DagRun.dag_id == dag_id, DagRun.state == DagRunState.RUNNING.value)
    )
    return DagDetails(model, load_serialized_dag(session, dag_id), version, int(running or 0))


def get_dag_task(session: Session, dag_id: str, task_id: str) -> SerializedTask:
    """The task ``task_id`` of the latest version of ``dag_id``; :class:`DagNotFound` or
    :class:`~downwind.exceptions.TaskNotFound` (with the closest task id) if missing."""
    get_dag_model(session, dag_id)
    dag = load_serialized_dag(session, dag_id)
    task = dag.task_dict.get(task_id)
    if task is None:
        close = difflib.get_close_matches(task_id, list(dag.task_dict), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise TaskNotFound(f"DAG '{dag_id}' has no task '{task_id}'{hint}")
    return task


def delete_dag(
    session: Session,
    dag_id: str,
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Delete ``dag_id`` with its versions, runs, task instances, XComs and backfills
    (audited as ``dag.delete``). Refused with :class:`DagInUse` while a task instance of it
    is queued or running. Its file, if still in the dags folder, brings it back at the
    next parse, as a new DAG."""
    get_dag_model(session, dag_id)
    busy = session.scalar(
        select(func.count())
        .select_from(TaskInstance)
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.state.in_([state.value for state in TASK_ACTIVE]),
        )
    )
    if busy:
        raise DagInUse(
            f"DAG '{dag_id}' has {busy} task instance(s) queued or running: wait for them to "
            "finish (or mark them) before deleting it"
        )
    session.flush()
    session.execute(delete(DagModel).where(DagModel.dag_id == dag_id))
    for row in list(session.identity_map.values()):  # the database cascaded the delete
        if getattr(row, "dag_id", None) == dag_id:
            session.expunge(row)
    record_action(session, "dag.delete", owner=owner, now=now, dag_id=dag_id, extra=extra)


# -- tags, statistics -----------------------------------------------------------------------


def select_dag_tags(
    name_pattern: str | None = None, name_prefix_pattern: str | None = None
) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The distinct tag names of every DAG (matching the patterns), sortable by ``name``."""
    query = select(DagTag.name).distinct()
    for clause in (
        matches_pattern(DagTag.name, name_pattern),
        matches_prefix(DagTag.name, name_prefix_pattern),
    ):
        if clause is not None:
            query = query.where(clause)
    return query, {"name": DagTag.name}


def dag_run_stats(
    session: Session, dag_ids: Sequence[str] | None = None
) -> list[tuple[str, dict[str, int]]]:
    """``(dag_id, {run state: count})`` for ``dag_ids`` (those that exist; default: every
    active DAG), by DAG id, with every run state counted (zero included)."""
    query = select(DagModel.dag_id).order_by(DagModel.dag_id)
    if dag_ids:
        query = query.where(DagModel.dag_id.in_(list(dag_ids)))
    else:
        query = query.where(DagModel.is_active.is_(True))
    ids = list(session.scalars(query))
    counts: dict[tuple[str, str], int] = {}
    if ids:
        rows = session.execute(
            select(DagRun.dag_id, DagRun.state, func.count())
            .where(DagRun.dag_id.in_(ids))
            .group_by(DagRun.dag_id, DagRun.state)
        )
        counts = {(dag_id, state): int(count) for dag_id, state, count in rows}
    return [
        (dag_id, {state.value: counts.get((dag_id, state.value), 0) for state in DagRunState})
        for dag_id in ids
    ]


# -- versions and sources -------------------------------------------------------------------

DAG_VERSION_SORT_FIELDS = ("id", "version_number", "dag_id", "created_at")


def select_dag_versions(
    dag_id: str | None, *, version_number: int | None = None
) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The stored versions of ``dag_id`` (``None``: of every DAG), sortable by
    :data:`DAG_VERSION_SORT_FIELDS`."""
    query = select(DagVersion)
    if dag_id is not None:
        query = query.where(DagVersion.dag_id == dag_id)
    if version_number is not None:
        query = query.where(DagVersion.version_number == version_number)
    columns: dict[str, ColumnElement[Any]] = {
        "id": DagVersion.id,
        "version_number": DagVersion.version_number,
        "dag_id": DagVersion.dag_id,
        "created_at": DagVersion.created_at,
    }
    return query, columns


def get_dag_version(session: Session, dag_id: str, version_number: int | None = None) -> DagVersion:
    """Version ``version_number`` of ``dag_id`` (default: its latest); raises
    :class:`DagNotFound` or :class:`~downwind.services.errors.DagVersionNotFound`."""
    get_dag_model(session, dag_id)
    if version_number is None:
        version = latest_version(session, dag_id)
    else:
        version = session.scalar(
            select(DagVersion).where(
                DagVersion.dag_id == dag_id, DagVersion.version_number == version_number
            )
        )
    if version is None:
        which = "any stored version" if version_number is None else f"version {version_number}"
        raise DagVersionNotFound(f"DAG '{dag_id}' has no {which}")
    return version


# -- import errors --------------------------------------------------------------------------

IMPORT_ERROR_SORT_FIELDS = ("id", "import_error_id", "timestamp", "filename", "stacktrace")


def select_import_errors(
    *,
    filename: str | None = None,
    filename_pattern: str | None = None,
    filename_prefix_pattern: str | None = None,
) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The import errors of DAG files (of one ``filename``, or matching the patterns),
    sortable by :data:`IMPORT_ERROR_SORT_FIELDS`."""
    query = select(ParseImportError)
    if filename is not None:
        query = query.where(ParseImportError.filename == filename)
    for clause in (
        matches_pattern(ParseImportError.filename, filename_pattern),
        matches_prefix(ParseImportError.filename, filename_prefix_pattern),
    ):
        if clause is not None:
            query = query.where(clause)
    columns: dict[str, ColumnElement[Any]] = {
        "id": ParseImportError.id,
        "import_error_id": ParseImportError.id,
        "timestamp": ParseImportError.timestamp,
        "filename": ParseImportError.filename,
        "stacktrace": ParseImportError.stacktrace,
    }
    return query, columns


def get_import_error(session: Session, import_error_id: int) -> ParseImportError:
    """The import error ``import_error_id``; :class:`ImportErrorNotFound` if there is none."""
    error = session.get(ParseImportError, import_error_id)
    if error is None:
        raise ImportErrorNotFound(
            f"import error {import_error_id} not found: its file may have loaded since"
        )
    return error
