"""``downwind dags backfill`` and ``downwind backfills list|get|pause|unpause|cancel``:
run a DAG over past logical dates, through the scheduler."""

from __future__ import annotations

import argparse
import threading
from typing import Any

from downwind.cli.arguments import parse_conf, parse_logical_date
from downwind.cli.daemon import stop_on_signals
from downwind.cli.metastore_session import cli_user, metastore_session, now
from downwind.cli.output import print_json, print_table
from downwind.cli.runs_command import cell, iso
from downwind.exceptions import DownwindException
from downwind.metastore.models import Backfill
from downwind.services.backfills import (
    DEFAULT_MAX_ACTIVE_RUNS,
    BackfillPlan,
    BackfillProgress,
    PlannedRun,
    backfill_progress,
    cancel_backfill,
    create_backfill,
    get_backfill,
    list_backfills,
    set_backfill_paused,
)
from downwind.services.dags import get_dag_model

#: seconds between two looks at a followed backfill
FOLLOW_INTERVAL = 1.0

_ACTION_TEXT = {
    "create": "create a run",
    "rerun_failed": "re-run its failed tasks",
    "rerun": "re-run every task",
    "skip_exists": "keep the existing run",
    "skip_in_flight": "keep the run in flight",
}


def reprocess_behavior(args: argparse.Namespace) -> str:
    """The reprocess behaviour the flags ask for: ``--reset-dagruns`` is ``completed``
    (every existing run runs again), ``--rerun-failed-tasks`` is ``failed``, neither is
    ``none``; ``--reprocess-behavior`` names one directly (Airflow 3's option)."""
    implied = (
        "completed"
        if getattr(args, "reset_dagruns", False)
        else "failed"
        if getattr(args, "rerun_failed_tasks", False)
        else None
    )
    explicit = getattr(args, "reprocess_behavior", None)
    if explicit is not None and implied is not None and explicit != implied:
        flag = "--reset-dagruns" if implied == "completed" else "--rerun-failed-tasks"
        raise DownwindException(
            f"{flag} means --reprocess-behavior {implied}, not {explicit}: give one of them"
        )
    return explicit or implied or "none"


def _required_date(text: str | None, option: str) -> Any:
    if text is None:
        raise DownwindException(f"{option} DATE is required")
    return parse_logical_date(text)


def backfill_record(progress: BackfillProgress) -> dict[str, Any]:
    """A backfill as the JSON output shows it."""
    backfill = progress.backfill
    return {
        "id": backfill.id,
        "dag_id": backfill.dag_id,
        "from_date": iso(backfill.from_date),
        "to_date": iso(backfill.to_date),
        "reprocess_behavior": backfill.reprocess_behavior,
        "max_active_runs": backfill.max_active_runs,
        "is_paused": backfill.is_paused,
        "state": backfill.state,
        "dag_run_conf": backfill.dag_run_conf,
        "created_at": iso(backfill.created_at),
        "completed_at": iso(backfill.completed_at),
        "progress": progress.as_dict(),
    }


def _planned_record(run: PlannedRun) -> dict[str, Any]:
    return {
        "logical_date": iso(run.logical_date),
        "data_interval_start": iso(run.data_interval.start),
        "data_interval_end": iso(run.data_interval.end),
        "action": run.action,
        "existing_run_id": run.existing_run_id,
        "existing_state": run.existing_state,
    }


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _summary(plan: BackfillPlan) -> str:
    counts = plan.counts
    parts = [
        f"{_plural(counts['create'], 'run')} to create",
        f"{_plural(counts['rerun_failed'] + counts['rerun'], 'run')} to re-run",
        f"{_plural(counts['skip_exists'] + counts['skip_in_flight'], 'run')} kept",
    ]
    return f"{_plural(len(plan.runs), 'logical date')}: {', '.join(parts)}"


def _print_plan(plan: BackfillPlan) -> None:
    print_table(
        ["logical_date", "action", "existing_run"],
        [
            [
                cell(run.logical_date),
                _ACTION_TEXT[run.action],
                f"{run.existing_run_id} ({run.existing_state})" if run.existing_run_id else "-",
            ]
            for run in plan.runs
        ],
    )


def _progress_line(progress: BackfillProgress) -> str:
    """``backfill 3 (running): 2 of 5 done (success 2, running 1, pending 2)``."""
    counts = progress.as_dict()
    detail = ", ".join(
        f"{key} {counts[key]}"
        for key in ("success", "failed", "running", "queued", "pending", "skipped", "cancelled")
        if counts[key]
    )
    row = progress.backfill
    paused = ", paused" if row.is_paused and row.state in ("queued", "running") else ""
    return f"backfill {row.id} ({row.state}{paused}): {progress.done} of {progress.total} done" + (
        f" ({detail})" if detail else ""
    )


def backfill(args: argparse.Namespace) -> int:
    """Record a backfill for the scheduler to run (or, with ``--dry-run``, print what it
    would do); with ``--follow``, print its progress until it finishes."""
    start = _required_date(args.start_date, "--start-date")
    end = _required_date(args.end_date, "--end-date")
    behavior = reprocess_behavior(args)
    max_active = getattr(args, "max_active_runs", None)
    conf = parse_conf(getattr(args, "conf", None))
    output = getattr(args, "output", "table")
    with metastore_session(write=not args.dry_run) as session:
        plan = create_backfill(
            session,
            args.dag_id,
            from_date=start,
            to_date=end,
            reprocess_behavior=behavior,
            max_active_runs=DEFAULT_MAX_ACTIVE_RUNS if max_active is None else max_active,
            conf=conf,
            dry_run=args.dry_run,
            now=now(),
            owner=cli_user(),
        )
        paused = get_dag_model(session, args.dag_id).is_paused
        progress = backfill_progress(session, plan.backfill) if plan.backfill else None
    if output == "json":
        record: dict[str, Any] = backfill_record(progress) if progress else {"dry_run": True}
        record["plan"] = [_planned_record(run) for run in plan.runs]
        print_json(record)
    elif plan.backfill is None:
        first, last = plan.runs[0].logical_date, plan.runs[-1].logical_date
        print(
            f"Dry run: a backfill of DAG '{args.dag_id}' (reprocess behavior {behavior}) "
            f"would cover {_plural(len(plan.runs), 'logical date')} from "
            f"{iso(first)} to {iso(last)}:"
        )
        _print_plan(plan)
        print(f"{_summary(plan)}. Nothing was changed.")
        return 0
    else:
        created = plan.backfill
        print(
            f"Backfill {created.id} of DAG '{created.dag_id}' created: {_summary(plan)} "
            f"(reprocess behavior {created.reprocess_behavior}, at most "
            f"{_plural(created.max_active_runs, 'run')} at a time)."
        )
        print(
            f"The scheduler runs it: `downwind backfills get {created.id}` shows its progress, "
            f"`downwind backfills pause|cancel {created.id}` pauses or cancels it."
        )
        if paused:
            print(
                f"Note: DAG '{created.dag_id}' is paused: the backfill starts once it is "
                f"unpaused (downwind dags unpause {created.dag_id})."
            )
    if plan.backfill is not None and getattr(args, "follow", False):
        return follow(plan.backfill.id)
    return 0


def follow(backfill_id: int, *, interval: float | None = None) -> int:
    """Print a line each time the backfill's progress changes, until it finishes (exit
    status 0 if it succeeded, 1 if it failed or was cancelled) or SIGINT/SIGTERM (130;
    the backfill goes on)."""
    interval = FOLLOW_INTERVAL if interval is None else interval
    stop = threading.Event()
    last = ""
    with stop_on_signals(stop, "backfill"):
        while True:
            with metastore_session() as session:
                progress = backfill_progress(session, get_backfill(session, backfill_id))
            line = _progress_line(progress)
            if line != last:
                print(line, flush=True)
                last = line
            backfill_row = progress.backfill
            if backfill_row.completed_at is not None:
                print(
                    f"Backfill {backfill_row.id} of DAG '{backfill_row.dag_id}' finished: "
                    f"{backfill_row.state}."
                )
                return 0 if backfill_row.state == "success" else 1
            if stop.wait(interval):
                print(f"Stopped following backfill {backfill_id}; it goes on in the scheduler.")
                return 130


def _backfill_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DownwindException(
            f"invalid backfill id {text!r}: expected a number (see downwind backfills list)"
        ) from None


def list_(args: argparse.Namespace) -> int:
    """The backfills, newest first."""
    with metastore_session() as session:
        rows = list_backfills(
            session, dag_id=getattr(args, "dag_id", None), active=getattr(args, "active", False)
        )
        progresses = [backfill_progress(session, row) for row in rows]
    if args.output == "json":
        print_json([backfill_record(progress) for progress in progresses])
    elif not progresses:
        print("No backfills found.")
    else:
        print_table(
            ["id", "dag_id", "state", "from_date", "to_date", "reprocess", "done", "paused"],
            [_row(progress) for progress in progresses],
        )
    return 0


def _row(progress: BackfillProgress) -> list[str]:
    backfill: Backfill = progress.backfill
    return [
        str(backfill.id),
        backfill.dag_id,
        backfill.state,
        cell(backfill.from_date),
        cell(backfill.to_date),
        backfill.reprocess_behavior,
        f"{progress.done}/{progress.total}",
        "yes" if backfill.is_paused else "no",
    ]


def get(args: argparse.Namespace) -> int:
    """One backfill and its progress."""
    with metastore_session() as session:
        progress = backfill_progress(session, get_backfill(session, _backfill_id(args.id)))
    if getattr(args, "output", "table") == "json":
        print_json(backfill_record(progress))
        return 0
    backfill_row = progress.backfill
    print_table(
        ["field", "value"],
        [
            ["id", str(backfill_row.id)],
            ["dag_id", backfill_row.dag_id],
            ["state", backfill_row.state],
            ["from_date", cell(backfill_row.from_date)],
            ["to_date", cell(backfill_row.to_date)],
            ["reprocess_behavior", backfill_row.reprocess_behavior],
            ["max_active_runs", str(backfill_row.max_active_runs)],
            ["paused", "yes" if backfill_row.is_paused else "no"],
            ["created_at", cell(backfill_row.created_at)],
            ["completed_at", cell(backfill_row.completed_at)],
        ],
    )
    print(_progress_line(progress))
    return 0


def _set_paused(args: argparse.Namespace, paused: bool) -> int:
    with metastore_session(write=True) as session:
        row = set_backfill_paused(
            session, _backfill_id(args.id), paused, now=now(), owner=cli_user()
        )
    print(f"{'Paused' if paused else 'Unpaused'} backfill {row.id} of DAG '{row.dag_id}'.")
    return 0


def pause(args: argparse.Namespace) -> int:
    """Pause a backfill: no new run of it is created or started."""
    return _set_paused(args, True)


def unpause(args: argparse.Namespace) -> int:
    """Unpause a backfill: the scheduler goes on with it."""
    return _set_paused(args, False)


def cancel(args: argparse.Namespace) -> int:
    """Cancel a backfill: its queued runs fail, its running runs finish."""
    with metastore_session(write=True) as session:
        row = cancel_backfill(session, _backfill_id(args.id), now=now(), owner=cli_user())
        finished = row.completed_at is not None
    tail = (
        "."
        if finished
        else ": the scheduler marks its queued runs failed and lets its running runs finish."
    )
    print(f"Cancelled backfill {row.id} of DAG '{row.dag_id}'{tail}")
    return 0
