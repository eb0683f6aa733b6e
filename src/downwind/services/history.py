"""Keep every earlier try of a task instance in ``task_instance_history``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.metastore.models import TaskInstance, TaskInstanceHistory

_TRY_FIELDS = (
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "state",
    "try_number",
    "max_tries",
    "hostname",
    "pid",
    "pool",
    "pool_slots",
    "queue",
    "priority_weight",
    "operator",
    "queued_dttm",
    "start_date",
    "end_date",
    "duration",
    "next_retry_at",
    "last_heartbeat_at",
    "queued_by_job_id",
    "external_executor_id",
    "rendered_fields",
    "dag_version_id",
)


def archive_try(session: Session, ti: TaskInstance) -> TaskInstanceHistory | None:
    """Copy the try ``ti`` holds now into the history, once.

    Called before a task instance is reset for another try (a retry, a clear). A task
    instance that never ran, or whose current try is already archived, adds nothing.
    """
    if ti.try_number < 1 or ti.start_date is None:
        return None
    exists = session.scalar(
        select(TaskInstanceHistory.id).where(
            TaskInstanceHistory.task_instance_id == ti.id,
            TaskInstanceHistory.try_number == ti.try_number,
        )
    )
    if exists is not None:
        return None
    row = TaskInstanceHistory(
        task_instance_id=ti.id, **{name: getattr(ti, name) for name in _TRY_FIELDS}
    )
    session.add(row)
    return row


def reset_try_fields(ti: TaskInstance) -> None:
    """Forget the per-try fields (after :func:`archive_try`), keeping the try number."""
    ti.hostname = None
    ti.pid = None
    ti.start_date = None
    ti.end_date = None
    ti.duration = None
    ti.next_retry_at = None
    ti.last_heartbeat_at = None
    ti.queued_dttm = None
    ti.external_executor_id = None
    ti.rendered_fields = None
