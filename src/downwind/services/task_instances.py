"""Task instances: list and filter them, look one up, mark them, list their tries (their
XComs are in :mod:`downwind.services.xcoms`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, tuple_
from sqlalchemy.orm import Session

from downwind.exceptions import DownwindException, IllegalStateTransition
from downwind.metastore.models import (
    DagRun,
    DagVersion,
    TaskInstance,
    TaskInstanceHistory,
)
from downwind.scheduling.trigger_rules import Decision, UpstreamStates, decide
from downwind.sdk.serialization import SerializedDAG, SerializedTask
from downwind.services.audit import record_action
from downwind.services.clear import FAILED_STATES, clear_task_instances
from downwind.services.dag_registry import load_serialized_dag
from downwind.services.dags import get_dag_model
from downwind.services.errors import (
    InvalidInput,
    TaskInstanceNotFound,
)
from downwind.services.listing import matches_pattern, matches_prefix
from downwind.services.runs import Range, get_dag_run, versions_by_id
from downwind.states import (
    TASK_FINISHED,
    USER_MARKABLE,
    Actor,
    DagRunState,
    TaskInstanceState,
    check_task_transition,
)

__all__ = [
    "TASK_INSTANCE_SORT_FIELDS",
    "TaskInstanceFilters",
    "TaskInstanceView",
    "describe_task_instances",
    "get_task_instance",
    "get_task_instance_try",
    "list_task_instance_tries",
    "list_task_instances",
    "mark_task_instances",
    "parse_task_states",
    "select_task_instances",
    "set_task_instance_state",
    "task_order",
    "unmet_dependencies",
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


def get_task_instance_try(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    map_index: int = -1,
) -> TaskInstance | TaskInstanceHistory:
    """Try ``try_number`` of a task instance (see :func:`list_task_instance_tries`);
    raises :class:`~downwind.services.errors.TaskInstanceNotFound` naming the tries it has."""
    tries = list_task_instance_tries(session, dag_id, run_id, task_id, map_index)
    for row in tries:
        if row.try_number == try_number:
            return row
    which = f"task '{task_id}'" + ("" if map_index == -1 else f" with map index {map_index}")
    known = ", ".join(str(row.try_number) for row in tries)
    raise TaskInstanceNotFound(
        f"{which} of run '{run_id}' of DAG '{dag_id}' has no try {try_number}: "
        + (f"its tries are {known}" if known else "it has not run yet")
    )


# -- marking with relatives -----------------------------------------------------------------


def _stored_graph(session: Session, dag_id: str, version_id: int | None) -> SerializedDAG | None:
    """The stored DAG version ``version_id`` (the latest one when that one is gone;
    ``None`` when none is stored)."""
    for candidate in (version_id, None):
        try:
            return load_serialized_dag(session, dag_id, candidate)
        except DownwindException:
            continue
    return None


def _runs_around(session: Session, run: DagRun, *, past: bool, future: bool) -> list[DagRun]:
    """``run``, and the runs of its DAG with an earlier (``past``) and/or later
    (``future``) logical date."""
    if not (past or future) or run.logical_date is None:
        return [run]
    query = select(DagRun).where(DagRun.dag_id == run.dag_id)
    if not past:
        query = query.where(DagRun.logical_date >= run.logical_date)
    if not future:
        query = query.where(DagRun.logical_date <= run.logical_date)
    runs = list(session.scalars(query.order_by(DagRun.logical_date, DagRun.id)))
    return runs or [run]


def mark_task_instances(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    state: TaskInstanceState | str,
    *,
    map_index: int = -1,
    upstream: bool = False,
    downstream: bool = False,
    past: bool = False,
    future: bool = False,
    dry_run: bool = False,
    now: datetime,
    owner: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[TaskInstance]:
    """Mark a task instance ``success``, ``failed`` or ``skipped`` -- with, if asked, the
    tasks upstream and/or downstream of it in its run, and the same tasks in the runs with
    an earlier (``past``) and/or later (``future``) logical date -- as Airflow's "mark".

    Returns the task instances whose state changes (those already in ``state`` are left
    out), by run logical date, then task order; with ``dry_run`` nothing changes. Refused
    (:class:`~downwind.exceptions.IllegalStateTransition`, nothing changes) when one of
    them is running. Each change is audited as ``task_instance.mark_<state>`` (with
    ``extra``). Then, as in Airflow, the ``failed`` and ``upstream_failed`` task
    instances downstream of the marked task in those runs are cleared, so that the
    scheduler runs them again.
    """
    new = _markable(state)
    run = get_dag_run(session, dag_id, run_id)
    _find(session, dag_id, run_id, task_id, map_index, lock=False)
    dag = _stored_graph(session, dag_id, run.dag_version_id)
    task_ids = {task_id}
    below: set[str] = set()
    if dag is not None and dag.has_task(task_id):
        task = dag.task_dict[task_id]
        below = task.get_flat_relative_ids(upstream=False)
        if upstream:
            task_ids |= task.get_flat_relative_ids(upstream=True)
        if downstream:
            task_ids |= below
    runs = _runs_around(session, run, past=past, future=future)
    query = select(TaskInstance).where(
        TaskInstance.dag_id == dag_id,
        TaskInstance.run_id.in_([r.run_id for r in runs]),
        TaskInstance.task_id.in_(task_ids),
        TaskInstance.map_index == map_index,
    )
    if not dry_run:
        query = query.with_for_update()
    position = {r.run_id: i for i, r in enumerate(runs)}
    order = {t: i for i, t in enumerate(dag.task_ids)} if dag else {}
    changed = sorted(
        (ti for ti in session.scalars(query) if ti.state != new.value),
        key=lambda ti: (position[ti.run_id], order.get(ti.task_id, len(order)), ti.task_id),
    )
    running = [f"{ti.task_id} (run {ti.run_id})" for ti in changed if ti.state == "running"]
    if running:
        raise IllegalStateTransition(
            f"cannot mark {', '.join(running)} {new}: a running task instance cannot be "
            "marked; wait for it to finish, or leave it out"
        )
    if dry_run:
        return changed
    for ti in changed:
        check_task_transition(ti.state, new, Actor.USER)
        old = ti.state
        ti.state = new.value
        if ti.end_date is None:
            ti.end_date = now
        ti.updated_at = now
        record_action(
            session,
            f"task_instance.mark_{new}",
            owner=owner,
            now=now,
            dag_id=dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            try_number=ti.try_number,
            extra={"state": new.value, "previous_state": old, **(extra or {})},
        )
    _resume_downstream(session, dag_id, runs, below - task_ids, now, owner, extra)
    return changed


def _resume_downstream(
    session: Session,
    dag_id: str,
    runs: list[DagRun],
    task_ids: set[str],
    now: datetime,
    owner: str | None,
    extra: Mapping[str, Any] | None,
) -> None:
    """Clear the failed task instances of ``task_ids`` in ``runs`` (after a mark)."""
    if not task_ids:
        return
    session.flush()
    failed = session.scalars(
        select(TaskInstance.run_id)
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id.in_([run.run_id for run in runs]),
            TaskInstance.task_id.in_(task_ids),
            TaskInstance.state.in_(FAILED_STATES),
        )
        .distinct()
    ).all()
    if failed:
        clear_task_instances(
            session,
            dag_id,
            run_ids=sorted(failed),
            task_ids=task_ids,
            only_failed=True,
            now=now,
            owner=owner,
            extra=extra,
        )


# -- why a task instance waits --------------------------------------------------------------


def unmet_dependencies(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> list[tuple[str, str]]:
    """Why a task instance that has no state yet (or is scheduled) does not run: ``(name,
    reason)`` pairs by name, as Airflow's "task instance dependencies" -- its DAG is
    paused, its run is not running, its trigger rule waits for upstream tasks. Empty for
    a task instance past that point (queued, running, finished, waiting for a retry)."""
    ti = _find(session, dag_id, run_id, task_id, map_index, lock=False)
    if ti.state not in (None, TaskInstanceState.SCHEDULED.value):
        return []
    run = get_dag_run(session, dag_id, run_id)
    unmet = []
    if get_dag_model(session, dag_id).is_paused:
        unmet.append(("Dag Not Paused", f"Task's DAG '{dag_id}' is paused."))
    if run.state != DagRunState.RUNNING.value:
        unmet.append(
            (
                "Dagrun Running",
                "Task instance's dagrun was not in the 'running' state but in the state "
                f"'{run.state}'.",
            )
        )
    dag = _stored_graph(session, dag_id, run.dag_version_id)
    if dag is not None and dag.has_task(task_id):
        waiting = _trigger_rule_wait(session, ti, dag.task_dict[task_id])
        if waiting is not None:
            unmet.append(("Trigger Rule", waiting))
    return sorted(unmet)


def _trigger_rule_wait(session: Session, ti: TaskInstance, task: SerializedTask) -> str | None:
    upstream = sorted(task.upstream_task_ids)
    if not upstream:
        return None
    rows = session.execute(
        select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == ti.dag_id,
            TaskInstance.run_id == ti.run_id,
            TaskInstance.task_id.in_(upstream),
            TaskInstance.map_index == ti.map_index,
        )
    ).all()
    finished = {state.value for state in TASK_FINISHED}
    counts = UpstreamStates(total=len(rows))
    unfinished = []
    for row in rows:
        if row.state in finished:
            counts.add(row.state)
        else:
            unfinished.append(row.task_id)
    if decide(task.trigger_rule, counts) is not Decision.WAIT:
        return None
    return (
        f"Task's trigger rule '{task.trigger_rule}' waits for its upstream tasks: "
        f"{counts.done} of {counts.total} finished; not yet: {', '.join(sorted(unfinished))}"
    )


# -- listing and describing -----------------------------------------------------------------

#: states of Apache Airflow that downwind never sets: accepted in filters, they match nothing
_AIRFLOW_ONLY_STATES = ("restarting", "deferred", "awaiting_input")
#: what a filter writes for "no state yet"
_NO_STATE = ("none", "no_status")


def parse_task_states(values: Iterable[str]) -> list[str | None]:
    """Task-instance states of a filter: ``none`` (or ``no_status``) is "no state yet";
    raises :class:`~downwind.services.errors.InvalidInput` naming the valid values."""
    valid = [state.value for state in TaskInstanceState] + list(_AIRFLOW_ONLY_STATES)
    states: list[str | None] = []
    for value in values:
        if value in _NO_STATE:
            states.append(None)
        elif value in valid:
            states.append(value)
        else:
            raise InvalidInput(
                f"Invalid value for state: {value!r}. Valid values are {', '.join(valid)}, none"
            )
    return states


@dataclass(frozen=True)
class TaskInstanceFilters:
    """The filters of a task-instance listing; an empty or ``None`` filter does not filter.

    ``states`` are raw filter values (see :func:`parse_task_states`). ``ranges`` bound
    ``start_date``, ``end_date``, ``duration``, ``updated_at`` and the run's
    ``logical_date`` and ``run_after``. ``patterns`` / ``prefixes`` (see
    :mod:`downwind.services.listing`) apply to ``dag_id``, ``run_id``, ``task_id``,
    ``pool``, ``queue`` and ``operator``.
    """

    dag_ids: Sequence[str] = ()
    run_ids: Sequence[str] = ()
    task_ids: Sequence[str] = ()
    states: Sequence[str] = ()
    pools: Sequence[str] = ()
    queues: Sequence[str] = ()
    operators: Sequence[str] = ()
    try_numbers: Sequence[int] = ()
    map_indexes: Sequence[int] = ()
    #: numbers of the DAG version the task instances run
    version_numbers: Sequence[int] = ()
    #: downwind records no executor per task instance: any executor given matches none
    executors: Sequence[str] = ()
    ranges: Mapping[str, Range] = field(default_factory=dict)
    patterns: Mapping[str, str | None] = field(default_factory=dict)
    prefixes: Mapping[str, str | None] = field(default_factory=dict)


#: the fields a task-instance listing may be sorted by (Airflow's names, and a few more)
TASK_INSTANCE_SORT_FIELDS = (
    "id",
    "state",
    "duration",
    "start_date",
    "end_date",
    "map_index",
    "try_number",
    "logical_date",
    "run_after",
    "data_interval_start",
    "data_interval_end",
    "rendered_map_index",
    "dag_id",
    "run_id",
    "dag_run_id",
    "task_id",
    "pool",
    "queue",
    "priority_weight",
    "operator",
    "updated_at",
)


def select_task_instances(
    filters: TaskInstanceFilters,
) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The task instances matching ``filters`` and the columns of
    :data:`TASK_INSTANCE_SORT_FIELDS`."""
    ti = TaskInstance
    columns: dict[str, ColumnElement[Any]] = {
        "id": ti.id,
        "state": ti.state,
        "duration": ti.duration,
        "start_date": ti.start_date,
        "end_date": ti.end_date,
        "map_index": ti.map_index,
        "rendered_map_index": ti.map_index,
        "try_number": ti.try_number,
        "logical_date": DagRun.logical_date,
        "run_after": DagRun.run_after,
        "data_interval_start": DagRun.data_interval_start,
        "data_interval_end": DagRun.data_interval_end,
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "dag_run_id": ti.run_id,
        "task_id": ti.task_id,
        "pool": ti.pool,
        "queue": ti.queue,
        "priority_weight": ti.priority_weight,
        "operator": ti.operator,
        "updated_at": ti.updated_at,
    }
    query = select(ti).join(DagRun, and_(DagRun.dag_id == ti.dag_id, DagRun.run_id == ti.run_id))
    listed: tuple[tuple[ColumnElement[Any], Sequence[Any]], ...] = (
        (ti.dag_id, filters.dag_ids),
        (ti.run_id, filters.run_ids),
        (ti.task_id, filters.task_ids),
        (ti.pool, filters.pools),
        (ti.queue, filters.queues),
        (ti.operator, filters.operators),
        (ti.try_number, filters.try_numbers),
        (ti.map_index, filters.map_indexes),
    )
    for column, values in listed:
        if values:
            query = query.where(column.in_(list(values)))
    if filters.states:
        states = parse_task_states(filters.states)
        named = [state for state in states if state is not None]
        either = [ti.state.in_(named)] if named else []
        if None in states:
            either.append(ti.state.is_(None))
        query = query.where(or_(*either))
    for name, bounds in filters.ranges.items():
        query = query.where(*bounds.clauses(columns[name]))
    for name, pattern in filters.patterns.items():
        clause = matches_pattern(columns[name], pattern)
        if clause is not None:
            query = query.where(clause)
    for name, pattern in filters.prefixes.items():
        clause = matches_prefix(columns[name], pattern)
        if clause is not None:
            query = query.where(clause)
    if filters.executors:
        query = query.where(false())
    if filters.version_numbers:
        query = query.join(DagVersion, DagVersion.id == ti.dag_version_id).where(
            DagVersion.version_number.in_(list(filters.version_numbers))
        )
    return query, columns


@dataclass(frozen=True)
class TaskInstanceView:
    """A task instance (or one recorded try of it) with what the API shows beside it:
    its run's dates, the DAG version it runs and its task's display name."""

    ti: TaskInstance | TaskInstanceHistory
    run_after: datetime
    logical_date: datetime | None
    version: DagVersion | None
    task_display_name: str


def describe_task_instances(
    session: Session, tis: Sequence[TaskInstance | TaskInstanceHistory]
) -> list[TaskInstanceView]:
    """A :class:`TaskInstanceView` of each of ``tis``, in the same order (a few queries in
    all: their runs, their DAG versions, one per DAG version for the display names)."""
    pairs = {(ti.dag_id, ti.run_id) for ti in tis}
    runs: dict[tuple[str, str], tuple[datetime, datetime | None]] = {}
    if pairs:
        rows = session.execute(
            select(DagRun.dag_id, DagRun.run_id, DagRun.run_after, DagRun.logical_date).where(
                tuple_(DagRun.dag_id, DagRun.run_id).in_(sorted(pairs))
            )
        )
        runs = {(r.dag_id, r.run_id): (r.run_after, r.logical_date) for r in rows}
    versions = versions_by_id(session, [ti.dag_version_id for ti in tis])
    graphs: dict[tuple[str, int | None], SerializedDAG | None] = {}
    views = []
    for ti in tis:
        key = (ti.dag_id, ti.dag_version_id)
        if key not in graphs:
            graphs[key] = _stored_graph(session, ti.dag_id, ti.dag_version_id)
        dag = graphs[key]
        display = ti.task_id
        if dag is not None and dag.has_task(ti.task_id):
            display = dag.task_dict[ti.task_id].task_display_name
        run_after, logical_date = runs[(ti.dag_id, ti.run_id)]
        version = versions.get(ti.dag_version_id) if ti.dag_version_id is not None else None
        views.append(TaskInstanceView(ti, run_after, logical_date, version, display))
    return views
