"""DAG runs in the scheduler: create the ones that are due, start queued ones, finish them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from downwind.metastore.models import Backfill, DagModel, DagRun, TaskInstance
from downwind.scheduling.run_decisions import run_outcome
from downwind.sdk.serialization import SerializedDAG
from downwind.services.dag_registry import load_serialized_dag
from downwind.services.runs import create_dag_run
from downwind.states import Actor, DagRunState, check_dag_run_transition
from downwind.timetables import DataInterval

log = logging.getLogger("downwind.scheduler")

ACTIVE_RUN_STATES = (DagRunState.QUEUED.value, DagRunState.RUNNING.value)
SCHEDULED_RUN_TYPES = ("scheduled",)


def _active_run_count(session: Session, dag_id: str) -> int:
    return session.scalar(
        select(func.count())
        .select_from(DagRun)
        .where(
            DagRun.dag_id == dag_id,
            DagRun.state.in_(ACTIVE_RUN_STATES),
            DagRun.backfill_id.is_(None),  # a backfill's runs count against its own limit
        )
    )


def _last_scheduled_interval(session: Session, dag_id: str) -> DataInterval | None:
    row = session.execute(
        select(DagRun.data_interval_start, DagRun.data_interval_end)
        .where(DagRun.dag_id == dag_id, DagRun.run_type.in_(SCHEDULED_RUN_TYPES))
        .order_by(DagRun.data_interval_end.desc())
        .limit(1)
    ).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return DataInterval(row[0], row[1])


def create_due_runs(session: Session, now: datetime) -> list[DagRun]:
    """Create the scheduled runs whose interval has ended, oldest first, while each DAG
    has fewer than ``max_active_runs`` queued or running runs."""
    created: list[DagRun] = []
    dags = session.scalars(
        select(DagModel).where(
            DagModel.is_active.is_(True),
            DagModel.is_paused.is_(False),
            (DagModel.next_dagrun_create_after.is_(None))
            | (DagModel.next_dagrun_create_after <= now),
        )
    ).all()
    for row in dags:
        dag = load_serialized_dag(session, row.dag_id)
        if not dag.timetable.can_be_scheduled:
            _set_next(row, None)
            continue
        created.extend(_create_runs_for(session, row, dag, now))
    return created


def _create_runs_for(
    session: Session, row: DagModel, dag: SerializedDAG, now: datetime
) -> list[DagRun]:
    created = []
    last = _last_scheduled_interval(session, row.dag_id)
    active = _active_run_count(session, row.dag_id)
    while True:
        interval = dag.timetable.next_dagrun_interval(
            last_interval=last,
            start_date=dag.start_date,
            end_date=dag.end_date,
            catchup=dag.catchup,
            now=now,
        )
        _set_next(row, interval)
        if interval is None or interval.end > now or active >= dag.max_active_runs:
            return created
        run = create_dag_run(
            session,
            row.dag_id,
            run_type="scheduled",
            logical_date=interval.start,
            data_interval=interval,
            conf={},
            triggered_by="scheduler",
            now=now,
        )
        log.info("Created run %s of DAG %s", run.run_id, row.dag_id)
        created.append(run)
        last = interval
        active += 1


def _set_next(row: DagModel, interval: DataInterval | None) -> None:
    row.next_dagrun = interval.start if interval else None
    row.next_dagrun_data_interval_start = interval.start if interval else None
    row.next_dagrun_data_interval_end = interval.end if interval else None
    # NULL means "look at me again": a DAG with no further run is parked far away
    row.next_dagrun_create_after = interval.end if interval else _NEVER


_NEVER = datetime(9999, 12, 31, tzinfo=UTC)


def look_again(session: Session, dag_id: str) -> None:
    """Make the next pass reconsider ``dag_id``'s schedule (a run ended, a slot is free)."""
    session.execute(
        update(DagModel).where(DagModel.dag_id == dag_id).values(next_dagrun_create_after=None)
    )


_QUEUED_RUNS_MARK = select(func.count(), func.max(DagRun.queued_at)).where(
    DagRun.state == DagRunState.QUEUED.value
)


def queued_runs_mark(session: Session) -> tuple[int, datetime | None]:
    """A cheap summary of the queued runs (how many, latest ``queued_at``) that changes
    whenever a run is triggered or cleared, so a waiting scheduler can notice it."""
    count, latest = session.execute(_QUEUED_RUNS_MARK).one()
    return int(count), latest


def start_queued_runs(session: Session, now: datetime) -> list[DagRun]:
    """Move queued runs to running, oldest logical date first: up to the DAG's
    ``max_active_runs`` running runs among its runs outside backfills, and up to a
    backfill's ``max_active_runs`` among that backfill's runs (which do not count against
    the DAG's); none of a paused DAG or of a paused or cancelled backfill."""
    started = []
    queued = session.scalars(
        select(DagRun)
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .outerjoin(Backfill, Backfill.id == DagRun.backfill_id)
        .where(
            DagRun.state == DagRunState.QUEUED.value,
            DagRun.run_after <= now,
            DagModel.is_paused.is_(False),  # a paused DAG's runs wait, as in Airflow
            (Backfill.id.is_(None)) | (Backfill.is_paused.is_(False)),
        )
        .order_by(DagRun.dag_id, DagRun.logical_date)
    ).all()
    running_counts: dict[tuple[str, int | None], int] = {}
    for run in queued:
        key = (run.dag_id, run.backfill_id)
        if key not in running_counts:
            same_group = (
                DagRun.backfill_id.is_(None)
                if run.backfill_id is None
                else DagRun.backfill_id == run.backfill_id
            )
            running_counts[key] = session.scalar(
                select(func.count())
                .select_from(DagRun)
                .where(
                    DagRun.dag_id == run.dag_id,
                    DagRun.state == DagRunState.RUNNING.value,
                    same_group,
                )
            )
        if run.backfill_id is None:
            limit = load_serialized_dag(session, run.dag_id, run.dag_version_id).max_active_runs
        else:
            limit = session.get(Backfill, run.backfill_id).max_active_runs
        if running_counts[key] >= limit:
            continue
        check_dag_run_transition(DagRunState.QUEUED, DagRunState.RUNNING, Actor.SCHEDULER)
        run.state = DagRunState.RUNNING.value
        run.start_date = run.start_date or now
        run.end_date = None
        running_counts[key] += 1
        started.append(run)
    return started


def finish_run_if_done(
    session: Session,
    run: DagRun,
    dag: SerializedDAG,
    now: datetime,
    states: Mapping[str, str | None] | None = None,
) -> DagRunState | None:
    """Mark ``run`` success/failed once all of its task instances are finished.

    ``states`` (task id -> state) saves reading them again when the caller has them."""
    if states is None:
        states = dict(
            session.execute(
                select(TaskInstance.task_id, TaskInstance.state).where(
                    TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
                )
            ).all()
        )
    outcome = run_outcome(states, [leaf.task_id for leaf in dag.leaves])
    if outcome is None:
        return None
    check_dag_run_transition(DagRunState(run.state), outcome, Actor.SCHEDULER)
    run.state = outcome.value
    run.end_date = now
    look_again(session, run.dag_id)  # a slot is free
    log.info("Run %s of DAG %s %s", run.run_id, run.dag_id, outcome.value)
    return outcome
