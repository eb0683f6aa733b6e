"""Task instances: ``TaskInstanceResponse``, the history of their tries, their
collections, and the patch, clear and batch-list bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool

from downwind.api.schemas.common import RequestBody, ResponseModel
from downwind.api.schemas.dag_runs import NOTE_MAX_LENGTH
from downwind.api.schemas.dag_versions import DagVersionResponse, dag_version_response
from downwind.metastore.models import TaskInstance
from downwind.services.task_instances import TaskInstanceView
from downwind.states import TaskInstanceState

__all__ = [
    "ClearTaskInstancesBody",
    "PatchTaskInstanceBody",
    "TaskDependencyCollectionResponse",
    "TaskDependencyResponse",
    "TaskInstanceCollectionResponse",
    "TaskInstanceHistoryCollectionResponse",
    "TaskInstanceHistoryResponse",
    "TaskInstanceResponse",
    "TaskInstancesBatchBody",
    "task_instance_collection",
    "task_instance_history_response",
    "task_instance_response",
]

#: what Airflow shows of an executor config downwind does not have
_NO_EXECUTOR_CONFIG = "{}"


class TaskInstanceHistoryResponse(ResponseModel):
    """One try of a task instance."""

    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    start_date: datetime | None = None
    end_date: datetime | None = None
    #: seconds the try took
    duration: float | None = None
    #: ``null``: no state yet
    state: TaskInstanceState | None = None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None = None
    unixname: str | None = None
    pool: str
    pool_slots: int
    queue: str | None = None
    priority_weight: int | None = None
    operator: str | None = None
    operator_name: str | None = None
    queued_when: datetime | None = None
    scheduled_when: datetime | None = None
    pid: int | None = None
    executor: str | None = None
    executor_config: str
    dag_version: DagVersionResponse | None = None


class TaskInstanceResponse(TaskInstanceHistoryResponse):
    """A task instance as it stands (its current try)."""

    id: uuid.UUID
    logical_date: datetime | None = None
    run_after: datetime
    note: str | None = None
    rendered_map_index: str | None = None
    #: the task's templated fields as rendered for its current try
    rendered_fields: dict[str, Any] = Field(default_factory=dict)
    trigger: dict[str, Any] | None = None
    triggerer_job: dict[str, Any] | None = None


class TaskInstanceCollectionResponse(ResponseModel):
    task_instances: list[TaskInstanceResponse]
    total_entries: int


class TaskInstanceHistoryCollectionResponse(ResponseModel):
    task_instances: list[TaskInstanceHistoryResponse]
    total_entries: int


class TaskDependencyResponse(ResponseModel):
    """Something that keeps a task instance from running."""

    name: str
    reason: str


class TaskDependencyCollectionResponse(ResponseModel):
    dependencies: list[TaskDependencyResponse]


def _common_fields(view: TaskInstanceView) -> dict[str, Any]:
    ti = view.ti
    return {
        "task_id": ti.task_id,
        "dag_id": ti.dag_id,
        "dag_run_id": ti.run_id,
        "map_index": ti.map_index,
        "start_date": ti.start_date,
        "end_date": ti.end_date,
        "duration": ti.duration,
        "state": None if ti.state is None else TaskInstanceState(ti.state),
        "try_number": ti.try_number,
        "max_tries": ti.max_tries,
        "task_display_name": view.task_display_name,
        "dag_display_name": ti.dag_id,
        "hostname": ti.hostname,
        "pool": ti.pool,
        "pool_slots": ti.pool_slots,
        "queue": ti.queue,
        "priority_weight": ti.priority_weight,
        "operator": ti.operator,
        "operator_name": ti.operator,
        "queued_when": ti.queued_dttm,
        "pid": ti.pid,
        "executor_config": _NO_EXECUTOR_CONFIG,
        "dag_version": dag_version_response(view.version) if view.version else None,
    }


def task_instance_response(view: TaskInstanceView) -> TaskInstanceResponse:
    """The :class:`TaskInstanceResponse` of a task instance (not of a recorded try)."""
    ti = view.ti
    assert isinstance(ti, TaskInstance)
    return TaskInstanceResponse(
        **_common_fields(view),
        id=uuid.UUID(ti.id),
        logical_date=view.logical_date,
        run_after=view.run_after,
        rendered_fields=ti.rendered_fields or {},
    )


def task_instance_history_response(view: TaskInstanceView) -> TaskInstanceHistoryResponse:
    """The :class:`TaskInstanceHistoryResponse` of a try (recorded, or the current one)."""
    return TaskInstanceHistoryResponse(**_common_fields(view))


def task_instance_collection(
    views: list[TaskInstanceView], total: int
) -> TaskInstanceCollectionResponse:
    """A page of task instances and how many match in all."""
    return TaskInstanceCollectionResponse(
        task_instances=[task_instance_response(view) for view in views], total_entries=total
    )


class PatchTaskInstanceBody(RequestBody):
    """What ``PATCH .../taskInstances/{task_id}`` (and its ``dry_run``) takes: mark the
    task instance, and with the ``include_*`` flags its relatives."""

    new_state: Literal["success", "failed", "skipped"] | None = None
    note: str | None = Field(None, max_length=NOTE_MAX_LENGTH)
    include_upstream: StrictBool = False
    include_downstream: StrictBool = False
    include_future: StrictBool = False
    include_past: StrictBool = False


class ClearTaskInstancesBody(RequestBody):
    """What ``POST /dags/{dag_id}/clearTaskInstances`` takes."""

    #: only list what would be cleared (the default, as in Airflow)
    dry_run: StrictBool = True
    start_date: datetime | None = None
    end_date: datetime | None = None
    #: clear only the failed and upstream_failed ones (the default, as in Airflow)
    only_failed: StrictBool = True
    #: Airflow's "clear only the running ones": downwind never clears a running task
    only_running: StrictBool = False
    #: put the cleared runs back to queued (downwind always does: false is refused)
    reset_dag_runs: StrictBool = True
    #: task ids, or ``[task_id, map_index]`` pairs
    task_ids: list[str | tuple[str, int]] | None = None
    dag_run_id: str | None = None
    include_upstream: StrictBool = False
    include_downstream: StrictBool = False
    include_future: StrictBool = False
    include_past: StrictBool = False
    #: downwind never clears a running task instance, whatever this says
    prevent_running_task: StrictBool = False
    run_on_latest_version: StrictBool | None = None
    note: str | None = Field(None, max_length=NOTE_MAX_LENGTH)


class TaskInstancesBatchBody(RequestBody):
    """What ``POST /dags/~/dagRuns/~/taskInstances/list`` takes: the filters of the
    task-instance listing."""

    dag_ids: list[str] | None = None
    dag_run_ids: list[str] | None = None
    task_ids: list[str] | None = None
    #: states; ``null`` (or ``"none"``) is "no state yet"
    state: list[str | None] | None = None
    pool: list[str] | None = None
    queue: list[str] | None = None
    executor: list[str] | None = None
    run_after_gte: datetime | None = None
    run_after_gt: datetime | None = None
    run_after_lte: datetime | None = None
    run_after_lt: datetime | None = None
    logical_date_gte: datetime | None = None
    logical_date_gt: datetime | None = None
    logical_date_lte: datetime | None = None
    logical_date_lt: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_gt: datetime | None = None
    start_date_lte: datetime | None = None
    start_date_lt: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_gt: datetime | None = None
    end_date_lte: datetime | None = None
    end_date_lt: datetime | None = None
    duration_gte: float | None = None
    duration_gt: float | None = None
    duration_lte: float | None = None
    duration_lt: float | None = None
    page_offset: int = Field(0, ge=0)
    page_limit: int = Field(100, ge=0)
    order_by: str | list[str] | None = None
