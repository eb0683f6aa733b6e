"""DAG runs: create one (scheduler, backfill, trigger), list them, mark them.

A new run records the DAG version it runs and gets one task instance per task of that
version, with no state yet; the scheduler takes it from there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from downwind.exceptions import DagNotFound, IllegalStateTransition
from downwind.metastore.models import DagRun, TaskInstance
from downwind.metastore.models.base import ID_LEN
from downwind.metastore.models.dag_run import RUN_TYPES
from downwind.runtime import serde
from downwind.sdk.serialization import SerializedDAG
from downwind.services.audit import record_action
from downwind.services.dag_registry import latest_version, load_serialized_dag
from downwind.services.dags import dag_timezone, get_dag_model, to_aware
from downwind.services.errors import DagRunAlreadyExists, DagRunNotFound, InvalidInput
from downwind.states import (
    DAG_RUN_FINISHED,
    TASK_FINISHED,
    Actor,
    DagRunState,
    TaskInstanceState,
    check_dag_run_transition,
    check_task_transition,
)
from downwind.timetables.base import DataInterval

__all__ = [
    "RUN_ID_PATTERN",
    "create_dag_run",
    "default_run_id",
    "get_dag_run",
    "list_dag_runs",
    "set_dag_run_state",
    "trigger_dag_run",
    "validate_conf",
]

#: the characters a run id may have (it names a folder of task logs): as in Airflow
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_.~:+-]+")


def default_run_id(run_type: str, logical_date: datetime) -> str:
    """``<run_type>__<logical date in UTC, ISO 8601>``, e.g.
    ``manual__2026-01-01T00:00:00+00:00``."""
    return f"{run_type}__{logical_date.astimezone(UTC).isoformat()}"


def _check_run_id(run_id: str) -> None:
    if not run_id or len(run_id) > ID_LEN or not RUN_ID_PATTERN.fullmatch(run_id):
        raise InvalidInput(
            f"invalid run id {run_id!r}: use 1 to {ID_LEN} letters, digits and the characters "
            "_ . ~ : + -"
        )


def _check_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} must be timezone-aware, got {value.isoformat()}")


def create_dag_run(
    session: Session,
    dag_id: str,
    *,
    run_type: str,
    logical_date: datetime,
    data_interval: DataInterval,
    conf: Mapping[str, Any] | None,
    run_id: str | None = None,
    triggered_by: str,
    now: datetime,
    backfill_id: int | None = None,
    run_after: datetime | None = None,
) -> DagRun:
    """Create a queued run of the latest stored version of ``dag_id``, with one task
    instance per task (no state, try 0, ``max_tries = retries``, the task's pool, queue and
    ``priority_weight_total``).

    ``run_id`` defaults to :func:`default_run_id`; ``run_after`` (when the run may start)
    to the end of the data interval for scheduled and backfill runs, to ``now`` for manual
    ones. Raises :class:`~downwind.exceptions.DagNotFound` when no version is stored and
    :class:`~downwind.services.errors.DagRunAlreadyExists` for a run id already used.
    Nothing is checked about the conf: :func:`trigger_dag_run` does that for users.
    """
    if run_type not in RUN_TYPES:
        raise InvalidInput(f"invalid run type {run_type!r}: expected one of {', '.join(RUN_TYPES)}")
    _check_aware("logical_date", logical_date)
    version = latest_version(session, dag_id)
    if version is None:
        raise DagNotFound(
            f"DAG '{dag_id}' has no stored version: is it in the dags folder, and has the "
            "DAG processor parsed it?"
        )
    dag = load_serialized_dag(session, dag_id, version.id)
    run_id = run_id if run_id is not None else default_run_id(run_type, logical_date)
    _check_run_id(run_id)
    if _find_run(session, dag_id, run_id) is not None:
        raise _already_exists(dag_id, run_id)
    if run_after is None:
        run_after = now if run_type == "manual" else data_interval.end
    run = DagRun(
        dag_id=dag_id,
        run_id=run_id,
        run_type=run_type,
        logical_date=logical_date,
        data_interval_start=data_interval.start,
        data_interval_end=data_interval.end,
        run_after=run_after,
        conf=dict(conf or {}),
        state=DagRunState.QUEUED.value,
        queued_at=now,
        dag_version_id=version.id,
        triggered_by=triggered_by,
        backfill_id=backfill_id,
        clear_number=0,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent insert of the same run id fails alone
            session.add(run)
            session.flush()
    except IntegrityError:
        if _find_run(session, dag_id, run_id) is not None:
            raise _already_exists(dag_id, run_id) from None
        raise
    _create_task_instances(session, dag, run, version.id, now)
    return run


def _create_task_instances(
    session: Session, dag: SerializedDAG, run: DagRun, version_id: int, now: datetime
) -> None:
    weights = dag.priority_weight_totals()
    rows = [
        {
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "task_id": task.task_id,
            "map_index": -1,
            "state": None,
            "try_number": 0,
            "max_tries": task.retries,
            "pool": task.pool,
            "pool_slots": task.pool_slots,
            "queue": task.queue,
            "priority_weight": weights[task.task_id],
            "operator": task.task_type,
            "dag_version_id": version_id,
            "updated_at": now,
        }
        for task in dag.tasks
    ]
    if rows:  # one executemany, not one ORM object per task
        session.execute(insert(TaskInstance), rows)


def _already_exists(dag_id: str, run_id: str) -> DagRunAlreadyExists:
    return DagRunAlreadyExists(
        f"DAG '{dag_id}' already has a run with run id '{run_id}'; choose another run id "
        "or logical date"
    )


def _find_run(session: Session, dag_id: str, run_id: str) -> DagRun | None:
    return session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))


def validate_conf(dag: SerializedDAG, conf: Any) -> dict[str, Any]:
    """``conf`` checked for a run of ``dag``: a JSON object (``None`` is ``{}``) that
    downwind's serializer stores and that satisfies the DAG's params.

    Raises :class:`~downwind.services.errors.InvalidInput`,
    :class:`~downwind.exceptions.SerializationError` or
    :class:`~downwind.exceptions.ParamValidationError`.
    """
    if conf is None:
        return {}
    if not isinstance(conf, Mapping):
        raise InvalidInput(
            f"run conf must be a JSON object such as '{{\"key\": 1}}', got {type(conf).__name__}"
        )
    checked = serde.loads(serde.dumps(dict(conf)))
    dag.params.resolve(checked)
    return checked


def trigger_dag_run(
    session: Session,
    dag_id: str,
    *,
    logical_date: datetime | None = None,
    conf: Any = None,
    run_id: str | None = None,
    triggered_by: str = "cli",
    now: datetime,
    owner: str | None = None,
) -> DagRun:
    """Create a manual run of ``dag_id`` (a user action, audited as ``trigger``).

    ``logical_date`` defaults to ``now``; a naive one is in the DAG's time zone. The data
    interval is the one the DAG's schedule infers for a manual run at that date. The conf
    is checked by :func:`validate_conf`. A paused DAG gets its run too; the scheduler starts
    it once the DAG is unpaused. Raises :class:`~downwind.exceptions.DagNotFound` for an
    unknown or inactive DAG.
    """
    get_dag_model(session, dag_id, active=True)
    dag = load_serialized_dag(session, dag_id)
    checked = validate_conf(dag, conf)
    logical = to_aware(logical_date, dag.timezone) or now
    interval = dag.timetable.infer_manual_data_interval(logical)
    run = create_dag_run(
        session,
        dag_id,
        run_type="manual",
        logical_date=logical,
        data_interval=interval,
        conf=checked,
        run_id=run_id,
        triggered_by=triggered_by,
        now=now,
    )
    record_action(
        session,
        "trigger",
        owner=owner,
        now=now,
        dag_id=dag_id,
        run_id=run.run_id,
        logical_date=logical,
        extra={"conf": checked, "triggered_by": triggered_by},
    )
    return run


def get_dag_run(session: Session, dag_id: str, run_id: str) -> DagRun:
    """The run ``run_id`` of ``dag_id``; raises :class:`~downwind.exceptions.DagNotFound`
    or :class:`~downwind.services.errors.DagRunNotFound`."""
    run = _find_run(session, dag_id, run_id)
    if run is None:
        get_dag_model(session, dag_id)
        raise DagRunNotFound(f"DAG '{dag_id}' has no run '{run_id}'")
    return run


def _parse_run_state(state: DagRunState | str) -> DagRunState:
    try:
        return DagRunState(state)
    except ValueError:
        valid = ", ".join(s.value for s in DagRunState)
        raise InvalidInput(f"invalid DAG run state {state!r}: expected one of {valid}") from None


def list_dag_runs(
    session: Session,
    dag_id: str,
    *,
    state: DagRunState | str | None = None,
    run_type: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    limit: int | None = None,
) -> list[DagRun]:
    """The runs of ``dag_id``, newest logical date first, optionally only those in
    ``state``, of ``run_type``, or with a logical date from ``start_date`` to ``end_date``
    (both included; naive dates are in the DAG's time zone)."""
    get_dag_model(session, dag_id)
    query = select(DagRun).where(DagRun.dag_id == dag_id)
    if state is not None:
        query = query.where(DagRun.state == _parse_run_state(state).value)
    if run_type is not None:
        if run_type not in RUN_TYPES:
            raise InvalidInput(
                f"invalid run type {run_type!r}: expected one of {', '.join(RUN_TYPES)}"
            )
        query = query.where(DagRun.run_type == run_type)
    if start_date is not None or end_date is not None:
        tz = dag_timezone(session, dag_id)
        if start_date is not None:
            query = query.where(DagRun.logical_date >= to_aware(start_date, tz))
        if end_date is not None:
            query = query.where(DagRun.logical_date <= to_aware(end_date, tz))
    query = query.order_by(DagRun.logical_date.desc(), DagRun.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def set_dag_run_state(
    session: Session,
    dag_id: str,
    run_id: str,
    state: DagRunState | str,
    *,
    now: datetime,
    owner: str | None = None,
) -> DagRun:
    """Mark a run ``success`` or ``failed`` (a user action, audited).

    As in Airflow, its unfinished task instances are marked too: ``success`` marks every
    task instance that is not ``success``, ``skipped`` (or ``removed`` from the DAG) as
    ``success``; ``failed`` marks the unfinished ones ``skipped``. Refused (nothing
    changes) while one of them is running: a running task cannot be marked.
    """
    new = _parse_run_state(state)
    if new not in DAG_RUN_FINISHED:
        raise InvalidInput(f"a DAG run can be marked success or failed, not {new}")
    run = get_dag_run(session, dag_id, run_id)
    check_dag_run_transition(run.state, new, Actor.USER)
    tis = list(
        session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
            .with_for_update()
        )
    )
    running = sorted(ti.task_id for ti in tis if ti.state == TaskInstanceState.RUNNING)
    if running:
        raise IllegalStateTransition(
            f"cannot mark run '{run_id}' of DAG '{dag_id}' {new}: "
            f"{'task' if len(running) == 1 else 'tasks'} {', '.join(running)} "
            f"{'is' if len(running) == 1 else 'are'} running; wait for "
            f"{'it' if len(running) == 1 else 'them'} to finish"
        )
    if new is DagRunState.SUCCESS:
        kept = (TaskInstanceState.SUCCESS, TaskInstanceState.SKIPPED, TaskInstanceState.REMOVED)
        keep = {state.value for state in kept}
        target = TaskInstanceState.SUCCESS
    else:
        keep = {state.value for state in TASK_FINISHED}
        target = TaskInstanceState.SKIPPED
    for ti in tis:
        if ti.state in keep:
            continue
        check_task_transition(ti.state, target, Actor.USER)
        ti.state = target.value
        if ti.end_date is None:
            ti.end_date = now
    old = run.state
    run.state = new.value
    run.end_date = now
    record_action(
        session,
        f"dag_run.mark_{new}",
        owner=owner,
        now=now,
        dag_id=dag_id,
        run_id=run_id,
        logical_date=run.logical_date,
        extra={"state": new.value, "previous_state": old},
    )
    return run
