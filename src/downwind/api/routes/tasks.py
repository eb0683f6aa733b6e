"""Tasks of a DAG, from its latest stored version: list and get."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from downwind.api.deps import SessionDep, requires
from downwind.api.pagination import parse_order_by
from downwind.api.schemas.tasks import (
    TASK_SORT_FIELDS,
    TaskCollectionResponse,
    TaskResponse,
    task_response,
)
from downwind.security.roles import Permission
from downwind.services.dag_registry import load_serialized_dag
from downwind.services.dags import get_dag_model, get_dag_task

__all__ = ["router"]

router = APIRouter(prefix="/dags/{dag_id}/tasks", tags=["Task"])


def _sort_value(value: Any) -> tuple[bool, Any]:
    return (value is not None, value)


@router.get("", dependencies=[requires(Permission.READ)])
def get_tasks(
    session: SessionDep, dag_id: str, order_by: str = "task_id"
) -> TaskCollectionResponse:
    """Every task of the DAG, sorted by ``order_by`` (``-`` first: descending)."""
    (key,) = parse_order_by([order_by], TASK_SORT_FIELDS, "task_id")[:1]
    get_dag_model(session, dag_id)
    dag = load_serialized_dag(session, dag_id)
    tasks = [task_response(task) for task in dag.task_dict.values()]
    tasks.sort(key=lambda task: _sort_value(getattr(task, key.field)), reverse=key.descending)
    return TaskCollectionResponse(tasks=tasks, total_entries=len(tasks))


@router.get("/{task_id}", dependencies=[requires(Permission.READ)])
def get_task(session: SessionDep, dag_id: str, task_id: str) -> TaskResponse:
    """One task of the DAG."""
    return task_response(get_dag_task(session, dag_id, task_id))
