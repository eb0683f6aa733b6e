"""Tasks of a DAG: ``TaskResponse`` and its collection (the static definition, not runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from downwind.api.schemas.common import ResponseModel, TimeDelta
from downwind.sdk.serialization import SerializedTask

__all__ = ["TASK_SORT_FIELDS", "TaskCollectionResponse", "TaskResponse", "task_response"]

#: Airflow's multiplier of an exponential retry backoff switched on with ``True``
_BACKOFF_MULTIPLIER = 2.0


class TaskResponse(ResponseModel):
    task_id: str | None = None
    task_display_name: str | None = None
    owner: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    trigger_rule: str | None = None
    depends_on_past: bool
    wait_for_downstream: bool = False
    retries: float | None = None
    queue: str | None = None
    pool: str | None = None
    pool_slots: float | None = None
    execution_timeout: TimeDelta | None = None
    retry_delay: TimeDelta | None = None
    #: 0: no backoff; else the factor by which each retry's delay grows
    retry_exponential_backoff: float
    priority_weight: float | None = None
    weight_rule: str | None = None
    ui_color: str | None = None
    ui_fgcolor: str | None = None
    template_fields: list[str] | None = None
    downstream_task_ids: list[str] | None = None
    doc_md: str | None = None
    operator_name: str | None = None
    params: dict[str, Any] | None = None
    class_ref: dict[str, Any] | None = None
    is_mapped: bool | None = False
    extra_links: list[str]


class TaskCollectionResponse(ResponseModel):
    tasks: list[TaskResponse]
    total_entries: int


#: the fields a task list may be sorted by
TASK_SORT_FIELDS = (
    "task_id",
    "task_display_name",
    "owner",
    "operator_name",
    "pool",
    "queue",
    "priority_weight",
    "retries",
    "start_date",
    "trigger_rule",
)


def task_response(task: SerializedTask) -> TaskResponse:
    """The :class:`TaskResponse` of a stored task."""
    return TaskResponse(
        task_id=task.task_id,
        task_display_name=task.task_display_name,
        owner=task.owner,
        start_date=task.start_date,
        end_date=task.end_date,
        trigger_rule=str(task.trigger_rule),
        depends_on_past=task.depends_on_past,
        retries=task.retries,
        queue=task.queue,
        pool=task.pool,
        pool_slots=task.pool_slots,
        execution_timeout=TimeDelta.of(task.execution_timeout),
        retry_delay=TimeDelta.of(task.retry_delay),
        retry_exponential_backoff=_BACKOFF_MULTIPLIER if task.retry_exponential_backoff else 0,
        priority_weight=task.priority_weight,
        weight_rule=task.weight_rule,
        ui_color=task.ui_color,
        ui_fgcolor=task.ui_fgcolor,
        template_fields=list(task.template_fields),
        downstream_task_ids=sorted(task.downstream_task_ids),
        doc_md=task.doc_md,
        operator_name=task.task_type,
        class_ref={"module_path": task.task_module, "class_name": task.task_type},
        extra_links=[],
    )
