"""Backfills: run a DAG over a range of past logical dates, as Apache Airflow 3 does.

A backfill is a recorded request (``backfill`` row: DAG, range, reprocess behaviour,
``max_active_runs``, paused, state). Creating one changes no run: the scheduler works
through it a few runs at a time (:func:`downwind.scheduler.backfills.advance_backfills`),
oldest logical date first, so it can be followed, paused and cancelled, and so that it
never takes the slots of the DAG's scheduled runs.

The dates it covers are the data intervals of the DAG's schedule whose logical date (the
interval's start) lies from ``from_date`` to ``to_date``, both included, and which had
ended when the backfill was created. For each, when the scheduler reaches it:

- no run has that logical date: a run of type ``backfill`` is created
  (run id ``backfill__<logical date>``);
- a run has it and is queued or running: it is left alone (``skip_in_flight``);
- a finished run has it: ``reprocess_behavior`` decides. ``none`` keeps it; ``failed``
  clears the failed and upstream_failed task instances of a failed run (every task
  instance, if none is in those states) and leaves a successful one; ``completed`` clears
  every task instance of the run. A cleared run joins the backfill (its ``backfill_id``
  is set; its run id and run type stay) and runs again, keeping the history of each try.

Runs recorded by ``downwind dags test`` are not looked at: they never block a date.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from downwind.exceptions import DownwindException, IllegalStateTransition
from downwind.metastore.models import Backfill, DagRun
from downwind.metastore.models.backfill import REPROCESS_BEHAVIORS
from downwind.sdk.serialization import SerializedDAG
from downwind.services.audit import record_action
from downwind.services.clear import clear_task_instances
from downwind.services.dag_registry import load_serialized_dag
from downwind.services.dags import get_dag_model, to_aware
from downwind.services.errors import AlreadyExists, InvalidInput
from downwind.services.runs import create_dag_run, validate_conf
from downwind.services.test_runs import TRIGGERED_BY as TEST_TRIGGERED_BY
from downwind.states import DagRunState
from downwind.timetables import DataInterval

__all__ = [
    "ACTIONS",
    "BACKFILL_SORT_FIELDS",
    "BACKFILL_STATES",
    "CREATE",
    "DEFAULT_MAX_ACTIVE_RUNS",
    "RERUN",
    "RERUN_FAILED",
    "SKIP_EXISTS",
    "SKIP_IN_FLIGHT",
    "BackfillAlreadyRunning",
    "BackfillNotFound",
    "BackfillPlan",
    "BackfillProgress",
    "PlannedRun",
    "action_for",
    "active_run_count",
    "backfill_intervals",
    "backfill_progress",
    "cancel_backfill",
    "create_backfill",
    "find_existing_run",
    "get_backfill",
    "interval_at",
    "list_backfills",
    "perform_action",
    "select_backfills",
    "set_backfill_paused",
]

#: the states of a backfill: ``queued`` until its first run exists, ``running``, then
#: ``success`` (none of its runs failed), ``failed`` or ``cancelled``
BACKFILL_STATES = ("queued", "running", "success", "failed", "cancelled")
_UNFINISHED = ("queued", "running")
#: as in Airflow 3
DEFAULT_MAX_ACTIVE_RUNS = 10

#: what a backfill does at one logical date (see the module docstring)
CREATE = "create"
RERUN_FAILED = "rerun_failed"
RERUN = "rerun"
SKIP_EXISTS = "skip_exists"
SKIP_IN_FLIGHT = "skip_in_flight"
ACTIONS = (CREATE, RERUN_FAILED, RERUN, SKIP_EXISTS, SKIP_IN_FLIGHT)
_ACTIVE_RUN_STATES = (DagRunState.QUEUED.value, DagRunState.RUNNING.value)


class BackfillNotFound(DownwindException, LookupError):
    """No backfill has this id."""


class BackfillAlreadyRunning(AlreadyExists):
    """The DAG already has a backfill that has not finished (one at a time, as in Airflow)."""


@dataclass(frozen=True)
class PlannedRun:
    """One logical date of a backfill and what the backfill does (or would do) there."""

    logical_date: datetime
    data_interval: DataInterval
    #: one of :data:`ACTIONS`
    action: str
    #: the run already at this logical date (``None`` for ``create``)
    existing_run_id: str | None = None
    existing_state: str | None = None


@dataclass(frozen=True)
class BackfillPlan:
    """What :func:`create_backfill` recorded (``backfill`` is ``None`` for a dry run) and
    what the backfill does at each of its logical dates, judged now."""

    backfill: Backfill | None
    runs: list[PlannedRun]

    @property
    def counts(self) -> Counter[str]:
        """How many logical dates get each action."""
        return Counter(run.action for run in self.runs)


@dataclass(frozen=True)
class BackfillProgress:
    """Where a backfill stands: its logical dates by the state of the run it owns there,
    ``skipped`` (another run kept the date), ``pending`` (not reached yet) or
    ``cancelled`` (a cancel came first)."""

    backfill: Backfill
    total: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        """Logical dates the backfill is finished with."""
        return sum(self.counts.get(key, 0) for key in ("success", "failed", "skipped"))

    def as_dict(self) -> dict[str, int]:
        keys = ("queued", "running", "success", "failed", "skipped", "pending", "cancelled")
        return {"total": self.total, **{key: self.counts.get(key, 0) for key in keys}}


# -- pure decisions ------------------------------------------------------------------


def action_for(existing_state: str | None, reprocess_behavior: str) -> str:
    """What a backfill does at a logical date whose latest run is in ``existing_state``
    (``None``: there is no run)."""
    if existing_state is None:
        return CREATE
    if existing_state in _ACTIVE_RUN_STATES:
        return SKIP_IN_FLIGHT
    if reprocess_behavior == "completed":
        return RERUN
    if reprocess_behavior == "failed" and existing_state == DagRunState.FAILED.value:
        return RERUN_FAILED
    return SKIP_EXISTS


def backfill_intervals(
    dag: SerializedDAG,
    from_date: datetime,
    to_date: datetime,
    *,
    horizon: datetime,
    after: DataInterval | None = None,
) -> Iterator[DataInterval]:
    """The data intervals of ``dag``'s schedule whose start lies from ``from_date`` to
    ``to_date`` and whose end is not after ``horizon``, oldest first; with ``after``, only
    those following that interval. The DAG's own start and end dates do not limit them."""
    timetable = dag.timetable
    previous = after
    while True:
        interval = timetable.next_dagrun_interval(
            last_interval=previous,
            start_date=from_date,
            end_date=to_date,
            catchup=True,
            now=horizon,
        )
        if interval is None or interval.end > horizon or interval.start > to_date:
            return
        if previous is not None and (interval.end, interval.start) <= (
            previous.end,
            previous.start,
        ):
            return  # a timetable that does not move forward would loop forever
        yield interval
        previous = interval


def interval_at(dag: SerializedDAG, logical_date: datetime, horizon: datetime) -> DataInterval:
    """The data interval of ``dag``'s schedule that starts at ``logical_date``."""
    interval = dag.timetable.next_dagrun_interval(
        last_interval=None, start_date=logical_date, end_date=None, catchup=True, now=horizon
    )
    return interval if interval is not None else DataInterval.exact(logical_date)


# -- reading -------------------------------------------------------------------------


def get_backfill(session: Session, backfill_id: int) -> Backfill:
    """The backfill ``backfill_id``; raises :class:`BackfillNotFound`."""
    backfill = session.get(Backfill, backfill_id)
    if backfill is None:
        raise BackfillNotFound(
            f"backfill {backfill_id} not found: `downwind backfills list` shows them"
        )
    return backfill


def list_backfills(
    session: Session, *, dag_id: str | None = None, active: bool = False
) -> list[Backfill]:
    """Backfills, newest first; only those of ``dag_id``, only unfinished ones with
    ``active``."""
    query = select(Backfill)
    if dag_id is not None:
        get_dag_model(session, dag_id)
        query = query.where(Backfill.dag_id == dag_id)
    if active:
        query = query.where(Backfill.completed_at.is_(None))
    return list(session.scalars(query.order_by(Backfill.id.desc())))


#: the fields a backfill listing may be sorted by (Airflow sorts by ``id`` only)
BACKFILL_SORT_FIELDS = (
    "id",
    "dag_id",
    "from_date",
    "to_date",
    "created_at",
    "completed_at",
    "updated_at",
)


def select_backfills(
    *, dag_id: str | None = None
) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The backfills (of ``dag_id``, known or not) and the columns of
    :data:`BACKFILL_SORT_FIELDS`."""
    query = select(Backfill)
    if dag_id is not None:
        query = query.where(Backfill.dag_id == dag_id)
    columns: dict[str, ColumnElement[Any]] = {
        name: getattr(Backfill, name) for name in BACKFILL_SORT_FIELDS
    }
    return query, columns


def find_existing_run(session: Session, dag_id: str, logical_date: datetime) -> DagRun | None:
    """The latest run of ``dag_id`` at ``logical_date`` a backfill has to respect (a
    ``dags test`` run is not one)."""
    return session.scalar(
        _runs_at(dag_id)
        .where(DagRun.logical_date == logical_date)
        .order_by(DagRun.start_date.is_(None), DagRun.start_date.desc(), DagRun.id.desc())
        .limit(1)
    )


def _runs_at(dag_id: str) -> Any:
    return select(DagRun).where(
        DagRun.dag_id == dag_id,
        (DagRun.triggered_by.is_(None)) | (DagRun.triggered_by != TEST_TRIGGERED_BY),
    )


def backfill_progress(session: Session, backfill: Backfill) -> BackfillProgress:
    """Count ``backfill``'s logical dates by what happened there (see
    :class:`BackfillProgress`)."""
    own = {
        run.logical_date: run.state
        for run in session.scalars(select(DagRun).where(DagRun.backfill_id == backfill.id))
    }
    try:
        dag = load_serialized_dag(session, backfill.dag_id)
    except DownwindException:  # no stored version left: count what it has
        return BackfillProgress(backfill, len(own), dict(Counter(own.values())))
    cursor = max(own) if own else None
    finished = backfill.completed_at is not None
    unreached = "cancelled" if backfill.state == "cancelled" else "pending"
    counts: Counter[str] = Counter()
    total = 0
    for interval in backfill_intervals(
        dag, backfill.from_date, backfill.to_date, horizon=backfill.created_at
    ):
        total += 1
        state = own.get(interval.start)
        if state is not None:
            counts[state] += 1
        elif (cursor is not None and interval.start < cursor) or (
            finished and unreached == "pending"  # done: it had nothing to do there
        ):
            counts["skipped"] += 1
        else:
            counts[unreached] += 1
    return BackfillProgress(backfill, total, dict(counts))


# -- creating ------------------------------------------------------------------------


def _check_reprocess(reprocess_behavior: str) -> None:
    if reprocess_behavior not in REPROCESS_BEHAVIORS:
        close = difflib.get_close_matches(reprocess_behavior, REPROCESS_BEHAVIORS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise InvalidInput(
            f"invalid reprocess behavior {reprocess_behavior!r}: expected one of "
            f"{', '.join(REPROCESS_BEHAVIORS)}{hint}"
        )


def _periodic_dag(session: Session, dag_id: str) -> SerializedDAG:
    dag = load_serialized_dag(session, dag_id)
    if not dag.timetable.periodic:
        raise InvalidInput(
            f"DAG '{dag_id}' has schedule {dag.timetable.summary}: it has no data intervals to "
            f"backfill. Trigger runs of it instead (downwind dags trigger {dag_id} "
            "--logical-date DATE)"
        )
    return dag


def create_backfill(
    session: Session,
    dag_id: str,
    *,
    from_date: datetime,
    to_date: datetime,
    reprocess_behavior: str = "none",
    max_active_runs: int = DEFAULT_MAX_ACTIVE_RUNS,
    conf: Any = None,
    dry_run: bool = False,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> BackfillPlan:
    """Record a backfill of ``dag_id`` (a user action, audited as ``backfill.create``) and
    return it with its plan: each logical date and what the backfill does there, judged
    against the runs that exist now. With ``dry_run`` nothing is recorded.

    Naive dates are in the DAG's time zone. The scheduler creates the runs; none is made
    here. Raises :class:`~downwind.exceptions.DagNotFound` (unknown or inactive DAG),
    :class:`~downwind.services.errors.InvalidInput` (start after end, a bad reprocess
    behaviour or ``max_active_runs``, a DAG without a periodic schedule, a range holding
    no complete data interval), :class:`~downwind.exceptions.ParamValidationError` (conf)
    and :class:`BackfillAlreadyRunning` when the DAG has an unfinished backfill.
    """
    get_dag_model(session, dag_id, active=True)
    _check_reprocess(reprocess_behavior)
    if isinstance(max_active_runs, bool) or not isinstance(max_active_runs, int):
        raise InvalidInput(f"max_active_runs must be a whole number, got {max_active_runs!r}")
    if max_active_runs < 1:
        raise InvalidInput(f"max_active_runs must be 1 or more, got {max_active_runs}")
    dag = _periodic_dag(session, dag_id)
    start, end = to_aware(from_date, dag.timezone), to_aware(to_date, dag.timezone)
    assert start is not None and end is not None
    if start > end:
        raise InvalidInput(
            f"the start date {start.isoformat()} is after the end date {end.isoformat()}"
        )
    checked_conf = validate_conf(dag, conf) if conf is not None else None
    intervals = list(backfill_intervals(dag, start, end, horizon=now))
    if not intervals:
        raise InvalidInput(
            f"no complete data interval of DAG '{dag_id}' (schedule {dag.timetable.summary}) "
            f"has a logical date from {start.isoformat()} to {end.isoformat()}: a backfill "
            "runs past intervals only"
        )
    if not dry_run:
        _refuse_second_backfill(session, dag_id)
    plan = []
    for interval in intervals:
        existing = find_existing_run(session, dag_id, interval.start)
        plan.append(
            PlannedRun(
                logical_date=interval.start,
                data_interval=interval,
                action=action_for(existing.state if existing else None, reprocess_behavior),
                existing_run_id=existing.run_id if existing else None,
                existing_state=existing.state if existing else None,
            )
        )
    if dry_run:
        return BackfillPlan(None, plan)
    backfill = Backfill(
        dag_id=dag_id,
        from_date=start,
        to_date=end,
        dag_run_conf=checked_conf,
        reprocess_behavior=reprocess_behavior,
        max_active_runs=max_active_runs,
        is_paused=False,
        state="queued",
        created_at=now,
        updated_at=now,
    )
    session.add(backfill)
    session.flush()
    record_action(
        session,
        "backfill.create",
        owner=owner,
        now=now,
        dag_id=dag_id,
        extra={
            "backfill_id": backfill.id,
            "from_date": start.isoformat(),
            "to_date": end.isoformat(),
            "reprocess_behavior": reprocess_behavior,
            "max_active_runs": max_active_runs,
            "conf": checked_conf,
            **(extra or {}),
        },
    )
    return BackfillPlan(backfill, plan)


def _refuse_second_backfill(session: Session, dag_id: str) -> None:
    running = session.scalar(
        select(Backfill)
        .where(Backfill.dag_id == dag_id, Backfill.completed_at.is_(None))
        .order_by(Backfill.id)
        .limit(1)
    )
    if running is not None:
        raise BackfillAlreadyRunning(
            f"DAG '{dag_id}' already has backfill {running.id} ({running.state}, "
            f"{running.from_date.isoformat()} to {running.to_date.isoformat()}); one backfill "
            f"per DAG runs at a time: wait for it, or cancel it (downwind backfills cancel "
            f"{running.id})"
        )


# -- acting at one logical date (used by the scheduler) ------------------------------


def perform_action(
    session: Session,
    backfill: Backfill,
    dag: SerializedDAG,
    interval: DataInterval,
    existing: DagRun | None,
    *,
    now: datetime,
) -> DagRun | None:
    """Do what ``backfill`` does at ``interval`` given the run ``existing`` there: return
    the run it created or cleared and now owns, or ``None`` when it leaves the date alone."""
    action = action_for(existing.state if existing else None, backfill.reprocess_behavior)
    if action == CREATE:
        return create_dag_run(
            session,
            backfill.dag_id,
            run_type="backfill",
            logical_date=interval.start,
            data_interval=interval,
            conf=backfill.dag_run_conf,
            triggered_by="backfill",
            now=now,
            backfill_id=backfill.id,
        )
    if action not in (RERUN, RERUN_FAILED) or existing is None:
        return None
    cleared = []
    if action == RERUN_FAILED:
        cleared = clear_task_instances(
            session, backfill.dag_id, run_ids=[existing.run_id], only_failed=True, now=now
        )
    if not cleared:  # RERUN, or a failed run without failed tasks (e.g. marked failed)
        clear_task_instances(session, backfill.dag_id, run_ids=[existing.run_id], now=now)
    existing.backfill_id = backfill.id
    if backfill.dag_run_conf is not None:
        existing.conf = dict(backfill.dag_run_conf)
    return existing


def active_run_count(session: Session, backfill: Backfill) -> int:
    """How many runs of ``backfill`` are queued or running."""
    return session.scalar(
        select(func.count())
        .select_from(DagRun)
        .where(DagRun.backfill_id == backfill.id, DagRun.state.in_(_ACTIVE_RUN_STATES))
    )


# -- pausing and cancelling ----------------------------------------------------------


def _unfinished(backfill: Backfill, verb: str) -> None:
    if backfill.state in _UNFINISHED and backfill.completed_at is None:
        return
    if backfill.state == "cancelled":
        what = "cancelled" if backfill.completed_at else "cancelled (its running runs finish)"
    else:
        what = f"already {backfill.state}"
    raise IllegalStateTransition(
        f"cannot {verb} backfill {backfill.id} of DAG '{backfill.dag_id}': it is {what}"
    )


def set_backfill_paused(
    session: Session,
    backfill_id: int,
    paused: bool,
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Backfill:
    """Pause (no new run of it is created or started; running ones finish) or unpause a
    backfill; audited as ``backfill.pause`` / ``backfill.unpause``. Refused for a
    finished or cancelled backfill."""
    backfill = _locked(session, backfill_id)
    _unfinished(backfill, "pause" if paused else "unpause")
    backfill.is_paused = paused
    backfill.updated_at = now
    record_action(
        session,
        "backfill.pause" if paused else "backfill.unpause",
        owner=owner,
        now=now,
        dag_id=backfill.dag_id,
        extra={"backfill_id": backfill.id, **(extra or {})},
    )
    return backfill


def cancel_backfill(
    session: Session,
    backfill_id: int,
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Backfill:
    """Cancel a backfill (audited as ``backfill.cancel``): no new run of it is created or
    started; the scheduler marks its queued runs failed on its next pass and lets its
    running runs finish. It is ``completed_at`` once none of its runs is queued or
    running (at once if none is). Refused for a finished backfill.

    The runs themselves are left to the scheduler, so that a cancel never races with the
    scheduler starting one of them."""
    backfill = _locked(session, backfill_id)
    _unfinished(backfill, "cancel")
    backfill.state = "cancelled"
    backfill.is_paused = True
    backfill.updated_at = now
    if active_run_count(session, backfill) == 0:
        backfill.completed_at = now
    record_action(
        session,
        "backfill.cancel",
        owner=owner,
        now=now,
        dag_id=backfill.dag_id,
        extra={"backfill_id": backfill.id, **(extra or {})},
    )
    return backfill


def _locked(session: Session, backfill_id: int) -> Backfill:
    backfill = session.scalar(select(Backfill).where(Backfill.id == backfill_id).with_for_update())
    if backfill is None:
        return get_backfill(session, backfill_id)  # raises
    return backfill
