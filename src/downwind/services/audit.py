"""The audit log: one row per user action, written by the use case that performs it.

Events written by the services:

- ``trigger``, ``pause``, ``unpause``, ``clear``
- ``dag_run.mark_success``, ``dag_run.mark_failed``
- ``task_instance.mark_success``, ``task_instance.mark_failed``, ``task_instance.mark_skipped``
- ``variable.set``, ``variable.delete``, ``variable.import``
- ``connection.add``, ``connection.delete``
- ``pool.set``, ``pool.delete``

A row never holds a secret: variable values and connection passwords are left out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.metastore.models import AuditLog

__all__ = ["list_audit_log", "record_action"]


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
