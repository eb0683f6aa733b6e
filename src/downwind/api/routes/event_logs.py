"""``GET /api/v2/eventLogs`` and one entry: the audit log of user actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from downwind.api.deps import SessionDep, requires
from downwind.api.pagination import Pagination, order_by_param, pagination
from downwind.api.schemas.event_logs import (
    EventLogCollectionResponse,
    EventLogResponse,
    event_log_response,
)
from downwind.metastore.models import AuditLog
from downwind.security.roles import Permission
from downwind.services.audit import (
    AUDIT_SORT_FIELDS,
    AuditFilters,
    get_audit_entry,
    select_audit_log,
)
from downwind.services.listing import SortKey, fetch_page

__all__ = ["router"]

router = APIRouter(prefix="/eventLogs", tags=["EventLog"])

Text = Annotated[str | None, Query()]
Texts = Annotated[list[str] | None, Query()]


def event_log_filters(
    dag_id: Text = None,
    task_id: Text = None,
    run_id: Text = None,
    map_index: int | None = None,
    try_number: int | None = None,
    owner: Text = None,
    event: Text = None,
    excluded_events: Texts = None,
    included_events: Texts = None,
    before: datetime | None = None,
    after: datetime | None = None,
    dag_id_pattern: Text = None,
    task_id_pattern: Text = None,
    run_id_pattern: Text = None,
    owner_pattern: Text = None,
    event_pattern: Text = None,
    dag_id_prefix_pattern: Text = None,
    task_id_prefix_pattern: Text = None,
    run_id_prefix_pattern: Text = None,
    owner_prefix_pattern: Text = None,
    event_prefix_pattern: Text = None,
) -> AuditFilters:
    """The filters of ``GET /eventLogs``."""
    return AuditFilters(
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=map_index,
        try_number=try_number,
        owner=owner,
        event=event,
        excluded_events=excluded_events or (),
        included_events=included_events or (),
        before=before,
        after=after,
        dag_id_pattern=dag_id_pattern,
        task_id_pattern=task_id_pattern,
        run_id_pattern=run_id_pattern,
        owner_pattern=owner_pattern,
        event_pattern=event_pattern,
        dag_id_prefix_pattern=dag_id_prefix_pattern,
        task_id_prefix_pattern=task_id_prefix_pattern,
        run_id_prefix_pattern=run_id_prefix_pattern,
        owner_prefix_pattern=owner_prefix_pattern,
        event_prefix_pattern=event_prefix_pattern,
    )


@router.get("", dependencies=[requires(Permission.READ)])
def get_event_logs(
    session: SessionDep,
    filters: Annotated[AuditFilters, Depends(event_log_filters)],
    page: Annotated[Pagination, Depends(pagination)],
    order: Annotated[list[SortKey], Depends(order_by_param(AUDIT_SORT_FIELDS, "id"))],
) -> EventLogCollectionResponse:
    """Audit-log entries, oldest first by default (``order_by=-id``: newest first)."""
    query, columns = select_audit_log(filters)
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=page.limit,
        offset=page.offset,
        tiebreaker=[AuditLog.id],
    )
    entries = [event_log_response(row) for row in found.rows]
    return EventLogCollectionResponse(event_logs=entries, total_entries=found.total_entries)


@router.get("/{event_log_id}", dependencies=[requires(Permission.READ)])
def get_event_log(session: SessionDep, event_log_id: int) -> EventLogResponse:
    """One audit-log entry."""
    return event_log_response(get_audit_entry(session, event_log_id))
