"""Task instances in the scheduler: apply trigger-rule decisions, admit and queue."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from downwind.metastore.models import DagModel, DagRun, Pool, TaskInstance
from downwind.runtime.client import TaskInstanceKey
from downwind.scheduling.admission import Candidate, Limits, admit
from downwind.scheduling.run_decisions import RunSnapshot, TaskShape, decide_task_states
from downwind.sdk.serialization import SerializedDAG
from downwind.services.dag_registry import load_serialized_dag
from downwind.services.history import archive_try, reset_try_fields
from downwind.states import (
    TASK_FINISHED,
    Actor,
    DagRunState,
    TaskInstanceState,
    check_task_transition,
)

log = logging.getLogger("downwind.scheduler")
#: at least this many candidates are read per pass (more with more executor slots)
_MIN_CANDIDATES = 64
TI = TaskInstanceState
_IN_FLIGHT = (TI.QUEUED.value, TI.RUNNING.value)


_UNDECIDED = or_(
    TaskInstance.state.is_(None),
    TaskInstance.state.in_([TI.UP_FOR_RETRY.value, TI.UP_FOR_RESCHEDULE.value]),
)
_UNFINISHED = or_(
    TaskInstance.state.is_(None),
    TaskInstance.state.not_in([state.value for state in TASK_FINISHED]),
)
#: how many task instances of a run wait for a decision, and how many are unfinished
_WAITING_COUNTS = select(
    func.count(case((_UNDECIDED, 1))), func.count(case((_UNFINISHED, 1)))
).where(TaskInstance.dag_id == bindparam("dag_id"), TaskInstance.run_id == bindparam("run_id"))


@lru_cache(maxsize=256)
def _shapes(dag: SerializedDAG) -> tuple[list[str], dict[str, TaskShape]]:
    order = [task.task_id for task in dag.topological_sort()]
    shapes = {
        task.task_id: TaskShape(
            upstream=tuple(task.upstream_task_ids),
            trigger_rule=task.trigger_rule,
            depends_on_past=task.depends_on_past,
        )
        for task in dag.tasks
    }
    return order, shapes


def update_task_states(
    session: Session, run: DagRun, dag: SerializedDAG, now: datetime
) -> dict[str, TaskInstanceState | None] | None:
    """Apply the trigger-rule, retry and depends_on_past decisions of one running run.

    Returns the states of all of its task instances afterwards, or ``None`` when there
    was nothing to decide (every task instance is scheduled, in flight or finished) and
    the run is not done: then one aggregate over the run's rows is all it costs. Only
    the columns a decision needs are read; only changed rows are loaded whole.
    """
    params = {"dag_id": run.dag_id, "run_id": run.run_id}
    undecided, unfinished = session.execute(_WAITING_COUNTS, params).one()
    if not undecided and unfinished:
        return None
    rows = session.execute(
        select(
            TaskInstance.id, TaskInstance.task_id, TaskInstance.state, TaskInstance.next_retry_at
        ).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
    ).all()
    ids = {row.task_id: row.id for row in rows}
    states = {row.task_id: _state(row.state) for row in rows}
    order, shapes = _shapes(dag)
    order = [task_id for task_id in order if task_id in ids]
    snapshot = RunSnapshot(
        states=states,
        next_retry_at={row.task_id: row.next_retry_at for row in rows if row.next_retry_at},
    )
    if any(shapes[t].depends_on_past for t in order):
        snapshot.has_previous_run, snapshot.past_states = _past_states(session, run)
    changes = decide_task_states(order, shapes, snapshot, now)
    if changes:
        changed = session.scalars(
            select(TaskInstance).where(TaskInstance.id.in_([ids[t] for t in changes]))
        ).all()
        for ti in changed:
            new = changes[ti.task_id]
            old = _state(ti.state)
            check_task_transition(old, new, Actor.SCHEDULER)
            if old in (TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE):
                archive_try(session, ti)
                reset_try_fields(ti)
            ti.state = new.value
            if new in (TI.SKIPPED, TI.UPSTREAM_FAILED):
                ti.end_date = now
            states[ti.task_id] = new
    return states


def _state(value: str | None) -> TaskInstanceState | None:
    return TaskInstanceState(value) if value is not None else None


def _past_states(session: Session, run: DagRun) -> tuple[bool, dict[str, TaskInstanceState | None]]:
    previous = session.scalar(
        select(DagRun.run_id)
        .where(DagRun.dag_id == run.dag_id, DagRun.logical_date < run.logical_date)
        .order_by(DagRun.logical_date.desc())
        .limit(1)
    )
    if previous is None:
        return False, {}
    rows = session.execute(
        select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == previous
        )
    ).all()
    return True, {task_id: _state(state) for task_id, state in rows}


@dataclass(frozen=True, slots=True)
class QueuedTry:
    """A task instance just moved to ``queued``: what the executor needs to run it."""

    key: TaskInstanceKey
    ti_id: str
    try_number: int
    queue: str
    priority: int
    dag_fileloc: str


def queue_ready_tasks(
    session: Session, executor_slots: int, now: datetime, job_id: int | None
) -> list[QueuedTry]:
    """Move the ``scheduled`` task instances that fit (slots, pools, per-DAG limits) to
    ``queued``, starting their next try; return them in dispatch order."""
    if executor_slots <= 0:
        return []
    # The best candidates first, and only as many as a pass can use (plus room for
    # those a full pool or limit passes over): a run of thousands of ready tasks costs
    # one short read per pass, not a load of every row.
    rows = session.execute(_CANDIDATES, {"limit": max(executor_slots * 8, _MIN_CANDIDATES)}).all()
    if not rows:
        return []
    candidates = [
        Candidate(
            key=row.id,
            dag_id=row.dag_id,
            task_id=row.task_id,
            pool=row.pool,
            priority_weight=row.priority_weight,
            logical_date=row.logical_date or now,
            pool_slots=row.pool_slots,
        )
        for row in rows
    ]
    limits = Limits(
        executor_slots=executor_slots,
        pool_slots=_free_pool_slots(session),
        dag_slots=_free_dag_slots(session, {c.dag_id for c in candidates}),
        task_slots=_free_task_slots(session, rows),
    )
    decision = admit(candidates, limits)
    for lost in decision.unknown_pool:
        if (lost.dag_id, lost.task_id, lost.pool) in _warned_pools:
            continue
        _warned_pools.add((lost.dag_id, lost.task_id, lost.pool))
        log.warning(
            "Task %s.%s waits for pool '%s', which does not exist: create it with "
            "`downwind pools set`",
            lost.dag_id,
            lost.task_id,
            lost.pool,
        )
    if not decision.admitted:
        return []
    check_task_transition(TI.SCHEDULED, TI.QUEUED, Actor.SCHEDULER)
    admitted = [candidate.key for candidate in decision.admitted]
    session.execute(
        update(TaskInstance)
        .where(TaskInstance.id.in_(admitted), TaskInstance.state == TI.SCHEDULED.value)
        .values(
            state=TI.QUEUED.value,
            try_number=TaskInstance.try_number + 1,
            queued_dttm=now,
            queued_by_job_id=job_id,
        )
        .execution_options(synchronize_session=False)
    )
    by_id = {row.id: row for row in rows}
    return [
        QueuedTry(
            key=TaskInstanceKey(row.dag_id, row.run_id, row.task_id, row.map_index),
            ti_id=row.id,
            try_number=row.try_number + 1,
            queue=row.queue or "default",
            priority=row.priority_weight,
            dag_fileloc=row.fileloc or "",
        )
        for row in (by_id[key] for key in admitted)
    ]


_CANDIDATES = (
    select(
        TaskInstance.id,
        TaskInstance.dag_id,
        TaskInstance.run_id,
        TaskInstance.task_id,
        TaskInstance.map_index,
        TaskInstance.try_number,
        TaskInstance.queue,
        TaskInstance.pool,
        TaskInstance.pool_slots,
        TaskInstance.priority_weight,
        TaskInstance.dag_version_id,
        DagRun.logical_date,
        DagModel.fileloc,
    )
    .join(
        DagRun,
        (DagRun.dag_id == TaskInstance.dag_id) & (DagRun.run_id == TaskInstance.run_id),
    )
    .outerjoin(DagModel, DagModel.dag_id == TaskInstance.dag_id)
    .where(
        TaskInstance.state == TI.SCHEDULED.value,
        DagRun.state == DagRunState.RUNNING.value,
    )
    .order_by(TaskInstance.priority_weight.desc(), DagRun.logical_date, TaskInstance.task_id)
    .limit(bindparam("limit"))
)


#: (dag_id, task_id, pool) already warned about, so a missing pool is said once
_warned_pools: set[tuple[str, str, str]] = set()


def _free_task_slots(session: Session, tis: Iterable[Any]) -> dict[tuple[str, str], int]:
    """Free slots of the tasks that set ``max_active_tis_per_dag`` (the rest: no limit)."""
    limits: dict[tuple[str, str], int] = {}
    dags: dict[tuple[str, int | None], SerializedDAG] = {}
    for ti in tis:
        version = (ti.dag_id, ti.dag_version_id)
        if version not in dags:
            dags[version] = load_serialized_dag(session, ti.dag_id, ti.dag_version_id)
        task = dags[version].task_dict.get(ti.task_id)
        if task is not None and task.max_active_tis_per_dag is not None:
            limits[(ti.dag_id, ti.task_id)] = task.max_active_tis_per_dag
    if not limits:
        return {}
    rows = session.execute(
        select(TaskInstance.dag_id, TaskInstance.task_id, func.count())
        .where(
            TaskInstance.dag_id.in_({dag_id for dag_id, _ in limits}),
            TaskInstance.state.in_(_IN_FLIGHT),
        )
        .group_by(TaskInstance.dag_id, TaskInstance.task_id)
    )
    used = {(dag_id, task_id): count for dag_id, task_id, count in rows}
    return {key: limit - int(used.get(key) or 0) for key, limit in limits.items()}


def _free_pool_slots(session: Session) -> dict[str, int]:
    used = dict(
        session.execute(
            select(TaskInstance.pool, func.sum(TaskInstance.pool_slots))
            .where(TaskInstance.state.in_(_IN_FLIGHT))
            .group_by(TaskInstance.pool)
        ).all()
    )
    return {
        pool.pool: pool.slots - int(used.get(pool.pool) or 0)
        for pool in session.scalars(select(Pool))
    }


def _free_dag_slots(session: Session, dag_ids: Iterable[str]) -> dict[str, int]:
    ids = list(dag_ids)
    used = dict(
        session.execute(
            select(TaskInstance.dag_id, func.count())
            .where(TaskInstance.dag_id.in_(ids), TaskInstance.state.in_(_IN_FLIGHT))
            .group_by(TaskInstance.dag_id)
        ).all()
    )
    limits = dict(
        session.execute(
            select(DagModel.dag_id, DagModel.max_active_tasks).where(DagModel.dag_id.in_(ids))
        ).all()
    )
    return {dag_id: (limits.get(dag_id) or 16) - int(used.get(dag_id) or 0) for dag_id in ids}


def key_of(ti: TaskInstance) -> TaskInstanceKey:
    return TaskInstanceKey(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
