"""Task instances on SQLite and PostgreSQL: list, get, mark, list tries."""

from __future__ import annotations

from pathlib import Path

import pytest
from metastore_dags import NOW, etl_dag, finish_try, register, scheduled_run, set_run_state
from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.exceptions import DagNotFound, IllegalStateTransition
from downwind.metastore.models import AuditLog
from downwind.services.errors import DagRunNotFound, InvalidInput, TaskInstanceNotFound
from downwind.services.runs import get_dag_run
from downwind.services.task_instances import (
    get_task_instance,
    list_task_instance_tries,
    list_task_instances,
    set_task_instance_state,
)


@pytest.fixture(autouse=True)
def _home(downwind_home: Path) -> None:
    """DAG objects read the configuration: never the developer's."""


@pytest.fixture
def run_id(session: Session) -> str:
    register(session, etl_dag())
    return scheduled_run(session, "etl", 1).run_id


def test_a_runs_task_instances_come_each_after_its_upstream_tasks(
    session: Session, run_id: str
) -> None:
    finish_try(session, "etl", run_id, "extract", "success")
    tis = list_task_instances(session, "etl", run_id)
    ids = [ti.task_id for ti in tis]
    assert sorted(ids) == ["extract", "load", "report", "transform"]
    assert ids[0] == "extract"
    assert ids.index("transform") < ids.index("load")
    assert [ti.state for ti in tis if ti.task_id != "extract"] == [None, None, None]
    with pytest.raises(DagRunNotFound, match="DAG 'etl' has no run 'nope'"):
        list_task_instances(session, "etl", "nope")


def test_get_names_what_is_missing(session: Session, run_id: str) -> None:
    assert get_task_instance(session, "etl", run_id, "load").pool == "db"
    with pytest.raises(TaskInstanceNotFound) as info:
        get_task_instance(session, "etl", run_id, "lod")
    assert str(info.value) == f"run '{run_id}' of DAG 'etl' has no task 'lod'"
    with pytest.raises(TaskInstanceNotFound, match="has no task 'load' with map index 3"):
        get_task_instance(session, "etl", run_id, "load", 3)
    with pytest.raises(DagRunNotFound):
        get_task_instance(session, "etl", "manual__x", "load")
    with pytest.raises(DagNotFound):
        get_task_instance(session, "nope", run_id, "load")


@pytest.mark.parametrize("state", ["success", "failed", "skipped"])
def test_a_user_marks_a_task_instance(session: Session, run_id: str, state: str) -> None:
    finish_try(session, "etl", run_id, "transform", "up_for_retry")
    ti = set_task_instance_state(session, "etl", run_id, "transform", state, now=NOW, owner="ada")
    assert ti.state == state
    session.flush()
    session.expire_all()
    assert get_task_instance(session, "etl", run_id, "transform").state == state
    assert get_dag_run(session, "etl", run_id).state == "queued", "the run is left alone"
    (audit,) = session.scalars(select(AuditLog).where(AuditLog.event.like("task_instance.%")))
    assert audit.event == f"task_instance.mark_{state}"
    assert (audit.owner, audit.run_id, audit.task_id, audit.try_number) == (
        "ada",
        run_id,
        "transform",
        1,
    )
    assert audit.extra == {"state": state, "previous_state": "up_for_retry"}


def test_marking_a_task_that_never_ran_sets_its_end_date(session: Session, run_id: str) -> None:
    ti = set_task_instance_state(session, "etl", run_id, "load", "skipped", now=NOW)
    assert ti.end_date == NOW and ti.start_date is None


def test_a_running_task_instance_cannot_be_marked(session: Session, run_id: str) -> None:
    set_run_state(session, get_dag_run(session, "etl", run_id), "running")
    finish_try(session, "etl", run_id, "extract", "running")
    with pytest.raises(IllegalStateTransition) as info:
        set_task_instance_state(session, "etl", run_id, "extract", "success", now=NOW)
    assert str(info.value) == (
        "cannot mark a running task instance success: stop it first (it is running)"
    )
    session.flush()
    session.expire_all()
    assert get_task_instance(session, "etl", run_id, "extract").state == "running"


@pytest.mark.parametrize("state", ["queued", "running", "none", None, "done"])
def test_only_success_failed_and_skipped_can_be_set(
    session: Session, run_id: str, state: str | None
) -> None:
    with pytest.raises(InvalidInput) as info:
        set_task_instance_state(session, "etl", run_id, "load", state, now=NOW)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"cannot mark a task instance {state!r}: mark it failed, skipped, success (or clear "
        "it to run it again)"
    )


def test_tries_are_the_recorded_ones_then_the_current_one(session: Session, run_id: str) -> None:
    assert list_task_instance_tries(session, "etl", run_id, "extract") == []
    current = finish_try(session, "etl", run_id, "extract", "running")
    assert list_task_instance_tries(session, "etl", run_id, "extract") == [current]
