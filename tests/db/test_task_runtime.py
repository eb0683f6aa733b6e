"""The metastore side of the runtime client: what executors call while tries run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from metastore_dags import NOW, etl_dag, register, scheduled_run
from sqlalchemy import select

from downwind.metastore.engine import get_engine, session_factory
from downwind.metastore.migrate import upgrade
from downwind.metastore.models import DagRun, TaskInstance, VariableModel
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
    handler.flush()
    ti = _ti(sessions, key)
    assert ti.state == "up_for_retry"
    assert ti.next_retry_at == NOW + timedelta(seconds=300)  # the default retry_delay


def test_ends_are_applied_together_at_flush_and_a_refused_one_spares_the_others(
    sessions, run_id, caplog
):
    handler = DbRuntimeHandler(sessions, environ={}, clock=lambda: NOW)
    first, second = _queue(sessions, run_id, "extract"), _queue(sessions, run_id, "report")
    handler.start(first, 1, pid=1, hostname="box")
    handler.start(second, 1, pid=2, hostname="box")
    later = NOW + timedelta(seconds=30)
    beating = DbRuntimeHandler(sessions, environ={}, clock=lambda: later)
    beating.heartbeat(second)
    assert _ti(sessions, second).last_heartbeat_at == NOW  # kept until the flush
    beating.flush()
    assert _ti(sessions, second).last_heartbeat_at == later
    handler.finish(first, TaskOutcome(TaskInstanceState.SUCCESS))
    handler.finish(first, TaskOutcome(TaskInstanceState.FAILED))  # success -> failed: illegal
    handler.set_rendered_fields(second, {"bash_command": "echo hi"})
    handler.finish(second, TaskOutcome(TaskInstanceState.SUCCESS))
    assert _ti(sessions, first).state == "running"  # kept until the flush
    handler.flush()
    assert _ti(sessions, first).state == "success"
    assert _ti(sessions, second).state == "success"
    assert _ti(sessions, second).rendered_fields == {"bash_command": "echo hi"}
    refused = [r for r in caplog.records if "cannot apply finish" in r.getMessage()]
    assert len(refused) == 1 and refused[0].exc_info[0] is IllegalStateTransition


def test_a_refused_start_does_not_lose_the_ends_applied_with_it(sessions, run_id):
    handler = DbRuntimeHandler(sessions, environ={}, clock=lambda: NOW)
    done = _queue(sessions, run_id, "extract")
    handler.start(done, 1, pid=1, hostname="box")
    handler.finish(done, TaskOutcome(TaskInstanceState.SUCCESS))  # pending
    with pytest.raises(TaskNotRunnable, match="not queued"):
        handler.start(TaskInstanceKey("etl", run_id, "report"), 1, pid=2, hostname="box")
    assert _ti(sessions, done).state == "success"


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
    handler.flush()
    assert _ti(sessions, TaskInstanceKey("etl", run_id, "transform")).state == "skipped"
    assert _ti(sessions, running).state == "running"


def test_a_try_is_told_its_run_and_the_interval_of_the_last_successful_run(sessions, run_id):
    with sessions.begin() as session:
        for day in (2, 3, 4):
            scheduled_run(session, "etl", day)
        for run in session.scalars(select(DagRun).where(DagRun.dag_id == "etl")):
            if run.logical_date.day in (1, 2):
                run.state = "success"
            if run.logical_date.day == 3:
                run.state = "failed"
            if run.logical_date.day == 4:
                run.conf = {"source": "s3"}
                day4 = run.run_id
    handler = DbRuntimeHandler(sessions, environ={}, clock=lambda: NOW)
    info = handler.start(_queue(sessions, day4, "extract"), 1, pid=1, hostname="box").run
    assert (info.run_id, info.conf) == (day4, {"source": "s3"})
    assert info.data_interval_start == datetime(2026, 1, 4, tzinfo=UTC)
    # the failed run of the 3rd does not count: the last success is the 2nd
    assert info.prev_data_interval_start_success == datetime(2026, 1, 2, tzinfo=UTC)
    assert info.prev_data_interval_end_success == datetime(2026, 1, 3, tzinfo=UTC)
    first = handler.start(_queue(sessions, run_id, "extract"), 1, pid=2, hostname="box").run
    assert first.prev_data_interval_start_success is None
