"""Keep every earlier try of a task instance in ``task_instance_history``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.metastore.models import TaskInstance, TaskInstanceHistory

#: the columns a recorded try copies from its task instance
HISTORY_COLUMNS = tuple(
    column.key
    for column in TaskInstanceHistory.__table__.columns
    if column.key not in ("id", "task_instance_id")
)
#: what a task instance forgets about its last try when it is reset for another
RESET_COLUMNS = (
    "hostname",
    "pid",
    "queued_dttm",
    "start_date",
    "end_date",
    "duration",
    "next_retry_at",
    "last_heartbeat_at",
    "queued_by_job_id",
    "external_executor_id",
    "rendered_fields",
)

#: (run_id, task_id, map_index, try_number) of tries known to be archived already
Recorded = set[tuple[str, str, int, int]]


def archive_try(
    session: Session, ti: TaskInstance, recorded: Recorded | None = None
) -> TaskInstanceHistory | None:
    """Copy the try ``ti`` holds now into the history, once.

    Called before a task instance is reset for another try (a retry, a clear). A task
    instance that never ran, or whose current try is already archived, adds nothing.
    ``recorded`` lets a caller that archives many at once skip the per-row lookup.
    """
    if ti.try_number < 1 or ti.start_date is None:
        return None
    key = (ti.run_id, ti.task_id, ti.map_index, ti.try_number)
    if recorded is not None:
        if key in recorded:
            return None
    elif session.scalar(
        select(TaskInstanceHistory.id).where(
            TaskInstanceHistory.task_instance_id == ti.id,
            TaskInstanceHistory.try_number == ti.try_number,
        )
    ):
        return None
    row = TaskInstanceHistory(
        task_instance_id=ti.id, **{name: getattr(ti, name) for name in HISTORY_COLUMNS}
    )
    session.add(row)
    if recorded is not None:
        recorded.add(key)
    return row


def reset_try_fields(ti: TaskInstance) -> None:
    """Forget the per-try fields (after :func:`archive_try`), keeping the try number."""
    for name in RESET_COLUMNS:
        setattr(ti, name, None)
