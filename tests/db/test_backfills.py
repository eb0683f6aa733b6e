"""Backfills on SQLite and PostgreSQL: the plan and the record (services), the scheduler's
pass over them (``advance_backfills``), the ``dags backfill`` / ``backfills`` commands, and
one backfill run end to end by the real scheduler and local executor."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from metastore_dags import (
    NOW,
    START,
    etl_dag,
    finish_try,
    in_configured_metastore,
    migrate_configured_metastore,
    register,
    register_in_configured_metastore,
    scheduled_run,
    set_run_state,
    states,
)
from scheduler_env import SchedulerEnv
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import downwind.cli.main as cli_main
import downwind.scheduler.loop as scheduler_loop
from downwind.cli import backfill_command
from downwind.cli.main import main
from downwind.exceptions import DagNotFound, IllegalStateTransition, ParamValidationError
from downwind.metastore.engine import dispose_engines
from downwind.metastore.models import (
    AuditLog,
    Backfill,
    DagModel,
    DagRun,
    TaskInstanceHistory,
    XComModel,
)
from downwind.metastore.models import TaskInstance as TI
from downwind.runtime import serde
from downwind.scheduler.backfills import advance_backfills
from downwind.scheduler.runs import create_due_runs, start_queued_runs
from downwind.services.backfills import (
    BackfillAlreadyRunning,
    BackfillNotFound,
    action_for,
    backfill_progress,
    cancel_backfill,
    create_backfill,
    get_backfill,
    list_backfills,
    set_backfill_paused,
)
from downwind.services.dags import set_paused
from downwind.services.errors import InvalidInput
from downwind.services.runs import create_dag_run
from downwind.timetables.base import DataInterval


@pytest.fixture(autouse=True)
def _home(downwind_home: Path) -> None:
    """DAG objects read the configuration: never the developer's."""


def day(n: int) -> datetime:
    """Midnight UTC of 2026-01-<n>."""
    return START + timedelta(days=n - 1)


def _backfill(session: Session, first: int, last: int, **kwargs: object) -> Backfill:
    kwargs.setdefault("now", NOW)
    plan = create_backfill(session, "etl", from_date=day(first), to_date=day(last), **kwargs)
    assert plan.backfill is not None
    return plan.backfill


def _runs(session: Session, dag_id: str = "etl") -> list[DagRun]:
    session.flush()
    session.expire_all()
    return list(
        session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date, DagRun.id)
        )
    )


def _owned(session: Session, backfill: Backfill) -> list[DagRun]:
    return [run for run in _runs(session, backfill.dag_id) if run.backfill_id == backfill.id]


def _finish(session: Session, run: DagRun, state: str = "success") -> None:
    set_run_state(session, run, state)


# -- the decision, without a database --------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "behavior", "action"),
    [
        (None, "none", "create"),
        (None, "completed", "create"),
        ("success", "none", "skip_exists"),
        ("failed", "none", "skip_exists"),
        ("success", "failed", "skip_exists"),
        ("failed", "failed", "rerun_failed"),
        ("success", "completed", "rerun"),
        ("failed", "completed", "rerun"),
        ("queued", "completed", "skip_in_flight"),
        ("running", "failed", "skip_in_flight"),
    ],
)
def test_what_a_backfill_does_at_a_date_follows_the_existing_run_and_reprocess_behavior(
    existing: str | None, behavior: str, action: str
) -> None:
    assert action_for(existing, behavior) == action


# -- creating: plan, record, errors ----------------------------------------------------


def test_a_dry_run_plans_every_complete_interval_and_changes_nothing(session: Session) -> None:
    register(session, etl_dag())
    set_run_state(session, scheduled_run(session, "etl", 2), "success")
    set_run_state(session, scheduled_run(session, "etl", 3), "failed")
    set_run_state(session, scheduled_run(session, "etl", 4), "running")
    before = len(_runs(session))

    def plan(behavior: str) -> list[tuple[datetime, str]]:
        result = create_backfill(
            session,
            "etl",
            from_date=day(1),
            to_date=day(5),
            reprocess_behavior=behavior,
            dry_run=True,
            now=NOW,
        )
        assert result.backfill is None
        return [(run.logical_date, run.action) for run in result.runs]

    dates = [day(n) for n in range(1, 6)]
    assert plan("none") == list(
        zip(
            dates, ["create", "skip_exists", "skip_exists", "skip_in_flight", "create"], strict=True
        )
    )
    assert [action for _, action in plan("failed")] == [
        "create",
        "skip_exists",
        "rerun_failed",
        "skip_in_flight",
        "create",
    ]
    assert [action for _, action in plan("completed")] == [
        "create",
        "rerun",
        "rerun",
        "skip_in_flight",
        "create",
    ]
    assert session.scalar(select(func.count()).select_from(Backfill)) == 0
    assert len(_runs(session)) == before


def test_the_plan_names_the_existing_run_and_ignores_dags_test_runs(session: Session) -> None:
    register(session, etl_dag())
    existing = scheduled_run(session, "etl", 2)
    set_run_state(session, existing, "failed")
    test_run = create_dag_run(
        session,
        "etl",
        run_type="manual",
        logical_date=day(1),
        data_interval=DataInterval(day(1), day(2)),
        conf=None,
        run_id="test__2026-01-01",
        triggered_by="test",
        now=NOW,
    )
    set_run_state(session, test_run, "success")

    plan = create_backfill(
        session, "etl", from_date=day(1), to_date=day(2), dry_run=True, now=NOW
    ).runs

    assert plan[0].action == "create", "a `dags test` run does not hold its date"
    assert (plan[1].existing_run_id, plan[1].existing_state) == (existing.run_id, "failed")
    assert plan[1].data_interval == DataInterval(day(2), day(3))


def test_creating_records_the_backfill_and_audits_it_but_creates_no_run(
    session: Session,
) -> None:
    register(session, etl_dag())

    plan = create_backfill(
        session,
        "etl",
        from_date=day(1),
        to_date=day(3),
        reprocess_behavior="failed",
        max_active_runs=2,
        conf={"rows": 7},
        now=NOW,
        owner="ada",
    )

    backfill = get_backfill(session, plan.backfill.id)
    assert (backfill.dag_id, backfill.from_date, backfill.to_date) == ("etl", day(1), day(3))
    assert (backfill.reprocess_behavior, backfill.max_active_runs) == ("failed", 2)
    assert (backfill.state, backfill.is_paused, backfill.completed_at) == ("queued", False, None)
    assert backfill.dag_run_conf == {"rows": 7}
    assert backfill.created_at == NOW
    assert [run.action for run in plan.runs] == ["create"] * 3
    assert _runs(session) == [], "the scheduler creates the runs"
    audit = session.scalars(select(AuditLog).where(AuditLog.event == "backfill.create")).one()
    assert (audit.owner, audit.dag_id) == ("ada", "etl")
    assert audit.extra["backfill_id"] == backfill.id
    progress = backfill_progress(session, backfill)
    assert progress.as_dict() == {
        "total": 3,
        "queued": 0,
        "running": 0,
        "success": 0,
        "failed": 0,
        "skipped": 0,
        "pending": 3,
        "cancelled": 0,
    }


def test_only_intervals_that_had_ended_are_planned(session: Session) -> None:
    register(session, etl_dag())
    plan = create_backfill(
        session,
        "etl",
        from_date=NOW - timedelta(days=2),  # 2026-02-27 12:00: the next interval is the 28th
        to_date=NOW + timedelta(days=5),
        dry_run=True,
        now=NOW,
    )
    assert [run.logical_date for run in plan.runs] == [datetime(2026, 2, 28, tzinfo=UTC)]


def test_naive_dates_are_in_the_dags_time_zone(session: Session) -> None:
    amsterdam = ZoneInfo("Europe/Amsterdam")
    register(session, etl_dag(start_date=datetime(2026, 1, 1, tzinfo=amsterdam)))
    plan = create_backfill(
        session,
        "etl",
        from_date=datetime(2026, 1, 2),
        to_date=datetime(2026, 1, 3),
        dry_run=True,
        now=NOW,
    )
    assert [run.logical_date for run in plan.runs] == [
        datetime(2026, 1, 1, 23, tzinfo=UTC),  # local midnight of the 2nd
        datetime(2026, 1, 2, 23, tzinfo=UTC),
    ]


def test_bad_input_is_refused_with_a_clear_message(session: Session) -> None:
    register(session, etl_dag())
    register(session, etl_dag("manual_only", schedule=None))
    register(session, etl_dag("one_shot", schedule="@once"))

    with pytest.raises(InvalidInput, match=r"start date 2026-01-05T00:00:00\+00:00 is after"):
        create_backfill(session, "etl", from_date=day(5), to_date=day(1), now=NOW)
    with pytest.raises(DagNotFound, match=r"DAG 'elt' not found.*did you mean 'etl'"):
        create_backfill(session, "elt", from_date=day(1), to_date=day(2), now=NOW)
    with pytest.raises(
        InvalidInput,
        match=r"DAG 'manual_only' has schedule None: it has no data intervals to backfill.*"
        r"downwind dags trigger manual_only",
    ):
        create_backfill(session, "manual_only", from_date=day(1), to_date=day(2), now=NOW)
    with pytest.raises(InvalidInput, match="schedule @once: it has no data intervals"):
        create_backfill(session, "one_shot", from_date=day(1), to_date=day(2), now=NOW)
    with pytest.raises(InvalidInput, match="no complete data interval of DAG 'etl'"):
        create_backfill(
            session,
            "etl",
            from_date=NOW + timedelta(days=1),
            to_date=NOW + timedelta(days=9),
            now=NOW,
        )
    with pytest.raises(InvalidInput, match=r"invalid reprocess behavior 'fail'.*did you mean"):
        create_backfill(
            session, "etl", from_date=day(1), to_date=day(2), reprocess_behavior="fail", now=NOW
        )
    with pytest.raises(InvalidInput, match="max_active_runs must be 1 or more, got 0"):
        create_backfill(
            session, "etl", from_date=day(1), to_date=day(2), max_active_runs=0, now=NOW
        )
    with pytest.raises(ParamValidationError, match="rows"):
        create_backfill(session, "etl", from_date=day(1), to_date=day(2), conf={"rows": 0}, now=NOW)
    assert session.scalar(select(func.count()).select_from(Backfill)) == 0


def test_a_dag_has_one_unfinished_backfill_at_a_time(session: Session) -> None:
    register(session, etl_dag())
    first = _backfill(session, 1, 2)

    with pytest.raises(
        BackfillAlreadyRunning,
        match=rf"already has backfill {first.id} \(queued.*downwind backfills cancel {first.id}",
    ):
        _backfill(session, 5, 6)
    # a dry run is only a look
    assert create_backfill(
        session, "etl", from_date=day(5), to_date=day(6), dry_run=True, now=NOW
    ).runs

    cancel_backfill(session, first.id, now=NOW)
    assert _backfill(session, 5, 6).id != first.id


def test_unknown_backfills_and_dags_are_reported(session: Session) -> None:
    register(session, etl_dag())
    with pytest.raises(BackfillNotFound, match="backfill 999 not found"):
        get_backfill(session, 999)
    with pytest.raises(BackfillNotFound, match="backfill 999 not found"):
        cancel_backfill(session, 999, now=NOW)
    with pytest.raises(DagNotFound, match="DAG 'nope' not found"):
        list_backfills(session, dag_id="nope")


# -- the scheduler's pass ------------------------------------------------------------


def test_the_scheduler_creates_backfill_runs_oldest_first_up_to_max_active_runs(
    session: Session,
) -> None:
    register(session, etl_dag())
    backfill = _backfill(session, 1, 5, max_active_runs=2, conf={"rows": 3})

    assert advance_backfills(session, NOW) == 2
    runs = _owned(session, backfill)
    assert [run.logical_date for run in runs] == [day(1), day(2)]
    first = runs[0]
    assert first.run_id == "backfill__2026-01-01T00:00:00+00:00"
    assert (first.run_type, first.triggered_by, first.state) == ("backfill", "backfill", "queued")
    assert (first.data_interval_start, first.data_interval_end) == (day(1), day(2))
    assert first.conf == {"rows": 3}
    assert sorted(states(session, "etl", first.run_id)) == [
        "extract",
        "load",
        "report",
        "transform",
    ]
    assert get_backfill(session, backfill.id).state == "running"

    assert advance_backfills(session, NOW) == 0, "two runs are active: the limit"
    _finish(session, runs[0])
    assert advance_backfills(session, NOW) == 1
    assert [run.logical_date for run in _owned(session, backfill)] == [day(1), day(2), day(3)]

    progress = backfill_progress(session, get_backfill(session, backfill.id))
    assert progress.as_dict() == {
        "total": 5,
        "queued": 2,
        "running": 0,
        "success": 1,
        "failed": 0,
        "skipped": 0,
        "pending": 2,
        "cancelled": 0,
    }
    assert progress.done == 1


def test_a_backfill_is_complete_when_all_its_runs_finished_failed_if_one_failed(
    session: Session,
) -> None:
    register(session, etl_dag())
    backfill = _backfill(session, 1, 3)
    advance_backfills(session, NOW)
    runs = _owned(session, backfill)
    _finish(session, runs[0])
    _finish(session, runs[1])
    advance_backfills(session, NOW)
    assert get_backfill(session, backfill.id).completed_at is None, "one run is still queued"

    _finish(session, runs[2], "failed")
    later = NOW + timedelta(minutes=5)
    advance_backfills(session, later)
    done = get_backfill(session, backfill.id)
    assert (done.state, done.completed_at) == ("failed", later)
    assert backfill_progress(session, done).done == 3
    with pytest.raises(IllegalStateTransition, match="it is already failed"):
        cancel_backfill(session, backfill.id, now=NOW)
    with pytest.raises(IllegalStateTransition, match=r"cannot pause backfill .* already failed"):
        set_backfill_paused(session, backfill.id, True, now=NOW)

    other = _backfill(session, 10, 10)
    advance_backfills(session, NOW)
    _finish(session, _owned(session, other)[0])
    advance_backfills(session, NOW)
    assert get_backfill(session, other.id).state == "success"


def test_reprocess_none_keeps_the_dates_that_have_a_run(session: Session) -> None:
    register(session, etl_dag())
    kept = scheduled_run(session, "etl", 2)
    set_run_state(session, kept, "failed")
    backfill = _backfill(session, 1, 3)

    advance_backfills(session, NOW)

    assert [run.logical_date for run in _owned(session, backfill)] == [day(1), day(3)]
    session.refresh(kept)
    assert (kept.state, kept.backfill_id, kept.clear_number) == ("failed", None, 0)
    for run in _owned(session, backfill):
        _finish(session, run)
    advance_backfills(session, NOW)
    done = get_backfill(session, backfill.id)
    assert done.state == "success"
    assert backfill_progress(session, done).as_dict()["skipped"] == 1


def test_rerun_failed_tasks_clears_only_the_failed_tasks_of_failed_runs(
    session: Session,
) -> None:
    register(session, etl_dag())
    failed = scheduled_run(session, "etl", 2)
    finish_try(session, "etl", failed.run_id, "extract", "success")
    finish_try(session, "etl", failed.run_id, "report", "success")
    finish_try(session, "etl", failed.run_id, "transform", "failed", try_number=2)
    finish_try(session, "etl", failed.run_id, "load", "upstream_failed", try_number=0)
    set_run_state(session, failed, "failed")
    succeeded = scheduled_run(session, "etl", 3)
    set_run_state(session, succeeded, "success")
    backfill = _backfill(session, 1, 3, reprocess_behavior="failed")

    assert advance_backfills(session, NOW) == 2

    owned = _owned(session, backfill)
    assert [run.run_id for run in owned] == [
        "backfill__2026-01-01T00:00:00+00:00",
        failed.run_id,
    ]
    rerun = owned[1]
    assert (rerun.state, rerun.run_type, rerun.clear_number) == ("queued", "scheduled", 1)
    assert states(session, "etl", failed.run_id) == {
        "extract": "success",
        "report": "success",
        "transform": None,
        "load": None,
    }
    history = session.scalars(
        select(TaskInstanceHistory.task_id).where(TaskInstanceHistory.run_id == failed.run_id)
    ).all()
    assert history == ["transform"], "the failed try stays in the history"
    session.refresh(succeeded)
    assert (succeeded.state, succeeded.backfill_id) == ("success", None)


def test_reset_dagruns_clears_every_task_of_finished_runs_but_not_of_running_ones(
    session: Session,
) -> None:
    register(session, etl_dag())
    done = scheduled_run(session, "etl", 1)
    for task_id in ("extract", "transform", "load", "report"):
        finish_try(session, "etl", done.run_id, task_id, "success")
    set_run_state(session, done, "success")
    busy = scheduled_run(session, "etl", 2)
    finish_try(session, "etl", busy.run_id, "extract", "running")
    set_run_state(session, busy, "running")
    backfill = _backfill(session, 1, 2, reprocess_behavior="completed")

    assert advance_backfills(session, NOW) == 1

    assert set(states(session, "etl", done.run_id).values()) == {None}
    session.refresh(done)
    assert (done.state, done.backfill_id) == ("queued", backfill.id)
    session.refresh(busy)
    assert (busy.state, busy.backfill_id) == ("running", None), "a run in flight is left alone"


def test_backfill_runs_are_not_the_scheduled_runs_last_interval(session: Session) -> None:
    register(session, etl_dag(start_date=day(5)))
    backfill = _backfill(session, 1, 3)  # before the DAG's start_date: allowed
    advance_backfills(session, NOW)
    assert len(_owned(session, backfill)) == 3

    created = create_due_runs(session, day(8))

    assert [(run.run_type, run.logical_date) for run in created] == [
        ("scheduled", day(5)),
        ("scheduled", day(6)),
        ("scheduled", day(7)),
    ], "catch-up starts at the DAG's start_date, whatever the backfill ran"


def test_a_backfill_leaves_the_dags_max_active_runs_to_its_scheduled_runs(
    session: Session,
) -> None:
    register(session, etl_dag(start_date=day(20), max_active_runs=1))
    backfill = _backfill(session, 1, 5, max_active_runs=2)
    advance_backfills(session, NOW)

    scheduled = create_due_runs(session, day(21))
    started = start_queued_runs(session, day(21))

    assert [run.logical_date for run in scheduled] == [day(20)]
    assert sorted((run.run_type, run.logical_date) for run in started) == [
        ("backfill", day(1)),
        ("backfill", day(2)),
        ("scheduled", day(20)),
    ]
    assert len(_owned(session, backfill)) == 2


def test_the_queued_runs_of_a_paused_backfill_wait(session: Session) -> None:
    register(session, etl_dag())
    backfill = _backfill(session, 1, 2)
    advance_backfills(session, NOW)
    set_backfill_paused(session, backfill.id, True, now=NOW)

    assert start_queued_runs(session, NOW) == []

    set_backfill_paused(session, backfill.id, False, now=NOW)
    assert len(start_queued_runs(session, NOW)) == 2


def test_a_paused_backfill_or_dag_gets_no_new_runs_until_unpaused(session: Session) -> None:
    register(session, etl_dag())
    backfill = _backfill(session, 1, 2)

    set_backfill_paused(session, backfill.id, True, now=NOW, owner="ada")
    assert advance_backfills(session, NOW) == 0
    assert get_backfill(session, backfill.id).completed_at is None, "paused is not done"
    set_backfill_paused(session, backfill.id, False, now=NOW)
    set_paused(session, "etl", True, now=NOW)
    assert advance_backfills(session, NOW) == 0, "a paused DAG's backfill waits, as in Airflow"
    set_paused(session, "etl", False, now=NOW)
    assert advance_backfills(session, NOW) == 2

    events = session.scalars(
        select(AuditLog.event).where(AuditLog.event.like("backfill.%")).order_by(AuditLog.id)
    ).all()
    assert events == ["backfill.create", "backfill.pause", "backfill.unpause"]


def test_cancel_fails_the_queued_runs_and_lets_the_running_ones_finish(session: Session) -> None:
    register(session, etl_dag())
    backfill = _backfill(session, 1, 5, max_active_runs=3)
    advance_backfills(session, NOW)
    first, second, _third = _owned(session, backfill)
    finish_try(session, "etl", first.run_id, "extract", "running")
    set_run_state(session, first, "running")

    cancelled = cancel_backfill(session, backfill.id, now=NOW, owner="ada")

    assert (cancelled.state, cancelled.is_paused, cancelled.completed_at) == (
        "cancelled",
        True,
        None,
    )
    with pytest.raises(IllegalStateTransition, match=r"it is cancelled \(its running runs finish"):
        cancel_backfill(session, backfill.id, now=NOW)
    assert [run.state for run in _owned(session, backfill)] == ["running", "queued", "queued"], (
        "the scheduler, not the cancel, changes the runs"
    )

    assert advance_backfills(session, NOW) == 0
    assert [run.state for run in _owned(session, backfill)] == ["running", "failed", "failed"]
    assert set(states(session, "etl", second.run_id).values()) == {"skipped"}
    assert states(session, "etl", first.run_id)["extract"] == "running"
    assert get_backfill(session, backfill.id).completed_at is None, "a run is still running"
    advance_backfills(session, NOW)
    assert len(_owned(session, backfill)) == 3, "a cancelled backfill creates no run"

    _finish(session, first)
    advance_backfills(session, NOW + timedelta(minutes=1))
    finished = get_backfill(session, backfill.id)
    assert (finished.state, finished.completed_at) == ("cancelled", NOW + timedelta(minutes=1))
    assert backfill_progress(session, finished).as_dict()["cancelled"] == 2, "never reached"
    assert session.scalars(
        select(AuditLog.owner).where(AuditLog.event == "backfill.cancel")
    ).all() == ["ada"]


def test_cancelling_a_backfill_without_active_runs_completes_it_at_once(
    session: Session,
) -> None:
    register(session, etl_dag())
    backfill = _backfill(session, 1, 2)
    cancelled = cancel_backfill(session, backfill.id, now=NOW)
    assert (cancelled.state, cancelled.completed_at, cancelled.is_paused) == (
        "cancelled",
        NOW,
        True,
    )
    assert list_backfills(session, dag_id="etl", active=True) == []
    assert [row.id for row in list_backfills(session)] == [backfill.id]


def test_a_backfill_whose_dates_all_have_runs_completes_with_no_run(session: Session) -> None:
    register(session, etl_dag())
    for n in (1, 2):
        set_run_state(session, scheduled_run(session, "etl", n), "success")
    backfill = _backfill(session, 1, 2)

    assert advance_backfills(session, NOW) == 0
    done = get_backfill(session, backfill.id)
    assert (done.state, done.completed_at) == ("success", NOW)
    assert backfill_progress(session, done).as_dict()["skipped"] == 2


# -- the commands (SQLite) -----------------------------------------------------------


def _dags_backfill_parser(p: argparse.ArgumentParser) -> None:
    """The parser entry given to the lead for ``cli/main.py``."""
    p.add_argument("dag_id")
    p.add_argument("-s", "--start-date", metavar="DATE", required=True)
    p.add_argument("-e", "--end-date", metavar="DATE", required=True)
    again = p.add_mutually_exclusive_group()
    again.add_argument("--reset-dagruns", action="store_true")
    again.add_argument("--rerun-failed-tasks", action="store_true")
    again.add_argument("--reprocess-behavior", choices=("none", "failed", "completed"))
    p.add_argument("--max-active-runs", type=int, metavar="N")
    p.add_argument("-c", "--conf")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--follow", action="store_true")
    cli_main._output_arg(p)


def _backfill_id_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="BACKFILL_ID")


def _backfills_get_parser(p: argparse.ArgumentParser) -> None:
    _backfill_id_parser(p)
    cli_main._output_arg(p)


def _backfills_list_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--dag-id")
    p.add_argument("--active", action="store_true")
    cli_main._output_arg(p)


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``dags backfill`` and ``backfills`` commands, until ``cli/main.py`` has them."""
    if "backfill" not in cli_main.COMMANDS["dags"]:
        dags = dict(cli_main.COMMANDS["dags"])
        dags["backfill"] = ("backfill", _dags_backfill_parser, "backfill_command:backfill")
        monkeypatch.setitem(cli_main.COMMANDS, "dags", dags)
    if "backfills" not in cli_main.COMMANDS:
        monkeypatch.setitem(
            cli_main.COMMANDS,
            "backfills",
            {
                "list": ("list", _backfills_list_parser, "backfill_command:list_"),
                "get": ("get", _backfills_get_parser, "backfill_command:get"),
                "pause": ("pause", _backfill_id_parser, "backfill_command:pause"),
                "unpause": ("unpause", _backfill_id_parser, "backfill_command:unpause"),
                "cancel": ("cancel", _backfill_id_parser, "backfill_command:cancel"),
            },
        )


@pytest.fixture
def home(downwind_home: Path, commands: None) -> Iterator[Path]:
    """A migrated SQLite home where DAG ``etl`` is registered (paused, as new DAGs are)
    with a failed scheduled run on 2026-01-02."""
    migrate_configured_metastore()
    register_in_configured_metastore(etl_dag(), paused=True)

    def failed_run(session: Session) -> None:
        set_run_state(session, scheduled_run(session, "etl", 2), "failed")

    in_configured_metastore(failed_run)
    yield downwind_home
    dispose_engines()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_dry_run_prints_the_plan_and_changes_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(
        capsys, "dags", "backfill", "etl", "-s", "2026-01-01", "-e", "2026-01-03",
        "--rerun-failed-tasks", "--dry-run",
    )  # fmt: skip
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        "Dry run: a backfill of DAG 'etl' (reprocess behavior failed) would cover 3 logical "
        "dates from 2026-01-01T00:00:00+00:00 to 2026-01-03T00:00:00+00:00:"
    )
    assert lines[1].split() == ["logical_date", "action", "existing_run"]
    assert lines[3].split() == ["2026-01-01T00:00:00+00:00", "create", "a", "run", "-"]
    assert lines[4].split() == [
        "2026-01-02T00:00:00+00:00",
        "re-run",
        "its",
        "failed",
        "tasks",
        "scheduled__2026-01-02T00:00:00+00:00",
        "(failed)",
    ]
    assert (
        lines[-1] == "3 logical dates: 2 runs to create, 1 run to re-run, 0 runs kept. "
        "Nothing was changed."
    )
    assert (
        in_configured_metastore(lambda s: s.scalar(select(func.count()).select_from(Backfill))) == 0
    )


def test_backfill_is_recorded_then_listed_paused_and_cancelled(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(
        capsys, "dags", "backfill", "etl", "--start-date", "2026-01-01", "--end-date",
        "2026-01-03", "--max-active-runs", "2",
    )  # fmt: skip
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "Backfill 1 of DAG 'etl' created: 3 logical dates: 2 runs to create, 0 runs to re-run, "
        "1 run kept (reprocess behavior none, at most 2 runs at a time).",
        "The scheduler runs it: `downwind backfills get 1` shows its progress, "
        "`downwind backfills pause|cancel 1` pauses or cancels it.",
        "Note: DAG 'etl' is paused: the backfill starts once it is unpaused "
        "(downwind dags unpause etl).",
    ]

    status, out, _ = _run(capsys, "backfills", "list")
    assert status == 0
    header, _rule, row = out.splitlines()
    assert header.split() == [
        "id", "dag_id", "state", "from_date", "to_date", "reprocess", "done", "paused",
    ]  # fmt: skip
    assert row.split() == [
        "1", "etl", "queued", "2026-01-01T00:00:00+00:00", "2026-01-03T00:00:00+00:00",
        "none", "0/3", "no",
    ]  # fmt: skip

    assert _run(capsys, "backfills", "pause", "1") == (
        0,
        "Paused backfill 1 of DAG 'etl'.\n",
        "",
    )
    status, out, _ = _run(capsys, "backfills", "get", "1", "-o", "json")
    record = json.loads(out)
    assert (record["state"], record["is_paused"], record["max_active_runs"]) == (
        "queued",
        True,
        2,
    )
    assert record["progress"] == {
        "total": 3,
        "queued": 0,
        "running": 0,
        "success": 0,
        "failed": 0,
        "skipped": 0,
        "pending": 3,
        "cancelled": 0,
    }
    assert _run(capsys, "backfills", "unpause", "1")[1] == "Unpaused backfill 1 of DAG 'etl'.\n"
    assert _run(capsys, "backfills", "cancel", "1") == (
        0,
        "Cancelled backfill 1 of DAG 'etl'.\n",
        "",
    )
    status, out, _ = _run(capsys, "backfills", "get", "1")
    assert "state               cancelled" in out
    assert out.splitlines()[-1] == "backfill 1 (cancelled): 0 of 3 done (cancelled 3)"
    assert _run(capsys, "backfills", "list", "--active") == (0, "No backfills found.\n", "")

    audit = in_configured_metastore(
        lambda s: s.scalars(
            select(AuditLog.event).where(AuditLog.event.like("backfill.%")).order_by(AuditLog.id)
        ).all()
    )
    assert audit == ["backfill.create", "backfill.pause", "backfill.unpause", "backfill.cancel"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["dags", "backfill", "etl", "-s", "2026-01-05", "-e", "2026-01-01"],
            "error: the start date 2026-01-05T00:00:00+00:00 is after the end date "
            "2026-01-01T00:00:00+00:00\n",
        ),
        (
            ["dags", "backfill", "etl", "-s", "2026-01-32", "-e", "2026-02-01"],
            "error: invalid logical date '2026-01-32': expected YYYY-MM-DD or an ISO 8601 "
            "date-time such as 2026-01-01T06:00:00+00:00\n",
        ),
        (
            ["dags", "backfill", "etl", "-s", "2026-01-01", "-e", "2026-01-02",
             "--max-active-runs", "0"],
            "error: max_active_runs must be 1 or more, got 0\n",
        ),
        (
            ["dags", "backfill", "etl", "-s", "2026-01-01", "-e", "2026-01-02", "-c", "[1]"],
            "error: --conf must be a JSON object such as '{\"key\": 1}', got list\n",
        ),
        (["backfills", "get", "7"], "error: backfill 7 not found: `downwind backfills list` "
         "shows them\n"),
        (["backfills", "cancel", "x"], "error: invalid backfill id 'x': expected a number "
         "(see downwind backfills list)\n"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert _run(capsys, *argv) == (1, "", message)


def test_the_reprocess_flags_exclude_each_other(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _run(
        capsys, "dags", "backfill", "etl", "-s", "2026-01-01", "-e", "2026-01-02",
        "--reset-dagruns", "--rerun-failed-tasks",
    )  # fmt: skip
    assert status == 2
    assert "not allowed with argument" in err


def test_reprocess_flags_map_to_airflow_3_behaviors() -> None:
    def args(**kwargs: object) -> argparse.Namespace:
        return argparse.Namespace(**kwargs)

    assert backfill_command.reprocess_behavior(args()) == "none"
    assert backfill_command.reprocess_behavior(args(reset_dagruns=True)) == "completed"
    assert backfill_command.reprocess_behavior(args(rerun_failed_tasks=True)) == "failed"
    assert backfill_command.reprocess_behavior(args(reprocess_behavior="failed")) == "failed"


def test_follow_prints_progress_until_the_backfill_finishes(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, _ = _run(capsys, "dags", "backfill", "etl", "-s", "2026-01-01", "-e", "2026-01-01")
    assert status == 0

    def run_it(session: Session) -> None:
        session.get(DagModel, "etl").is_paused = False
        advance_backfills(session, NOW)
        (run,) = session.scalars(select(DagRun).where(DagRun.backfill_id == 1)).all()
        set_run_state(session, run, "success")
        advance_backfills(session, NOW)

    in_configured_metastore(run_it)
    assert backfill_command.follow(1, interval=0.01) == 0
    assert capsys.readouterr().out.splitlines() == [
        "backfill 1 (success): 1 of 1 done (success 1)",
        "Backfill 1 of DAG 'etl' finished: success.",
    ]


# -- end to end: the real scheduler and local executor --------------------------------


@pytest.fixture
def scheduler_runs_backfills(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until ``Scheduler.step`` calls ``advance_backfills`` itself, call it where it will:
    in the pass's transaction, just before ``start_queued_runs``."""
    if hasattr(scheduler_loop, "advance_backfills"):
        return
    original = scheduler_loop.start_queued_runs

    def start_queued_runs_after_backfills(session: Session, now: datetime) -> list[DagRun]:
        advance_backfills(session, now)
        return original(session, now)

    monkeypatch.setattr(scheduler_loop, "start_queued_runs", start_queued_runs_after_backfills)


def test_the_scheduler_runs_a_backfill_in_order_and_follow_reports_it(
    db_home: Path,
    commands: None,
    scheduler_runs_backfills: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = SchedulerEnv(db_home)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    env.write_dag(
        "daily",
        f"""
        from datetime import datetime
        from downwind import DAG
        from downwind.operators.bash import BashOperator

        with DAG("daily", start_date=datetime.fromisoformat("{yesterday.isoformat()}"),
                 schedule="@daily", catchup=False):
            BashOperator(task_id="say_ds", bash_command="echo {{{{ ds }}}}")
        """,
    )
    env.parse()
    env.unpause("daily")
    first = today - timedelta(days=10)
    monkeypatch.setattr(backfill_command, "FOLLOW_INTERVAL", 0.05)
    last = (first + timedelta(days=3)).date().isoformat()
    argv = ["dags", "backfill", "daily", "-s", first.date().isoformat(), "-e", last]
    argv += ["--max-active-runs", "2", "--follow"]
    result: list[int] = []
    follower = threading.Thread(target=lambda: result.append(main(argv)))
    follower.start()
    try:
        env.run_until(lambda session: not follower.is_alive(), timeout=60)
    finally:
        follower.join(10)

    assert result == [0]
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "Backfill 1 of DAG 'daily' finished: success."
    runs = [run for run in env.runs("daily") if run.run_type == "backfill"]
    assert [run.logical_date for run in runs] == [first + timedelta(days=n) for n in range(4)]
    assert {run.state for run in runs} == {"success"}
    assert {run.backfill_id for run in runs} == {1}
    with env.sessions() as session:
        for run in runs:
            value = session.scalar(
                select(XComModel.value).where(
                    XComModel.dag_id == "daily",
                    XComModel.run_id == run.run_id,
                    XComModel.task_id == "say_ds",
                )
            )
            assert serde.loads(value) == run.logical_date.strftime("%Y-%m-%d"), "its {{ ds }}"
    # never more than --max-active-runs 2 backfill runs at once
    for run in runs:
        overlapping = [o for o in runs if o.start_date <= run.start_date < o.end_date]
        assert len(overlapping) <= 2
    # the DAG's own (catchup=False) scheduled run was made as usual
    assert [
        (run.run_type, run.logical_date) for run in env.runs("daily") if run.run_type != "backfill"
    ] == [("scheduled", yesterday)]
    with env.sessions() as session:
        assert session.scalar(select(Backfill.state)) == "success"
        assert session.scalar(select(func.count()).select_from(TI)) == 5
