"""DAG runs on SQLite and PostgreSQL: create, trigger, list, get, mark; pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from metastore_dags import (
    NOW,
    START,
    etl_dag,
    finish_try,
    register,
    scheduled_run,
    set_run_state,
    states,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from downwind.exceptions import (
    DagNotFound,
    IllegalStateTransition,
    ParamValidationError,
    SerializationError,
)
from downwind.metastore.models import AuditLog, DagModel, DagRun, DagVersion, TaskInstance
from downwind.services.dag_registry import record_parsed_file
from downwind.services.dags import set_paused
from downwind.services.errors import DagRunAlreadyExists, DagRunNotFound, InvalidInput
from downwind.services.runs import (
    create_dag_run,
    get_dag_run,
    list_dag_runs,
    set_dag_run_state,
    trigger_dag_run,
)
from downwind.timetables.base import DataInterval


@pytest.fixture(autouse=True)
def _home(downwind_home: Path) -> None:
    """DAG objects read the configuration: never the developer's."""


def _runs(session: Session, dag_id: str = "etl") -> int:
    return session.scalar(select(func.count()).select_from(DagRun).where(DagRun.dag_id == dag_id))


def _audit(session: Session, event: str) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.event == event)))


def test_a_new_run_is_queued_with_one_task_instance_per_task_of_the_latest_version(
    session: Session,
) -> None:
    register(session, etl_dag())
    register(session, etl_dag(description="edited"))  # a second version
    latest = session.scalar(select(func.max(DagVersion.id)).where(DagVersion.dag_id == "etl"))

    run = scheduled_run(session, "etl", 1)

    assert run.run_id == "scheduled__2026-01-01T00:00:00+00:00"
    assert run.state == "queued"
    assert run.run_type == "scheduled"
    assert run.logical_date == START
    assert (run.data_interval_start, run.data_interval_end) == (START, START + timedelta(days=1))
    assert run.run_after == START + timedelta(days=1), "a scheduled run waits for its interval"
    assert run.queued_at == NOW
    assert run.dag_version_id == latest
    assert run.conf == {}
    assert run.triggered_by == "scheduler"
    tis = {
        ti.task_id: ti
        for ti in session.scalars(select(TaskInstance).where(TaskInstance.run_id == run.run_id))
    }
    assert sorted(tis) == ["extract", "load", "report", "transform"]
    extract, load = tis["extract"], tis["load"]
    assert extract.state is None and extract.try_number == 0
    assert extract.max_tries == 2, "max_tries is the task's retries"
    assert extract.priority_weight == 4, "downstream weight rule: itself and its 3 downstream"
    assert load.priority_weight == 1
    assert (load.pool, load.pool_slots, load.queue) == ("db", 2, "io")
    assert extract.pool == "default_pool" and extract.queue == "default"
    assert extract.operator == "EmptyOperator"
    assert extract.map_index == -1 and len(extract.id) == 36
    assert {ti.dag_version_id for ti in tis.values()} == {latest}


def test_a_second_run_with_the_same_run_id_is_refused_and_the_first_is_kept(
    session: Session,
) -> None:
    register(session, etl_dag())
    first = scheduled_run(session, "etl", 1)
    with pytest.raises(DagRunAlreadyExists) as info:
        scheduled_run(session, "etl", 1)
    assert str(info.value) == (
        "DAG 'etl' already has a run with run id 'scheduled__2026-01-01T00:00:00+00:00'; "
        "choose another run id or logical date"
    )
    # The session is still usable, and the first run is intact.
    assert _runs(session) == 1
    assert get_dag_run(session, "etl", first.run_id).state == "queued"
    assert len(states(session, "etl", first.run_id)) == 4


@pytest.mark.parametrize("run_id", ["a/b", "", "with space", "x" * 251])
def test_a_run_id_that_cannot_name_a_log_folder_is_refused(session: Session, run_id: str) -> None:
    register(session, etl_dag())
    with pytest.raises(InvalidInput, match="invalid run id"):
        create_dag_run(
            session,
            "etl",
            run_type="manual",
            logical_date=START,
            data_interval=DataInterval.exact(START),
            conf={},
            run_id=run_id,
            triggered_by="test",
            now=NOW,
        )
    assert _runs(session) == 0


def test_create_refuses_an_unknown_dag_a_naive_date_and_an_unknown_run_type(
    session: Session,
) -> None:
    register(session, etl_dag())
    common = {"data_interval": DataInterval.exact(START), "conf": None, "triggered_by": "t"}
    with pytest.raises(DagNotFound, match="DAG 'nope' has no stored version"):
        create_dag_run(session, "nope", run_type="manual", logical_date=START, now=NOW, **common)
    with pytest.raises(InvalidInput, match="logical_date must be timezone-aware"):
        create_dag_run(
            session,
            "etl",
            run_type="manual",
            logical_date=datetime(2026, 1, 1),
            now=NOW,
            **common,
        )
    with pytest.raises(InvalidInput, match="invalid run type 'adhoc'"):
        create_dag_run(session, "etl", run_type="adhoc", logical_date=START, now=NOW, **common)


def test_trigger_creates_a_manual_run_with_conf_and_the_inferred_data_interval(
    session: Session,
) -> None:
    register(session, etl_dag(), paused=True)
    run = trigger_dag_run(
        session,
        "etl",
        logical_date=datetime(2026, 1, 5, tzinfo=UTC),
        conf={"rows": 7, "note": "rerun"},
        now=NOW,
        owner="ada",
    )
    assert run.run_id == "manual__2026-01-05T00:00:00+00:00"
    assert run.run_type == "manual" and run.state == "queued"
    assert run.conf == {"rows": 7, "note": "rerun"}
    # A daily DAG triggered for the 5th covers the last complete day: [4th, 5th).
    assert run.data_interval_start == datetime(2026, 1, 4, tzinfo=UTC)
    assert run.data_interval_end == datetime(2026, 1, 5, tzinfo=UTC)
    assert run.run_after == NOW, "a manual run may start at once"
    assert run.triggered_by == "cli"
    assert len(states(session, "etl", run.run_id)) == 4
    (audit,) = _audit(session, "trigger")
    assert (audit.owner, audit.dag_id, audit.run_id) == ("ada", "etl", run.run_id)
    assert audit.dttm == NOW
    assert audit.logical_date == datetime(2026, 1, 5, tzinfo=UTC)
    assert audit.extra == {"conf": {"rows": 7, "note": "rerun"}, "triggered_by": "cli"}


def test_trigger_defaults_to_now_and_reads_a_naive_date_in_the_dags_time_zone(
    session: Session,
) -> None:
    paris = ZoneInfo("Europe/Paris")
    register(session, etl_dag("paris", start_date=datetime(2026, 1, 1, tzinfo=paris)))
    now_run = trigger_dag_run(session, "paris", now=NOW, run_id="now_run")
    assert now_run.logical_date == NOW
    naive = trigger_dag_run(session, "paris", logical_date=datetime(2026, 1, 5, 6, 0), now=NOW)
    assert naive.logical_date == datetime(2026, 1, 5, 5, 0, tzinfo=UTC)
    assert naive.run_id == "manual__2026-01-05T05:00:00+00:00"


def test_trigger_checks_the_conf_before_creating_anything(session: Session) -> None:
    register(session, etl_dag())
    with pytest.raises(InvalidInput, match=r"run conf must be a JSON object .* got list"):
        trigger_dag_run(session, "etl", conf=[1, 2], now=NOW)
    with pytest.raises(ParamValidationError, match="rows"):
        trigger_dag_run(session, "etl", conf={"rows": 0}, now=NOW)
    with pytest.raises(SerializationError):
        trigger_dag_run(session, "etl", conf={"handle": object()}, now=NOW)
    assert _runs(session) == 0
    assert _audit(session, "trigger") == []


def test_trigger_refuses_unknown_and_inactive_dags(session: Session) -> None:
    register(session, etl_dag())
    with pytest.raises(DagNotFound) as info:
        trigger_dag_run(session, "elt", now=NOW)
    assert str(info.value) == (
        "DAG 'elt' not found in the metastore: is its file in the dags folder, and has the "
        "DAG processor parsed it?; did you mean 'etl'?"
    )
    # The file no longer defines the DAG: it becomes inactive.
    record_parsed_file(
        session,
        fileloc="/dags/etl.py",
        dags=[],
        import_error=None,
        now=NOW,
        paused_at_creation=False,
    )
    with pytest.raises(DagNotFound, match=r"DAG 'etl' is not active: its file \(/dags/etl.py\)"):
        trigger_dag_run(session, "etl", now=NOW)


def test_list_runs_newest_first_with_filters(session: Session) -> None:
    register(session, etl_dag())
    first, second, third = (scheduled_run(session, "etl", day) for day in (1, 2, 3))
    manual = trigger_dag_run(
        session, "etl", logical_date=datetime(2026, 1, 2, 12, tzinfo=UTC), now=NOW
    )
    set_run_state(session, first, "success")
    set_run_state(session, second, "failed")

    def ids(**filters: object) -> list[str]:
        return [run.run_id for run in list_dag_runs(session, "etl", **filters)]  # type: ignore[arg-type]

    assert ids() == [third.run_id, manual.run_id, second.run_id, first.run_id]
    assert ids(state="failed") == [second.run_id]
    assert ids(state="queued") == [third.run_id, manual.run_id]
    assert ids(run_type="manual") == [manual.run_id]
    assert ids(start_date=datetime(2026, 1, 2), end_date=datetime(2026, 1, 2, 12)) == [
        manual.run_id,
        second.run_id,
    ]
    assert ids(limit=1) == [third.run_id]
    with pytest.raises(InvalidInput, match="invalid DAG run state 'done': expected one of"):
        list_dag_runs(session, "etl", state="done")
    with pytest.raises(InvalidInput, match="invalid run type 'cron'"):
        list_dag_runs(session, "etl", run_type="cron")
    with pytest.raises(DagNotFound):
        list_dag_runs(session, "nope")


def test_get_run_names_what_is_missing(session: Session) -> None:
    register(session, etl_dag())
    with pytest.raises(DagRunNotFound, match="DAG 'etl' has no run 'manual__x'"):
        get_dag_run(session, "etl", "manual__x")
    with pytest.raises(DagNotFound, match="DAG 'nope' not found"):
        get_dag_run(session, "nope", "manual__x")


def test_marking_a_run_success_marks_its_unfinished_and_failed_tasks_success(
    session: Session,
) -> None:
    register(session, etl_dag())
    run = scheduled_run(session, "etl", 1)
    set_run_state(session, run, "failed")
    finish_try(session, "etl", run.run_id, "extract", "success")
    finish_try(session, "etl", run.run_id, "transform", "failed")
    finish_try(session, "etl", run.run_id, "report", "skipped")

    marked = set_dag_run_state(session, "etl", run.run_id, "success", now=NOW, owner="ada")

    assert marked.state == "success" and marked.end_date == NOW
    assert states(session, "etl", run.run_id) == {
        "extract": "success",
        "transform": "success",
        "load": "success",
        "report": "skipped",
    }
    (audit,) = _audit(session, "dag_run.mark_success")
    assert audit.extra == {"state": "success", "previous_state": "failed"}
    assert audit.owner == "ada"


def test_marking_a_run_failed_skips_its_unfinished_tasks(session: Session) -> None:
    register(session, etl_dag())
    run = scheduled_run(session, "etl", 1)
    set_run_state(session, run, "running")
    finish_try(session, "etl", run.run_id, "extract", "success")
    finish_try(session, "etl", run.run_id, "transform", "failed")

    set_dag_run_state(session, "etl", run.run_id, "failed", now=NOW)

    assert get_dag_run(session, "etl", run.run_id).state == "failed"
    assert states(session, "etl", run.run_id) == {
        "extract": "success",
        "transform": "failed",
        "load": "skipped",
        "report": "skipped",
    }


def test_a_run_with_a_running_task_cannot_be_marked(session: Session) -> None:
    register(session, etl_dag())
    run = scheduled_run(session, "etl", 1)
    set_run_state(session, run, "running")
    finish_try(session, "etl", run.run_id, "extract", "running")
    with pytest.raises(IllegalStateTransition) as info:
        set_dag_run_state(session, "etl", run.run_id, "success", now=NOW)
    assert str(info.value) == (
        f"cannot mark run '{run.run_id}' of DAG 'etl' success: task extract is running; "
        "wait for it to finish"
    )
    with pytest.raises(InvalidInput, match="marked success or failed, not queued"):
        set_dag_run_state(session, "etl", run.run_id, "queued", now=NOW)
    assert get_dag_run(session, "etl", run.run_id).state == "running"
    assert states(session, "etl", run.run_id)["load"] is None


def test_pause_and_unpause_are_recorded(session: Session) -> None:
    register(session, etl_dag(), paused=True)
    assert set_paused(session, "etl", False, now=NOW, owner="ada").is_paused is False
    assert session.get(DagModel, "etl").is_paused is False
    set_paused(session, "etl", True, now=NOW, owner="bob")
    assert session.get(DagModel, "etl").is_paused is True
    events = [(a.event, a.owner, a.dag_id) for a in _audit(session, "unpause")]
    events += [(a.event, a.owner, a.dag_id) for a in _audit(session, "pause")]
    assert events == [("unpause", "ada", "etl"), ("pause", "bob", "etl")]
    with pytest.raises(DagNotFound, match=r"DAG 'elt' not found .* did you mean 'etl'"):
        set_paused(session, "elt", True, now=NOW)
