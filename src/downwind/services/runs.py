"""DAG runs: create one (scheduler, backfill, trigger), list them, mark them, delete one.

A new run records the DAG version it runs and gets one task instance per task of that
version, with no state yet; the scheduler takes it from there.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from downwind.exceptions import DagNotFound, IllegalStateTransition
from downwind.metastore.models import DagRun, DagVersion, TaskInstance
from downwind.metastore.models.base import ID_LEN
from downwind.metastore.models.dag_run import RUN_TYPES
from downwind.runtime import serde
from downwind.sdk.serialization import SerializedDAG
from downwind.services.audit import record_action
from downwind.services.dag_registry import latest_version, load_serialized_dag
from downwind.services.dags import dag_timezone, get_dag_model, to_aware
from downwind.services.errors import (
    DagRunAlreadyExists,
    DagRunInUse,
    DagRunNotFound,
    InvalidInput,
)
from downwind.services.listing import matches_pattern, matches_prefix
from downwind.states import (
    DAG_RUN_FINISHED,
    TASK_ACTIVE,
    TASK_FINISHED,
    Actor,
    DagRunState,
    TaskInstanceState,
    check_dag_run_transition,
    check_task_transition,
)
from downwind.timetables.base import DataInterval

__all__ = [
    "DAG_RUN_SORT_FIELDS",
    "RUN_ID_PATTERN",
    "DagRunFilters",
    "Range",
    "create_dag_run",
    "default_run_id",
    "delete_dag_run",
    "get_dag_run",
    "list_dag_runs",
    "parse_run_states",
    "parse_run_types",
    "select_dag_runs",
    "set_dag_run_queued",
    "set_dag_run_state",
    "trigger_dag_run",
    "validate_conf",
    "versions_by_id",
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
    data_interval: tuple[datetime, datetime] | None = None,
    run_after: datetime | None = None,
    extra: Mapping[str, Any] | None = None,
) -> DagRun:
    """Create a manual run of ``dag_id`` (a user action, audited as ``trigger``, with
    ``extra`` added to the audit entry, e.g. the client's address).

    ``logical_date`` defaults to ``run_after``, else ``now``; a naive one is in the DAG's
    time zone. The data interval is ``data_interval`` (start, end) when given, else the one
    the DAG's schedule infers for a manual run at that date; ``run_after`` (when the run
    may start) defaults to ``now``. The conf is checked by :func:`validate_conf`. A paused
    DAG gets its run too; the scheduler starts it once the DAG is unpaused. Raises
    :class:`~downwind.exceptions.DagNotFound` for an unknown or inactive DAG.
    """
    get_dag_model(session, dag_id, active=True)
    dag = load_serialized_dag(session, dag_id)
    checked = validate_conf(dag, conf)
    try:
        logical, interval, run_after = _manual_dates(
            dag, logical_date, data_interval, run_after, now
        )
    except OverflowError:
        raise InvalidInput(
            "the run's dates are out of range: its logical date, data interval and run_after "
            "(in UTC, and the data interval the schedule infers) must lie in the years 1 to "
            "9999"
        ) from None
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
        run_after=run_after,
    )
    record_action(
        session,
        "trigger",
        owner=owner,
        now=now,
        dag_id=dag_id,
        run_id=run.run_id,
        logical_date=logical,
        extra={"conf": checked, "triggered_by": triggered_by, **(extra or {})},
    )
    return run


def _manual_dates(
    dag: SerializedDAG,
    logical_date: datetime | None,
    data_interval: tuple[datetime, datetime] | None,
    run_after: datetime | None,
    now: datetime,
) -> tuple[datetime, DataInterval, datetime | None]:
    """The logical date, data interval and ``run_after`` of a manual run (see
    :func:`trigger_dag_run`); raises ``OverflowError`` for dates beyond year 9999."""
    run_after = to_aware(run_after, dag.timezone)
    logical = to_aware(logical_date, dag.timezone) or run_after or now
    if data_interval is None:
        return logical, dag.timetable.infer_manual_data_interval(logical), run_after
    start, end = (to_aware(value, dag.timezone) for value in data_interval)
    assert start is not None and end is not None
    if start > end:
        raise InvalidInput(
            f"data_interval_start ({start.isoformat()}) is after data_interval_end "
            f"({end.isoformat()})"
        )
    return logical, DataInterval(start, end), run_after


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
    extra: Mapping[str, Any] | None = None,
) -> DagRun:
    """Mark a run ``success`` or ``failed`` (a user action, audited as
    ``dag_run.mark_<state>``, with ``extra`` added to the audit entry).

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
    old = run.state
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
    run.state = new.value
    run.end_date = now
    _record_mark(session, run, new, old, now=now, owner=owner, extra=extra)
    return run


def set_dag_run_queued(
    session: Session,
    dag_id: str,
    run_id: str,
    *,
    now: datetime,
    owner: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> DagRun:
    """Put a run back to ``queued`` (Airflow's "mark queued"; audited as
    ``dag_run.mark_queued``): the scheduler looks at it again. Its task instances are
    left as they are: clear them to run them again."""
    run = get_dag_run(session, dag_id, run_id)
    check_dag_run_transition(run.state, DagRunState.QUEUED, Actor.USER)
    old = run.state
    if old != DagRunState.QUEUED:
        run.state = DagRunState.QUEUED.value
        run.start_date = None
        run.end_date = None
        run.queued_at = now
        run.last_scheduling_decision = None
        run.updated_at = now
    _record_mark(session, run, DagRunState.QUEUED, old, now=now, owner=owner, extra=extra)
    return run


def _record_mark(
    session: Session,
    run: DagRun,
    new: DagRunState,
    old: str,
    *,
    now: datetime,
    owner: str | None,
    extra: Mapping[str, Any] | None,
) -> None:
    record_action(
        session,
        f"dag_run.mark_{new}",
        owner=owner,
        now=now,
        dag_id=run.dag_id,
        run_id=run.run_id,
        logical_date=run.logical_date,
        extra={"state": new.value, "previous_state": old, **(extra or {})},
    )


def delete_dag_run(
    session: Session,
    dag_id: str,
    run_id: str,
    *,
    now: datetime,
    owner: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Delete a run with its task instances, their tries and XComs (audited as
    ``dag_run.delete``). Refused with :class:`~downwind.services.errors.DagRunInUse` while
    one of its task instances is queued or running."""
    run = get_dag_run(session, dag_id, run_id)
    busy = sorted(
        session.scalars(
            select(TaskInstance.task_id).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.state.in_([state.value for state in TASK_ACTIVE]),
            )
        )
    )
    if busy:
        raise DagRunInUse(
            f"cannot delete run '{run_id}' of DAG '{dag_id}': task(s) {', '.join(busy)} "
            "queued or running; wait for them to finish (or mark the run) first"
        )
    logical_date = run.logical_date
    session.flush()
    session.execute(delete(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    for row in list(session.identity_map.values()):  # the database cascaded the delete
        if getattr(row, "dag_id", None) == dag_id and getattr(row, "run_id", None) == run_id:
            session.expunge(row)
    record_action(
        session,
        "dag_run.delete",
        owner=owner,
        now=now,
        dag_id=dag_id,
        run_id=run_id,
        logical_date=logical_date,
        extra=dict(extra or {}),
    )


# -- listing and filtering ----------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """Bounds on a column (``None``: no bound); a naive datetime bound is in UTC."""

    gte: Any = None
    gt: Any = None
    lte: Any = None
    lt: Any = None

    def clauses(self, column: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        """The SQL conditions of the bounds that are set."""
        bounds = (
            (self.gte, column.__ge__),
            (self.gt, column.__gt__),
            (self.lte, column.__le__),
            (self.lt, column.__lt__),
        )
        return [compare(_utc(value)) for value, compare in bounds if value is not None]


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        try:
            return to_aware(value, UTC)
        except OverflowError:
            raise InvalidInput(
                f"{value.isoformat()} is out of range: in UTC it falls outside the years 1 to 9999"
            ) from None
    return value


#: Apache Airflow's run types: those downwind does not create match no run
AIRFLOW_RUN_TYPES = (
    *RUN_TYPES,
    "operator_triggered",
    "asset_triggered",
    "asset_materialization",
)


def parse_run_states(values: Collection[str]) -> list[str]:
    """``values`` checked as DAG run states; raises
    :class:`~downwind.services.errors.InvalidInput` naming the valid ones."""
    valid = [state.value for state in DagRunState]
    for value in values:
        if value not in valid:
            raise InvalidInput(
                f"Invalid value for state: {value!r}. Valid values are {', '.join(valid)}"
            )
    return list(values)


def parse_run_types(values: Collection[str]) -> list[str]:
    """``values`` checked as run types (Airflow's, of which downwind creates
    ``scheduled``, ``manual`` and ``backfill``)."""
    for value in values:
        if value not in AIRFLOW_RUN_TYPES:
            raise InvalidInput(
                f"Invalid value for run type: {value!r}. Valid values are "
                f"{', '.join(AIRFLOW_RUN_TYPES)}"
            )
    return list(values)


@dataclass(frozen=True)
class DagRunFilters:
    """The filters of a run listing; an empty or ``None`` filter does not filter.

    ``ranges`` bound the columns ``logical_date``, ``run_after``, ``start_date``,
    ``end_date``, ``updated_at`` and ``duration`` (seconds); patterns follow
    :mod:`downwind.services.listing`.
    """

    dag_ids: Sequence[str] = ()
    states: Sequence[str] = ()
    run_types: Sequence[str] = ()
    ranges: Mapping[str, Range] = field(default_factory=dict)
    run_id_pattern: str | None = None
    run_id_prefix_pattern: str | None = None
    dag_id_pattern: str | None = None
    dag_id_prefix_pattern: str | None = None
    #: a substring of the run's conf as JSON text
    conf_contains: str | None = None
    #: versions (numbers) of the DAG the runs run
    version_numbers: Sequence[int] = ()


#: the fields a run listing may be sorted by (Airflow's names)
DAG_RUN_SORT_FIELDS = (
    "id",
    "state",
    "dag_id",
    "run_id",
    "dag_run_id",
    "logical_date",
    "run_after",
    "start_date",
    "end_date",
    "updated_at",
    "conf",
    "duration",
)


def duration_seconds(session: Session, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in seconds, in the SQL of the session's database."""
    if session.get_bind().dialect.name == "sqlite":
        # julianday() is precise to about a millisecond: round off the float noise
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)
    return func.extract("epoch", end - start)


def select_dag_runs(
    session: Session, filters: DagRunFilters
) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The runs matching ``filters`` and the columns of :data:`DAG_RUN_SORT_FIELDS`."""
    duration = duration_seconds(session, DagRun.start_date, DagRun.end_date)
    columns: dict[str, ColumnElement[Any]] = {
        "id": DagRun.id,
        "state": DagRun.state,
        "dag_id": DagRun.dag_id,
        "run_id": DagRun.run_id,
        "dag_run_id": DagRun.run_id,
        "logical_date": DagRun.logical_date,
        "run_after": DagRun.run_after,
        "start_date": DagRun.start_date,
        "end_date": DagRun.end_date,
        "updated_at": DagRun.updated_at,
        "conf": cast(DagRun.conf, Text),
        "duration": duration,
    }
    query = select(DagRun)
    if filters.dag_ids:
        query = query.where(DagRun.dag_id.in_(list(filters.dag_ids)))
    if filters.states:
        query = query.where(DagRun.state.in_(parse_run_states(filters.states)))
    if filters.run_types:
        query = query.where(DagRun.run_type.in_(parse_run_types(filters.run_types)))
    for name, bounds in filters.ranges.items():
        query = query.where(*bounds.clauses(columns[name]))
    patterns = (
        matches_pattern(DagRun.run_id, filters.run_id_pattern),
        matches_prefix(DagRun.run_id, filters.run_id_prefix_pattern),
        matches_pattern(DagRun.dag_id, filters.dag_id_pattern),
        matches_prefix(DagRun.dag_id, filters.dag_id_prefix_pattern),
    )
    for clause in patterns:
        if clause is not None:
            query = query.where(clause)
    if filters.conf_contains:
        query = query.where(columns["conf"].contains(filters.conf_contains, autoescape=True))
    if filters.version_numbers:
        query = query.join(DagVersion, DagVersion.id == DagRun.dag_version_id).where(
            DagVersion.version_number.in_(list(filters.version_numbers))
        )
    return query, columns


def versions_by_id(session: Session, version_ids: Collection[int | None]) -> dict[int, DagVersion]:
    """The stored DAG versions of ``version_ids`` (``None`` and deleted ones left out)."""
    wanted = {version_id for version_id in version_ids if version_id is not None}
    if not wanted:
        return {}
    rows = session.scalars(select(DagVersion).where(DagVersion.id.in_(wanted)))
    return {row.id: row for row in rows}
