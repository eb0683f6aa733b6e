"""The supervisor side of the runtime client, backed by the metastore.

Executors call these methods (on the scheduler's thread) when a task try reports
its state, pushes or pulls XComs, or asks for variables and connections. Every state
change goes through the transition guard of :mod:`downwind.states`. Each call is its
own short transaction, so what one try writes is visible to the next at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from downwind.exceptions import ConnectionNotFound, DownwindException
from downwind.metastore.engine import write_transaction
from downwind.metastore.models import (
    DagRun,
    TaskInstance,
    VariableModel,
    XComModel,
)
from downwind.metastore.types import utcnow
from downwind.runtime.client import DagRunInfo, StartInfo, TaskInstanceKey, TaskOutcome
from downwind.runtime.connection import connection_from_env
from downwind.runtime.variables import variable_from_env
from downwind.scheduling.retry import next_retry_at
from downwind.services.connections import get_connection
from downwind.services.dag_registry import load_serialized_dag
from downwind.services.variables import get_variable
from downwind.states import Actor, DagRunState, TaskInstanceState, check_task_transition

TI = TaskInstanceState


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

    # -- lifecycle --------------------------------------------------------------------

    def start(self, key: TaskInstanceKey, try_number: int, pid: int, hostname: str) -> StartInfo:
        with write_transaction(self._sessions) as session:
            ti = _task_instance(session, key, lock=True)
            if ti.state != TI.QUEUED or ti.try_number != try_number:
                raise TaskNotRunnable(
                    f"{_describe(key)} is {ti.state or 'none'} at try {ti.try_number}, "
                    f"not queued for try {try_number}: this try does not run"
                )
            check_task_transition(TI.QUEUED, TI.RUNNING, Actor.RUNNER)
            now = self._clock()
            ti.state = TI.RUNNING
            ti.hostname, ti.pid = hostname, pid
            ti.start_date, ti.end_date, ti.duration = now, None, None
            ti.last_heartbeat_at = now
            _delete_xcoms(session, key)  # an earlier try's values must not leak into this one
            run = _dag_run(session, key)
            return StartInfo(run_info(session, run), ti.try_number, ti.max_tries)

    def heartbeat(self, key: TaskInstanceKey) -> None:
        with write_transaction(self._sessions) as session:
            ti = _task_instance(session, key)
            if ti.state == TI.RUNNING:
                ti.last_heartbeat_at = self._clock()

    def finish(self, key: TaskInstanceKey, outcome: TaskOutcome) -> None:
        with write_transaction(self._sessions) as session:
            ti = _task_instance(session, key, lock=True)
            self._end_try(session, ti, TI(outcome.state), Actor.RUNNER, outcome.reschedule_at)

    def crashed(self, key: TaskInstanceKey, reason: str) -> None:
        """The try's process vanished: retry it while tries remain, else fail it."""
        with write_transaction(self._sessions) as session:
            ti = _task_instance(session, key, lock=True)
            if ti.state not in (TI.RUNNING, TI.QUEUED):
                return  # it finished (or was cleared) before the crash was noticed
            new = TI.UP_FOR_RETRY if ti.try_number <= ti.max_tries else TI.FAILED
            self._end_try(session, ti, new, Actor.SCHEDULER, None)

    def _end_try(
        self,
        session: Session,
        ti: TaskInstance,
        new: TaskInstanceState,
        actor: Actor,
        reschedule_at: datetime | None,
    ) -> None:
        old = TI(ti.state) if ti.state is not None else None
        check_task_transition(old, new, actor)
        now = self._clock()
        ti.state = new
        ti.end_date = now
        if ti.start_date is not None:
            ti.duration = (now - ti.start_date).total_seconds()
        ti.next_retry_at = None
        if new is TI.UP_FOR_RETRY:
            task = load_serialized_dag(session, ti.dag_id, ti.dag_version_id).get_task(ti.task_id)
            ti.next_retry_at = next_retry_at(
                now,
                ti.try_number,
                task.retry_delay,
                exponential_backoff=task.retry_exponential_backoff,
                max_retry_delay=task.max_retry_delay,
            )
        elif new is TI.UP_FOR_RESCHEDULE:
            ti.next_retry_at = reschedule_at or now

    # -- data -------------------------------------------------------------------------

    def push_xcom(self, key: TaskInstanceKey, xcom_key: str, value_text: str) -> None:
        with write_transaction(self._sessions) as session:
            row = session.get(
                XComModel, (key.dag_id, key.run_id, key.task_id, key.map_index, xcom_key)
            )
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
            row.timestamp = self._clock()

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
        with self._sessions() as session:
            return get_variable(session, name, None)

    def set_variable(self, key: TaskInstanceKey, name: str, value: str) -> None:
        with write_transaction(self._sessions) as session:
            row = session.scalar(select(VariableModel).where(VariableModel.key == name))
            if row is None:
                session.add(VariableModel(key=name, val=value))
            else:
                row.val = value

    def get_connection(self, key: TaskInstanceKey, conn_id: str) -> dict[str, Any] | None:
        conn = connection_from_env(conn_id, self._environ)
        if conn is not None:
            return conn.to_dict()
        with self._sessions() as session:
            try:
                return get_connection(session, conn_id).to_dict()
            except ConnectionNotFound:
                return None

    def set_rendered_fields(self, key: TaskInstanceKey, fields: dict[str, str]) -> None:
        with write_transaction(self._sessions) as session:
            _task_instance(session, key).rendered_fields = fields

    def skip_tasks(self, key: TaskInstanceKey, task_ids: Collection[str]) -> None:
        """Skip tasks of the same run that have not started (branching, short-circuit)."""
        with write_transaction(self._sessions) as session:
            for ti in session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == key.dag_id,
                    TaskInstance.run_id == key.run_id,
                    TaskInstance.task_id.in_(list(task_ids)),
                )
            ):
                if ti.state in (None, TI.SCHEDULED):
                    old = TI(ti.state) if ti.state else None
                    check_task_transition(old, TI.SKIPPED, Actor.RUNNER)
                    ti.state = TI.SKIPPED
                    ti.end_date = self._clock()


def _delete_xcoms(session: Session, key: TaskInstanceKey) -> None:
    session.execute(
        delete(XComModel).where(
            XComModel.dag_id == key.dag_id,
            XComModel.run_id == key.run_id,
            XComModel.task_id == key.task_id,
            XComModel.map_index == key.map_index,
        )
    )


def _describe(key: TaskInstanceKey) -> str:
    index = "" if key.map_index == -1 else f"[{key.map_index}]"
    return f"task instance {key.dag_id}.{key.task_id}{index} of run {key.run_id}"


def _task_instance(session: Session, key: TaskInstanceKey, *, lock: bool = False) -> TaskInstance:
    query = select(TaskInstance).where(
        TaskInstance.dag_id == key.dag_id,
        TaskInstance.run_id == key.run_id,
        TaskInstance.task_id == key.task_id,
        TaskInstance.map_index == key.map_index,
    )
    if lock:
        query = query.with_for_update()
    ti = session.scalar(query)
    if ti is None:
        raise TaskNotRunnable(f"{_describe(key)} does not exist (the run was deleted?)")
    return ti


def _dag_run(session: Session, key: TaskInstanceKey) -> DagRun:
    run = session.scalar(
        select(DagRun).where(DagRun.dag_id == key.dag_id, DagRun.run_id == key.run_id)
    )
    if run is None:
        raise TaskNotRunnable(f"run {key.run_id} of DAG {key.dag_id} does not exist")
    return run


def run_info(session: Session, run: DagRun) -> DagRunInfo:
    """What a task (or a DAG callback) is told about ``run``."""
    previous = None
    if run.logical_date is not None:
        previous = session.scalar(
            select(DagRun)
            .where(
                DagRun.dag_id == run.dag_id,
                DagRun.state == DagRunState.SUCCESS,
                DagRun.logical_date < run.logical_date,
            )
            .order_by(DagRun.logical_date.desc())
            .limit(1)
        )
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
        prev_data_interval_start_success=previous.data_interval_start if previous else None,
        prev_data_interval_end_success=previous.data_interval_end if previous else None,
    )
