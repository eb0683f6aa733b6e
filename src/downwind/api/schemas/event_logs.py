"""The audit log as Airflow's ``eventLogs``: ``EventLogResponse`` and its collection."""

from __future__ import annotations

import json
from datetime import datetime

from downwind.api.schemas.common import ResponseModel
from downwind.metastore.models import AuditLog

__all__ = ["EventLogCollectionResponse", "EventLogResponse", "event_log_response"]


class EventLogResponse(ResponseModel):
    event_log_id: int
    when: datetime
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    event: str
    logical_date: datetime | None = None
    owner: str | None = None
    #: the details of the action, as JSON text
    extra: str | None = None
    dag_display_name: str | None = None
    task_display_name: str | None = None


class EventLogCollectionResponse(ResponseModel):
    event_logs: list[EventLogResponse]
    total_entries: int


def event_log_response(row: AuditLog) -> EventLogResponse:
    extra = row.extra
    return EventLogResponse(
        event_log_id=row.id,
        when=row.dttm,
        dag_id=row.dag_id,
        task_id=row.task_id,
        run_id=row.run_id,
        map_index=row.map_index,
        try_number=row.try_number,
        event=row.event,
        logical_date=row.logical_date,
        owner=row.owner,
        extra=None if extra is None else json.dumps(extra, sort_keys=True, default=str),
        dag_display_name=row.dag_id,
        task_display_name=row.task_id,
    )
