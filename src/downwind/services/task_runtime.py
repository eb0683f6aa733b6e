"""The supervisor side of the runtime client, backed by the metastore.

Executors call these methods (on the scheduler's thread) when a task try reports
its state, pushes or pulls XComs, or asks for variables and connections. Every state
change goes through the transition guard of :mod:`downwind.states`.

What needs no answer (a try's end, heartbeats, XComs pushed, rendered fields, skips) is
kept until :meth:`DbRuntimeHandler.flush`, which the scheduler calls before each of its
passes: the messages of many tries land in one transaction. A call that answers applies
what is pending first (in its own transaction), so a try always sees what was said
before.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker
from sqlalchemy.sql.expression import Executable

from downwind.exceptions import ConnectionNotFound, DownwindException
from downwind.metastore.engine import write_transaction
from downwind.metastore.models import (
    DagRun,
    TaskInstance,
    XComModel,
)
from downwind.metastore.types import utcnow
from downwind.runtime.client import DagRunInfo, StartInfo, TaskInstanceKey, TaskOutcome
from downwind.runtime.connection import connection_from_env
from downwind.runtime.variables import variable_from_env
from downwind.scheduling.retry import next_retry_at
from downwind.services.connections import get_connection
from downwind.services.dag_registry import load_serialized_dag
from downwind.services.variables import get_variable, set_variable_value
from downwind.states import Actor, DagRunState, TaskInstanceState, check_task_transition

TI = TaskInstanceState
log = logging.getLogger("downwind.executor")


class TaskNotRunnable(DownwindException):
    """The task instance may not start this try (cleared, marked or re-queued meanwhile)."""


class DbRuntimeHandler:
    """Answers the runtime-client calls of task tries from the metastore."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = session_factory
        self._environ = os.environ if environ is None else environ
        self._clock = clock
        #: what tries said that needs no answer, applied together by :meth:`flush`
        self._pending: list[tuple[str, TaskInstanceKey, Callable[[Session], None]]] = []

    # -- batching ---------------------------------------------------------------------

    def flush(self) -> None:
        """Apply what tries said since the last flush (ends, heartbeats, XComs, rendered
        fields...) in one transaction. The executor calls it before it returns events,
        and the calls that answer (or read) flush first, so every effect is in order."""
        if self._pending:
            with self._transaction():
                pass

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A write transaction that first applies the pending messages."""
        pending, self._pending = self._pending, []
        if pending:
            try:
                with write_transaction(self._sessions) as session:
                    for _, _, apply in pending:
                        apply(session)
            except Exception:
                # One of them is refused (e.g. an illegal transition): apply each in its
                # own transaction, so that the others still land, and log the refused.
                for op, key, apply in pending:
                    try:
                        with write_transaction(self._sessions) as session:
                            apply(session)
                    except Exception:
                        log.exception("cannot apply %s from %s", op, _describe(key))
        with write_transaction(self._sessions) as session:
            yield session

    def _later(self, op: str, key: TaskInstanceKey, apply: Callable[[Session], None]) -> None:
        self._pending.append((op, key, apply))

    # -- lifecycle --------------------------------------------------------------------

    def start(self, key: TaskInstanceKey, try_number: int, pid: int, hostname: str) -> StartInfo:
        check_task_transition(TI.QUEUED, TI.RUNNING, Actor.RUNNER)
        with self._transaction() as session:
            db = session.connection()
            params = _key_params(key)
            started = db.execute(
                _START,
                {
                    **params,
                    "b_try": try_number,
                    "b_hostname": hostname,
                    "b_pid": pid,
                    "now": self._clock(),
                },
            ).first()
            if started is None:
                found = db.execute(_TRY_OF, params).first()
                if found is None:
                    raise TaskNotRunnable(f"{_describe(key)} does not exist (the run was deleted?)")
                raise TaskNotRunnable(
                    f"{_describe(key)} is {found.state or 'none'} at try {found.try_number}, "
                    f"not queued for try {try_number}: this try does not run"
                )
            if try_number > 1:  # an earlier try's values must not leak into this one
                db.execute(_DELETE_XCOMS, params)
            run = db.execute(_RUN_INFO, params).first()
            if run is None:
                raise TaskNotRunnable(f"run {key.run_id} of DAG {key.dag_id} does not exist")
            info = _dag_run_info(run)
            return StartInfo(info, try_number, started.max_tries)

    def heartbeat(self, key: TaskInstanceKey) -> None:
        params = {**_key_params(key), "now": self._clock(), "running": TI.RUNNING.value}
        self._later("heartbeat", key, lambda session: _execute(session, _HEARTBEAT, params))

    def finish(self, key: TaskInstanceKey, outcome: TaskOutcome) -> None:
        state, at = TI(outcome.state), outcome.reschedule_at
        self._later(
            "finish", key, lambda session: self._end_try(session, key, state, Actor.RUNNER, at)
        )

    def crashed(self, key: TaskInstanceKey, reason: str) -> None:
        """The try's process vanished: retry it while tries remain, else fail it."""
        with self._transaction() as session:
            found = session.connection().execute(_TRY_OF, _key_params(key)).first()
            if found is None or found.state not in (TI.RUNNING, TI.QUEUED):
                return  # it finished (or was cleared) before the crash was noticed
            new = TI.UP_FOR_RETRY if found.try_number <= found.max_tries else TI.FAILED
            self._end_try(session, key, new, Actor.SCHEDULER, None)

    def _end_try(
        self,
        session: Session,
        key: TaskInstanceKey,
        new: TaskInstanceState,
        actor: Actor,
        reschedule_at: datetime | None,
    ) -> None:
        db = session.connection()
        found = db.execute(_TRY_OF, _key_params(key)).first()
        if found is None:
            raise TaskNotRunnable(f"{_describe(key)} does not exist (the run was deleted?)")
        old = TI(found.state) if found.state is not None else None
        check_task_transition(old, new, actor)
        now = self._clock()
        params: dict[str, Any] = {
            "ti_id": found.id,
            "b_old": found.state,
            "b_state": new.value,
            "now": now,
            "b_duration": None,
            "b_next": None,
        }
        if found.start_date is not None:
            params["b_duration"] = (now - found.start_date).total_seconds()
        if new is TI.UP_FOR_RETRY:
            task = load_serialized_dag(session, key.dag_id, found.dag_version_id).get_task(
                key.task_id
            )
            params["b_next"] = next_retry_at(
                now,
                found.try_number,
                task.retry_delay,
                exponential_backoff=task.retry_exponential_backoff,
                max_retry_delay=task.max_retry_delay,
            )
        elif new is TI.UP_FOR_RESCHEDULE:
            params["b_next"] = reschedule_at or now
        db.execute(_END_TRY, params)

    # -- data -------------------------------------------------------------------------

    def push_xcom(self, key: TaskInstanceKey, xcom_key: str, value_text: str) -> None:
        now = self._clock()
        self._later(
            "push_xcom", key, lambda session: _store_xcom(session, key, xcom_key, value_text, now)
        )

    def pull_xcom(
        self,
        key: TaskInstanceKey,
        *,
        dag_id: str,
        run_id: str,
        task_id: str,
        xcom_key: str,
        map_index: int | None,
    ) -> str | None:
        self.flush()
        with self._sessions() as session:
            return session.scalar(
                select(XComModel.value).where(
                    XComModel.dag_id == dag_id,
                    XComModel.run_id == run_id,
                    XComModel.task_id == task_id,
                    XComModel.map_index == (-1 if map_index is None else map_index),
                    XComModel.key == xcom_key,
                )
            )

    def get_variable(self, key: TaskInstanceKey, name: str) -> str | None:
        value = variable_from_env(name, self._environ)
        if value is not None:
            return value
        self.flush()
        with self._sessions() as session:
            return get_variable(session, name, None)

    def set_variable(self, key: TaskInstanceKey, name: str, value: str) -> None:
        self._later("set_variable", key, lambda session: set_variable_value(session, name, value))

    def get_connection(self, key: TaskInstanceKey, conn_id: str) -> dict[str, Any] | None:
        conn = connection_from_env(conn_id, self._environ)
        if conn is not None:
            return conn.to_dict()
        self.flush()
        with self._sessions() as session:
            try:
                return get_connection(session, conn_id).to_dict()
            except ConnectionNotFound:
                return None

    def set_rendered_fields(self, key: TaskInstanceKey, fields: dict[str, str]) -> None:
        params = {**_key_params(key), "fields": fields}
        self._later(
            "set_rendered_fields", key, lambda session: _execute(session, _RENDERED_FIELDS, params)
        )

    def skip_tasks(self, key: TaskInstanceKey, task_ids: Collection[str]) -> None:
        """Skip tasks of the same run that have not started (branching, short-circuit)."""
        now = self._clock()
        self._later("skip_tasks", key, lambda session: _skip(session, key, list(task_ids), now))


def _execute(session: Session, statement: Executable, params: dict[str, Any]) -> None:
    session.connection().execute(statement, params)


def _store_xcom(
    session: Session, key: TaskInstanceKey, xcom_key: str, value_text: str, now: datetime
) -> None:
    row = session.get(XComModel, (key.dag_id, key.run_id, key.task_id, key.map_index, xcom_key))
    if row is None:
        row = XComModel(
            dag_id=key.dag_id,
            run_id=key.run_id,
            task_id=key.task_id,
            map_index=key.map_index,
            key=xcom_key,
        )
        session.add(row)
    row.value = value_text
    row.timestamp = now


def _skip(session: Session, key: TaskInstanceKey, task_ids: list[str], now: datetime) -> None:
    for ti in session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == key.dag_id,
            TaskInstance.run_id == key.run_id,
            TaskInstance.task_id.in_(task_ids),
        )
    ):
        if ti.state in (None, TI.SCHEDULED):
            old = TI(ti.state) if ti.state else None
            check_task_transition(old, TI.SKIPPED, Actor.RUNNER)
            ti.state = TI.SKIPPED
            ti.end_date = now


def _describe(key: TaskInstanceKey) -> str:
    index = "" if key.map_index == -1 else f"[{key.map_index}]"
    return f"task instance {key.dag_id}.{key.task_id}{index} of run {key.run_id}"


def _key_params(key: TaskInstanceKey) -> dict[str, Any]:
    return {
        "k_dag_id": key.dag_id,
        "k_run_id": key.run_id,
        "k_task_id": key.task_id,
        "k_map_index": key.map_index,
    }


# The statements of the hot path, built once: a try's start and end cost a few
# statements each, not an ORM load and flush.
_IS_KEY = (
    (TaskInstance.dag_id == bindparam("k_dag_id"))
    & (TaskInstance.run_id == bindparam("k_run_id"))
    & (TaskInstance.task_id == bindparam("k_task_id"))
    & (TaskInstance.map_index == bindparam("k_map_index"))
)
_TRY_OF = select(
    TaskInstance.id,
    TaskInstance.state,
    TaskInstance.try_number,
    TaskInstance.max_tries,
    TaskInstance.start_date,
    TaskInstance.dag_version_id,
).where(_IS_KEY)
_HEARTBEAT = (
    update(TaskInstance)
    .where(_IS_KEY, TaskInstance.state == bindparam("running"))
    .values(last_heartbeat_at=bindparam("now"))
)
_START = (
    update(TaskInstance)
    .where(
        _IS_KEY,
        TaskInstance.state == TI.QUEUED.value,
        TaskInstance.try_number == bindparam("b_try"),
    )
    .values(
        state=TI.RUNNING.value,
        hostname=bindparam("b_hostname"),
        pid=bindparam("b_pid"),
        start_date=bindparam("now"),
        end_date=None,
        duration=None,
        last_heartbeat_at=bindparam("now"),
    )
    .returning(TaskInstance.max_tries)
)
_END_TRY = (
    update(TaskInstance)
    .where(
        TaskInstance.id == bindparam("ti_id"),
        TaskInstance.state.is_not_distinct_from(bindparam("b_old")),
    )
    .values(
        state=bindparam("b_state"),
        end_date=bindparam("now"),
        duration=bindparam("b_duration"),
        next_retry_at=bindparam("b_next"),
    )
)
_DELETE_XCOMS = delete(XComModel).where(
    XComModel.dag_id == bindparam("k_dag_id"),
    XComModel.run_id == bindparam("k_run_id"),
    XComModel.task_id == bindparam("k_task_id"),
    XComModel.map_index == bindparam("k_map_index"),
)
_RENDERED_FIELDS = update(TaskInstance).where(_IS_KEY).values(rendered_fields=bindparam("fields"))
_PREVIOUS = aliased(DagRun)


def _previous_success(column: Any) -> Any:
    """The ``column`` of the run's latest successful predecessor, as a subquery."""
    return (
        select(column)
        .where(
            _PREVIOUS.dag_id == DagRun.dag_id,
            _PREVIOUS.state == DagRunState.SUCCESS.value,
            _PREVIOUS.logical_date < DagRun.logical_date,
        )
        .order_by(_PREVIOUS.logical_date.desc())
        .limit(1)
        .scalar_subquery()
    )


#: a run's columns for its tries, with its predecessor's interval, in one statement
_RUN_INFO = select(
    DagRun.dag_id,
    DagRun.run_id,
    DagRun.logical_date,
    DagRun.run_after,
    DagRun.data_interval_start,
    DagRun.data_interval_end,
    DagRun.run_type,
    DagRun.conf,
    DagRun.start_date,
    _previous_success(_PREVIOUS.data_interval_start).label("prev_start"),
    _previous_success(_PREVIOUS.data_interval_end).label("prev_end"),
).where(DagRun.dag_id == bindparam("k_dag_id"), DagRun.run_id == bindparam("k_run_id"))


def run_info(session: Session, run: DagRun) -> DagRunInfo:
    """What a task (or a DAG callback) is told about ``run``."""
    row = session.execute(_RUN_INFO, {"k_dag_id": run.dag_id, "k_run_id": run.run_id}).one()
    return _dag_run_info(row)


def _dag_run_info(run: Any) -> DagRunInfo:
    """:class:`DagRunInfo` of a row of :data:`_RUN_INFO`."""
    logical = run.logical_date or run.run_after
    return DagRunInfo(
        dag_id=run.dag_id,
        run_id=run.run_id,
        logical_date=logical,
        data_interval_start=run.data_interval_start or logical,
        data_interval_end=run.data_interval_end or logical,
        run_type=run.run_type,
        conf=dict(run.conf or {}),
        start_date=run.start_date,
        prev_data_interval_start_success=run.prev_start,
        prev_data_interval_end_success=run.prev_end,
    )
