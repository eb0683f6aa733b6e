"""The audit log: one row per user action, written by the use case that performs it.

Events written by the services:

- ``trigger``, ``pause``, ``unpause``, ``clear``, ``dag.delete``
- ``dag_run.mark_success``, ``dag_run.mark_failed``
- ``task_instance.mark_success``, ``task_instance.mark_failed``, ``task_instance.mark_skipped``
- ``variable.set``, ``variable.delete``, ``variable.import``
- ``connection.add``, ``connection.delete``
- ``fernet_key.rotate`` (``downwind rotate-fernet-key``; how many rows were re-encrypted)
- ``pool.set``, ``pool.delete``

A row never holds a secret: variable values and connection passwords are left out.
Actions done through the API also record the client's address (``extra["client"]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from downwind.metastore.models import AuditLog
from downwind.services.errors import EventLogNotFound
from downwind.services.listing import matches_pattern, matches_prefix

__all__ = [
    "AUDIT_SORT_FIELDS",
    "AuditFilters",
    "get_audit_entry",
    "list_audit_log",
    "record_action",
    "select_audit_log",
]


def record_action(
    session: Session,
    event: str,
    *,
    owner: str | None,
    now: datetime,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    try_number: int | None = None,
    logical_date: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit row for ``event`` done by ``owner`` at ``now``."""
    row = AuditLog(
        dttm=now,
        event=event,
        owner=owner,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        try_number=try_number,
        logical_date=logical_date,
        extra=extra,
    )
    session.add(row)
    return row


def list_audit_log(
    session: Session,
    *,
    dag_id: str | None = None,
    event: str | None = None,
    limit: int | None = 100,
) -> list[AuditLog]:
    """The latest audit rows, newest first, optionally for one DAG or one event."""
    query = select(AuditLog).order_by(AuditLog.dttm.desc(), AuditLog.id.desc())
    if dag_id is not None:
        query = query.where(AuditLog.dag_id == dag_id)
    if event is not None:
        query = query.where(AuditLog.event == event)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


@dataclass(frozen=True)
class AuditFilters:
    """The filters of an audit-log listing; ``None`` or empty does not filter. Patterns
    follow :mod:`downwind.services.listing`."""

    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    owner: str | None = None
    event: str | None = None
    included_events: Sequence[str] = ()
    excluded_events: Sequence[str] = ()
    #: only entries before / after these moments
    before: datetime | None = None
    after: datetime | None = None
    dag_id_pattern: str | None = None
    task_id_pattern: str | None = None
    run_id_pattern: str | None = None
    owner_pattern: str | None = None
    event_pattern: str | None = None
    dag_id_prefix_pattern: str | None = None
    task_id_prefix_pattern: str | None = None
    run_id_prefix_pattern: str | None = None
    owner_prefix_pattern: str | None = None
    event_prefix_pattern: str | None = None


#: the fields an audit-log listing may be sorted by (Airflow's names)
AUDIT_SORT_FIELDS = (
    "id",
    "event_log_id",
    "dttm",
    "when",
    "dag_id",
    "task_id",
    "run_id",
    "event",
    "logical_date",
    "owner",
    "extra",
    "map_index",
    "try_number",
)


def select_audit_log(filters: AuditFilters) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The audit rows matching ``filters`` and the columns of :data:`AUDIT_SORT_FIELDS`."""
    log = AuditLog
    query = select(log)
    exact = {
        log.dag_id: filters.dag_id,
        log.task_id: filters.task_id,
        log.run_id: filters.run_id,
        log.map_index: filters.map_index,
        log.try_number: filters.try_number,
        log.owner: filters.owner,
        log.event: filters.event,
    }
    for column, value in exact.items():
        if value is not None:
            query = query.where(column == value)
    if filters.included_events:
        query = query.where(log.event.in_(list(filters.included_events)))
    if filters.excluded_events:
        query = query.where(log.event.not_in(list(filters.excluded_events)))
    if filters.before is not None:
        query = query.where(log.dttm < filters.before)
    if filters.after is not None:
        query = query.where(log.dttm > filters.after)
    patterns = (
        matches_pattern(log.dag_id, filters.dag_id_pattern),
        matches_pattern(log.task_id, filters.task_id_pattern),
        matches_pattern(log.run_id, filters.run_id_pattern),
        matches_pattern(log.owner, filters.owner_pattern),
        matches_pattern(log.event, filters.event_pattern),
        matches_prefix(log.dag_id, filters.dag_id_prefix_pattern),
        matches_prefix(log.task_id, filters.task_id_prefix_pattern),
        matches_prefix(log.run_id, filters.run_id_prefix_pattern),
        matches_prefix(log.owner, filters.owner_prefix_pattern),
        matches_prefix(log.event, filters.event_prefix_pattern),
    )
    for clause in patterns:
        if clause is not None:
            query = query.where(clause)
    columns: dict[str, ColumnElement[Any]] = {
        "id": log.id,
        "event_log_id": log.id,
        "dttm": log.dttm,
        "when": log.dttm,
        "dag_id": log.dag_id,
        "task_id": log.task_id,
        "run_id": log.run_id,
        "event": log.event,
        "logical_date": log.logical_date,
        "owner": log.owner,
        "extra": log.extra,
        "map_index": log.map_index,
        "try_number": log.try_number,
    }
    return query, columns


def get_audit_entry(session: Session, entry_id: int) -> AuditLog:
    """The audit row ``entry_id``; :class:`~downwind.services.errors.EventLogNotFound` if none."""
    row = session.get(AuditLog, entry_id)
    if row is None:
        raise EventLogNotFound(f"event log {entry_id} not found")
    return row
