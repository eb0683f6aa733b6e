"""Clearing task instances on SQLite and PostgreSQL: what is cleared, what is kept."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from metastore_dags import (
    NOW,
    etl_dag,
    finish_try,
    register,
    scheduled_run,
    set_run_state,
    states,
    task_instance,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.exceptions import DagNotFound, IllegalStateTransition, TaskNotFound
from downwind.metastore.models import AuditLog, DagRun, TaskInstanceHistory
from downwind.services.clear import clear_task_instances
from downwind.services.errors import DagRunNotFound, InvalidInput
from downwind.services.runs import get_dag_run
from downwind.services.task_instances import list_task_instance_tries

LATER = datetime(2026, 3, 2, tzinfo=NOW.tzinfo)


@pytest.fixture(autouse=True)
def _home(downwind_home: Path) -> None:
    """DAG objects read the configuration: never the developer's."""


@pytest.fixture
def failed_run(session: Session) -> DagRun:
    """A failed run: extract succeeded, transform failed on its 2nd and last try, load
    upstream_failed, report succeeded."""
    register(session, etl_dag())
    run = scheduled_run(session, "etl", 1)
    set_run_state(session, run, "failed")
    finish_try(session, "etl", run.run_id, "extract", "success")
    finish_try(session, "etl", run.run_id, "transform", "failed", try_number=2)
    task_instance(session, "etl", run.run_id, "load").state = "upstream_failed"
    finish_try(session, "etl", run.run_id, "report", "success")
    session.add(  # its first try, recorded when it was retried
        TaskInstanceHistory(
            task_instance_id=task_instance(session, "etl", run.run_id, "transform").id,
            dag_id="etl",
            run_id=run.run_id,
            task_id="transform",
            map_index=-1,
            state="failed",
            try_number=1,
            max_tries=1,
        )
    )
    session.flush()
    return run


def _ids(tis: list) -> list[str]:
    """The task ids in the order given; checked to be each after its upstream tasks."""
    ids = [ti.task_id for ti in tis]
    for before, after in (("extract", "transform"), ("transform", "load"), ("extract", "report")):
        if before in ids and after in ids:
            assert ids.index(before) < ids.index(after), ids
    return ids


def test_only_failed_clears_the_failed_task_and_its_upstream_failed_downstream(
    session: Session, failed_run: DagRun
) -> None:
    run_id = failed_run.run_id
    cleared = clear_task_instances(session, "etl", only_failed=True, now=LATER, owner="ada")

    assert _ids(cleared) == ["transform", "load"]
    assert states(session, "etl", run_id) == {
        "extract": "success",
        "transform": None,
        "load": None,
        "report": "success",
    }
    transform = task_instance(session, "etl", run_id, "transform")
    assert transform.try_number == 2, "the try number stays: the next try is 3"
    assert transform.max_tries == 3, "max_tries = try_number + retries (1)"
    for name in ("hostname", "pid", "queued_dttm", "start_date", "end_date", "duration"):
        assert getattr(transform, name) is None, name
    assert transform.rendered_fields is None
    # Every try stays visible: the first was recorded before, the second by the clear.
    tries = list_task_instance_tries(session, "etl", run_id, "transform")
    assert [(t.try_number, t.state) for t in tries] == [(1, "failed"), (2, "failed")]
    assert tries[1].hostname == "worker-1" and tries[1].duration == 3.0
    assert tries[1].task_instance_id == transform.id
    # load never ran: nothing to record.
    assert list_task_instance_tries(session, "etl", run_id, "load") == []

    run = get_dag_run(session, "etl", run_id)
    assert run.state == "queued"
    assert run.clear_number == 1
    assert run.start_date is None and run.end_date is None
    assert run.queued_at == LATER
    (audit,) = session.scalars(select(AuditLog).where(AuditLog.event == "clear"))
    assert (audit.owner, audit.dag_id, audit.run_id) == ("ada", "etl", run_id)
    assert audit.extra["task_ids"] == ["load", "transform"]
    assert audit.extra["only_failed"] is True


def test_a_task_with_its_downstream_or_upstream(session: Session, failed_run: DagRun) -> None:
    down = clear_task_instances(
        session, "etl", task_regex="^extract$", downstream=True, dry_run=True, now=LATER
    )
    assert sorted(_ids(down)) == ["extract", "load", "report", "transform"]
    up = clear_task_instances(
        session, "etl", task_regex="^load$", upstream=True, dry_run=True, now=LATER
    )
    assert _ids(up) == ["extract", "transform", "load"]
    alone = clear_task_instances(session, "etl", task_regex="trans", now=LATER)
    assert _ids(alone) == ["transform"]
    assert states(session, "etl", failed_run.run_id)["load"] == "upstream_failed"


def test_a_dry_run_changes_nothing(session: Session, failed_run: DagRun) -> None:
    planned = clear_task_instances(session, "etl", dry_run=True, now=LATER)
    assert sorted(_ids(planned)) == ["extract", "load", "report", "transform"]
    by_id = {ti.task_id: ti for ti in planned}
    assert by_id["transform"].state == "failed", "a dry run shows the states as they are"
    assert states(session, "etl", failed_run.run_id)["transform"] == "failed"
    assert get_dag_run(session, "etl", failed_run.run_id).state == "failed"
    assert session.scalars(select(TaskInstanceHistory.try_number)).all() == [1]
    assert session.scalars(select(AuditLog).where(AuditLog.event == "clear")).all() == []


def test_a_running_task_instance_is_not_cleared_and_nothing_changes(session: Session) -> None:
    register(session, etl_dag())
    run = scheduled_run(session, "etl", 1)
    set_run_state(session, run, "running")
    finish_try(session, "etl", run.run_id, "extract", "success")
    finish_try(session, "etl", run.run_id, "transform", "running")

    with pytest.raises(IllegalStateTransition) as info:
        clear_task_instances(session, "etl", now=LATER)
    assert str(info.value) == (
        f"cannot clear task instances of DAG 'etl' while they run: transform (run "
        f"{run.run_id}) is running; nothing was cleared. Wait for it to finish, or leave it "
        "out (-t REGEX, --only-failed)"
    )
    assert states(session, "etl", run.run_id)["extract"] == "success"
    assert get_dag_run(session, "etl", run.run_id).state == "running"
    # Leaving it out works.
    assert _ids(clear_task_instances(session, "etl", task_regex="^extract$", now=LATER)) == [
        "extract"
    ]


def test_runs_are_chosen_by_logical_date_or_run_id(session: Session) -> None:
    register(session, etl_dag())
    runs = [scheduled_run(session, "etl", day) for day in (1, 2, 3)]
    for run in runs:
        set_run_state(session, run, "success")
        finish_try(session, "etl", run.run_id, "report", "success")

    def cleared_runs(**options: object) -> list[str]:
        tis = clear_task_instances(
            session, "etl", task_regex="report", dry_run=True, now=LATER, **options
        )
        return [ti.run_id for ti in tis]

    assert cleared_runs() == [run.run_id for run in runs]
    assert cleared_runs(start_date=datetime(2026, 1, 2)) == [runs[1].run_id, runs[2].run_id]
    assert cleared_runs(end_date=datetime(2026, 1, 2)) == [runs[0].run_id, runs[1].run_id]
    assert cleared_runs(run_ids=[runs[2].run_id]) == [runs[2].run_id]
    with pytest.raises(DagRunNotFound, match="DAG 'etl' has no run 'manual__x'"):
        cleared_runs(run_ids=["manual__x"])


def test_clearing_again_and_again_keeps_every_try(session: Session) -> None:
    register(session, etl_dag())
    run = scheduled_run(session, "etl", 1)
    set_run_state(session, run, "failed")
    finish_try(session, "etl", run.run_id, "extract", "failed", try_number=3)
    clear_task_instances(session, "etl", task_regex="^extract$", now=LATER)
    # Cleared twice before it runs again: the same try is not recorded twice.
    clear_task_instances(session, "etl", task_regex="^extract$", now=LATER)
    extract = task_instance(session, "etl", run.run_id, "extract")
    assert extract.max_tries == 5
    finish_try(session, "etl", run.run_id, "extract", "failed", try_number=4)
    clear_task_instances(session, "etl", task_regex="^extract$", now=LATER)

    tries = list_task_instance_tries(session, "etl", run.run_id, "extract")
    assert [(t.try_number, t.state) for t in tries] == [(3, "failed"), (4, "failed")]
    assert get_dag_run(session, "etl", run.run_id).clear_number == 3


def test_bad_input_is_refused_with_a_clear_message(session: Session, failed_run: DagRun) -> None:
    with pytest.raises(TaskNotFound, match="no task of DAG 'etl' matches the regex 'lod'"):
        clear_task_instances(session, "etl", task_regex="lod", now=LATER)
    with pytest.raises(InvalidInput, match=r"invalid task regex '\(': missing \)"):
        clear_task_instances(session, "etl", task_regex="(", now=LATER)
    with pytest.raises(DagNotFound, match="DAG 'elt' not found"):
        clear_task_instances(session, "elt", now=LATER)
    assert states(session, "etl", failed_run.run_id)["transform"] == "failed"


def test_nothing_to_clear_is_an_empty_list(session: Session, failed_run: DagRun) -> None:
    set_run_state(session, failed_run, "success")
    for task_id in ("transform", "load"):
        task_instance(session, "etl", failed_run.run_id, task_id).state = "success"
    assert clear_task_instances(session, "etl", only_failed=True, now=LATER) == []
    assert get_dag_run(session, "etl", failed_run.run_id).state == "success"
