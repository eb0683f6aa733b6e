"""Task instances of a run: list them, look one up, mark one, list its tries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.exceptions import DownwindException
from downwind.metastore.models import DagRun, TaskInstance, TaskInstanceHistory
from downwind.services.audit import record_action
from downwind.services.dag_registry import load_serialized_dag
from downwind.services.errors import InvalidInput, TaskInstanceNotFound
from downwind.services.runs import get_dag_run
from downwind.states import USER_MARKABLE, Actor, TaskInstanceState, check_task_transition

__all__ = [
    "get_task_instance",
    "list_task_instance_tries",
    "list_task_instances",
    "set_task_instance_state",
    "task_order",
]


def task_order(session: Session, run: DagRun) -> dict[str, int]:
    """``{task_id: position}`` in the topological order of the DAG version ``run`` runs
    (its latest version when that one is gone; empty when none is stored)."""
    try:
        dag = load_serialized_dag(session, run.dag_id, run.dag_version_id)
    except DownwindException:
        try:
            dag = load_serialized_dag(session, run.dag_id)
        except DownwindException:
            return {}
    return {task_id: index for index, task_id in enumerate(dag.task_ids)}


def list_task_instances(session: Session, dag_id: str, run_id: str) -> list[TaskInstance]:
    """The task instances of a run, each after its upstream tasks (then by map index)."""
    run = get_dag_run(session, dag_id, run_id)
    tis = session.scalars(
        select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
    ).all()
    order = task_order(session, run)
    last = len(order)
    return sorted(tis, key=lambda ti: (order.get(ti.task_id, last), ti.task_id, ti.map_index))


def _find(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int, *, lock: bool
) -> TaskInstance:
    query = select(TaskInstance).where(
        TaskInstance.dag_id == dag_id,
        TaskInstance.run_id == run_id,
        TaskInstance.task_id == task_id,
        TaskInstance.map_index == map_index,
    )
    if lock:
        query = query.with_for_update()
    ti = session.scalar(query)
    if ti is None:
        get_dag_run(session, dag_id, run_id)
        which = f"task '{task_id}'" + ("" if map_index == -1 else f" with map index {map_index}")
        raise TaskInstanceNotFound(f"run '{run_id}' of DAG '{dag_id}' has no {which}")
    return ti


def get_task_instance(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> TaskInstance:
    """One task instance; raises :class:`~downwind.exceptions.DagNotFound`,
    :class:`~downwind.services.errors.DagRunNotFound` or
    :class:`~downwind.services.errors.TaskInstanceNotFound`."""
    return _find(session, dag_id, run_id, task_id, map_index, lock=False)


def _markable(state: TaskInstanceState | str | None) -> TaskInstanceState:
    valid = ", ".join(sorted(USER_MARKABLE))
    try:
        new = TaskInstanceState(state) if state is not None else None
    except ValueError:
        new = None
    if new is None or new not in USER_MARKABLE:
        raise InvalidInput(
            f"cannot mark a task instance {state!r}: mark it {valid} (or clear it to run it again)"
        )
    return new


def set_task_instance_state(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    state: TaskInstanceState | str,
    *,
    map_index: int = -1,
    now: datetime,
    owner: str | None = None,
) -> TaskInstance:
    """Mark one task instance ``success``, ``failed`` or ``skipped`` (a user action,
    audited as ``task_instance.mark_<state>``).

    The state machine refuses any other state and refuses to mark a running task
    instance (:class:`~downwind.exceptions.IllegalStateTransition`). Its run's state is
    left alone: the scheduler settles a running run; clear the downstream tasks to run
    them again.
    """
    new = _markable(state)
    ti = _find(session, dag_id, run_id, task_id, map_index, lock=True)
    check_task_transition(ti.state, new, Actor.USER)
    old = ti.state
    ti.state = new.value
    if ti.end_date is None:
        ti.end_date = now
    record_action(
        session,
        f"task_instance.mark_{new}",
        owner=owner,
        now=now,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        try_number=ti.try_number,
        extra={"state": new.value, "previous_state": old},
    )
    return ti


def list_task_instance_tries(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> list[TaskInstance | TaskInstanceHistory]:
    """Every try of a task instance, first to last: the recorded earlier tries, then the
    current one when it is not recorded yet (nothing before the first try)."""
    ti = get_task_instance(session, dag_id, run_id, task_id, map_index)
    history: list[TaskInstance | TaskInstanceHistory] = list(
        session.scalars(
            select(TaskInstanceHistory)
            .where(
                TaskInstanceHistory.dag_id == dag_id,
                TaskInstanceHistory.run_id == run_id,
                TaskInstanceHistory.task_id == task_id,
                TaskInstanceHistory.map_index == map_index,
            )
            .order_by(TaskInstanceHistory.try_number)
        )
    )
    recorded = {row.try_number for row in history}
    if ti.try_number > 0 and ti.try_number not in recorded:
        history.append(ti)
    return history
