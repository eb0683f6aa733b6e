"""The metastore side of the runtime client: what executors call while tries run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from metastore_dags import NOW, etl_dag, register, scheduled_run
from sqlalchemy import select

from downwind.metastore.engine import get_engine, session_factory
from downwind.metastore.migrate import upgrade
from downwind.metastore.models import TaskInstance, VariableModel
from downwind.runtime.client import TaskInstanceKey, TaskOutcome
from downwind.services.connections import add_connection, build_connection
from downwind.services.task_runtime import DbRuntimeHandler, TaskNotRunnable
from downwind.states import IllegalStateTransition, TaskInstanceState

pytestmark = pytest.mark.usefixtures("db_home")


@pytest.fixture
def sessions():
    upgrade(get_engine())
    return session_factory(get_engine())


@pytest.fixture
def run_id(sessions) -> str:
    with sessions.begin() as session:
        register(session, etl_dag())
        return scheduled_run(session, "etl", 1).run_id


def _queue(sessions, run_id: str, task_id: str) -> TaskInstanceKey:
    with sessions.begin() as session:
        ti = session.scalar(
            select(TaskInstance).where(
                TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
            )
        )
        ti.state = TaskInstanceState.QUEUED.value
        ti.try_number += 1
        return ti.key


def _ti(sessions, key: TaskInstanceKey) -> TaskInstance:
    with sessions() as session:
        return session.scalar(
            select(TaskInstance).where(
                TaskInstance.run_id == key.run_id, TaskInstance.task_id == key.task_id
            )
        )


def test_start_runs_a_queued_try_and_refuses_anything_else(sessions, run_id):
    handler = DbRuntimeHandler(sessions, environ={}, clock=lambda: NOW)
    key = _queue(sessions, run_id, "extract")
    info = handler.start(key, 1, pid=4242, hostname="box")
    assert (info.try_number, info.max_tries, info.run.run_id) == (1, 2, run_id)
    ti = _ti(sessions, key)
    assert (ti.state, ti.pid, ti.hostname, ti.start_date) == ("running", 4242, "box", NOW)
    with pytest.raises(TaskNotRunnable, match="is running at try 1, not queued for try 1"):
        handler.start(key, 1, pid=1, hostname="box")
    other = TaskInstanceKey("etl", run_id, "transform")
    with pytest.raises(TaskNotRunnable, match="not queued"):
        handler.start(other, 1, pid=1, hostname="box")


def test_a_failed_try_with_tries_left_waits_its_retry_delay(sessions, run_id):
    handler = DbRuntimeHandler(sessions, environ={}, clock=lambda: NOW)
    key = _queue(sessions, run_id, "extract")
    handler.start(key, 1, pid=1, hostname="box")
    handler.finish(key, TaskOutcome(TaskInstanceState.UP_FOR_RETRY, error="boom"))
    ti = _ti(sessions, key)
    assert ti.state == "up_for_retry"
    assert ti.next_retry_at == NOW + timedelta(seconds=300)  # the default retry_delay
    with pytest.raises(IllegalStateTransition):
        handler.finish(key, TaskOutcome(TaskInstanceState.SUCCESS))


def test_a_crashed_try_is_retried_while_tries_remain_then_failed(sessions, run_id):
    handler = DbRuntimeHandler(sessions, environ={}, clock=lambda: NOW)
    key = _queue(sessions, run_id, "report")  # no retries
    handler.start(key, 1, pid=1, hostname="box")
    handler.crashed(key, "killed by signal 9 (SIGKILL)")
    assert _ti(sessions, key).state == "failed"
    key = _queue(sessions, run_id, "extract")  # 2 retries
    handler.start(key, 1, pid=1, hostname="box")
    handler.crashed(key, "killed by signal 9 (SIGKILL)")
    assert _ti(sessions, key).state == "up_for_retry"
    handler.crashed(key, "reported twice")  # no longer running: ignored
    assert _ti(sessions, key).state == "up_for_retry"


def test_xcoms_variables_and_connections(sessions, run_id):
    handler = DbRuntimeHandler(
        sessions, environ={"DOWNWIND_VAR_FROM_ENV": "env wins"}, clock=lambda: NOW
    )
    key = _queue(sessions, run_id, "extract")
    handler.start(key, 1, pid=1, hostname="box")
    handler.push_xcom(key, "return_value", '"rows"')
    handler.push_xcom(key, "return_value", '"rows again"')  # replaced, not duplicated
    assert (
        handler.pull_xcom(
            key,
            dag_id="etl",
            run_id=run_id,
            task_id="extract",
            xcom_key="return_value",
            map_index=None,
        )
        == '"rows again"'
    )
    assert (
        handler.pull_xcom(
            key,
            dag_id="etl",
            run_id=run_id,
            task_id="load",
            xcom_key="return_value",
            map_index=None,
        )
        is None
    )
    with sessions.begin() as session:
        session.add(VariableModel(key="from_env", val="db loses"))
        session.add(VariableModel(key="from_db", val="db value"))
        add_connection(
            session, build_connection("warehouse", uri="postgresql://u:secret@db:5432/dw"), now=NOW
        )
    assert handler.get_variable(key, "from_env") == "env wins"
    assert handler.get_variable(key, "from_db") == "db value"
    assert handler.get_variable(key, "missing") is None
    handler.set_variable(key, "from_task", "set by a task")
    assert handler.get_variable(key, "from_task") == "set by a task"
    conn = handler.get_connection(key, "warehouse")
    assert (conn["host"], conn["password"], conn["port"]) == ("db", "secret", 5432)
    assert handler.get_connection(key, "nope") is None


def test_skip_tasks_skips_only_what_has_not_started(sessions, run_id):
    handler = DbRuntimeHandler(sessions, environ={}, clock=lambda: NOW)
    key = _queue(sessions, run_id, "extract")
    handler.start(key, 1, pid=1, hostname="box")
    running = _queue(sessions, run_id, "report")
    handler.start(running, 1, pid=2, hostname="box")
    handler.skip_tasks(key, ["transform", "report"])
    assert _ti(sessions, TaskInstanceKey("etl", run_id, "transform")).state == "skipped"
    assert _ti(sessions, running).state == "running"
