"""Backfills in the scheduler: each pass creates the next runs of every unfinished
backfill, finishes the backfills that are done, and carries out cancels.

A backfill keeps at most its ``max_active_runs`` runs queued or running, counting only its
own runs, so it never takes the slots of the DAG's scheduled runs (and they never take its
slots). Its runs are made oldest logical date first; where it stands is read back from its
runs (``dag_run.backfill_id``): the latest logical date it owns is its cursor. What it does
at each date is described in :mod:`downwind.services.backfills`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from downwind.exceptions import DownwindException
from downwind.metastore.models import Backfill, DagModel, DagRun, TaskInstance
from downwind.sdk.serialization import SerializedDAG
from downwind.services.backfills import (
    SKIP_EXISTS,
    SKIP_IN_FLIGHT,
    action_for,
    active_run_count,
    backfill_intervals,
    find_existing_run,
    interval_at,
    perform_action,
)
from downwind.services.dag_registry import load_serialized_dag
from downwind.states import (
    TASK_ACTIVE,
    Actor,
    DagRunState,
    TaskInstanceState,
    check_dag_run_transition,
    check_task_transition,
)
from downwind.timetables import DataInterval

__all__ = ["advance_backfills"]

log = logging.getLogger("downwind.scheduler")

_ACTIVE_TI_STATES = frozenset(state.value for state in TASK_ACTIVE)
#: what a cancel does to the unfinished task instances of a queued run
_CANCELLED_TI_STATE = {
    None: TaskInstanceState.SKIPPED,
    TaskInstanceState.SCHEDULED.value: TaskInstanceState.SKIPPED,
    TaskInstanceState.UP_FOR_RETRY.value: TaskInstanceState.FAILED,
    TaskInstanceState.UP_FOR_RESCHEDULE.value: TaskInstanceState.FAILED,
}


def advance_backfills(session: Session, now: datetime) -> int:
    """One scheduler pass over the unfinished backfills; return how many runs it created
    or cleared to run again.

    For each backfill (locked, skipping those another scheduler holds): a cancelled one
    has its queued runs marked failed and is completed once none of its runs is
    running; otherwise, while it is not paused, its DAG is active and unpaused, and it
    has fewer than ``max_active_runs`` runs queued or running, the next logical dates get
    their runs. It is completed (``success``, or ``failed`` if one of its runs failed)
    when no date is left and none of its runs is queued or running. A backfill that
    cannot advance is logged and retried next pass; it never stops the scheduler.
    """
    backfills = session.scalars(
        select(Backfill)
        .where(Backfill.completed_at.is_(None))
        .order_by(Backfill.id)
        .with_for_update(skip_locked=True)
    ).all()
    changed = 0
    for backfill in backfills:
        try:
            with session.begin_nested():
                changed += _advance(session, backfill, now)
        except DownwindException as err:
            log.error(
                "Backfill %d of DAG %s could not advance: %s", backfill.id, backfill.dag_id, err
            )
    return changed


def _advance(session: Session, backfill: Backfill, now: datetime) -> int:
    if backfill.state == "cancelled":
        failed = _fail_queued_runs(session, backfill, now)
        if failed:
            log.info("Backfill %d cancelled: %d queued run(s) failed", backfill.id, failed)
        session.flush()
        if _running_run_count(session, backfill) == 0:
            _complete(backfill, "cancelled", now)
        return 0
    dag_row = session.get(DagModel, backfill.dag_id)
    dag = load_serialized_dag(session, backfill.dag_id)
    may_create = (
        not backfill.is_paused
        and dag_row is not None
        and dag_row.is_active
        and not dag_row.is_paused  # as in Airflow, a paused DAG's backfill waits
    )
    active = active_run_count(session, backfill)
    made = 0
    left = False
    for interval in backfill_intervals(
        dag,
        backfill.from_date,
        backfill.to_date,
        horizon=backfill.created_at,
        after=_cursor(session, backfill, dag),
    ):
        existing = find_existing_run(session, backfill.dag_id, interval.start)
        if existing is not None and existing.backfill_id == backfill.id:
            continue
        if action_for(existing.state if existing else None, backfill.reprocess_behavior) in (
            SKIP_EXISTS,
            SKIP_IN_FLIGHT,
        ):
            continue
        if not may_create or active >= backfill.max_active_runs:
            left = True
            break
        try:
            with session.begin_nested():
                run = perform_action(session, backfill, dag, interval, existing, now=now)
        except DownwindException as err:  # e.g. a run id already taken: skip this date
            log.warning(
                "Backfill %d of DAG %s skips %s: %s",
                backfill.id,
                backfill.dag_id,
                interval.start.isoformat(),
                err,
            )
            continue
        if run is None:
            continue
        log.info(
            "Backfill %d: %s run %s of DAG %s",
            backfill.id,
            "created" if existing is None else "re-running",
            run.run_id,
            backfill.dag_id,
        )
        made += 1
        active += 1
    if made and backfill.state == "queued":
        backfill.state = "running"
        backfill.updated_at = now
    if not left and active == 0:
        _complete(backfill, "failed" if _any_failed(session, backfill) else "success", now)
    return made


def _fail_queued_runs(session: Session, backfill: Backfill, now: datetime) -> int:
    """Mark the queued runs of a cancelled backfill failed, their unstarted task instances
    ``skipped``; return how many. A queued run holding a queued or running task instance
    (cleared back to queued while one was in flight) is left as it is."""
    runs = session.scalars(
        select(DagRun)
        .where(DagRun.backfill_id == backfill.id, DagRun.state == DagRunState.QUEUED.value)
        .with_for_update()
    ).all()
    failed = 0
    for run in runs:
        tis = session.scalars(
            select(TaskInstance)
            .where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
            .with_for_update()
        ).all()
        if any(ti.state in _ACTIVE_TI_STATES for ti in tis):
            continue
        for ti in tis:
            new = _CANCELLED_TI_STATE.get(ti.state)
            if new is None:  # finished before the run was cleared: keep it
                continue
            check_task_transition(ti.state, new, Actor.SCHEDULER)
            ti.state = new.value
            ti.end_date = now
            ti.updated_at = now
        check_dag_run_transition(run.state, DagRunState.FAILED, Actor.SCHEDULER)
        run.state = DagRunState.FAILED.value
        run.end_date = now
        run.updated_at = now
        failed += 1
    return failed


def _running_run_count(session: Session, backfill: Backfill) -> int:
    return session.scalar(
        select(func.count())
        .select_from(DagRun)
        .where(DagRun.backfill_id == backfill.id, DagRun.state == DagRunState.RUNNING.value)
    )


def _cursor(session: Session, backfill: Backfill, dag: SerializedDAG) -> DataInterval | None:
    """The interval of the latest logical date ``backfill`` owns a run at: every date
    before it has been dealt with."""
    latest = session.scalar(
        select(func.max(DagRun.logical_date)).where(DagRun.backfill_id == backfill.id)
    )
    return None if latest is None else interval_at(dag, latest, backfill.created_at)


def _any_failed(session: Session, backfill: Backfill) -> bool:
    return (
        session.scalar(
            select(DagRun.id)
            .where(
                DagRun.backfill_id == backfill.id,
                DagRun.state == DagRunState.FAILED.value,
            )
            .limit(1)
        )
        is not None
    )


def _complete(backfill: Backfill, state: str, now: datetime) -> None:
    backfill.state = state
    backfill.completed_at = now
    backfill.updated_at = now
    log.info("Backfill %d of DAG %s %s", backfill.id, backfill.dag_id, state)
