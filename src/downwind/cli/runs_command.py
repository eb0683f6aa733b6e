"""``downwind dags trigger|pause|unpause|list-runs|state|set-state``: DAGs and their runs
in the metastore."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from downwind.cli.arguments import parse_conf, parse_logical_date
from downwind.cli.metastore_session import cli_user, metastore_session, now
from downwind.cli.output import print_json, print_table
from downwind.metastore.models import DagRun
from downwind.services.dags import get_dag_model, set_paused
from downwind.services.runs import (
    get_dag_run,
    list_dag_runs,
    set_dag_run_state,
    trigger_dag_run,
)


def iso(value: datetime | None) -> str | None:
    """``value`` as ISO 8601 text (``None`` stays ``None``), for JSON output."""
    return None if value is None else value.isoformat()


def cell(value: Any) -> str:
    """A table cell: ``-`` for nothing, ISO 8601 to the second for a time, else text."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def run_record(run: DagRun) -> dict[str, Any]:
    """A run as the JSON output shows it."""
    return {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "state": run.state,
        "run_type": run.run_type,
        "logical_date": iso(run.logical_date),
        "data_interval_start": iso(run.data_interval_start),
        "data_interval_end": iso(run.data_interval_end),
        "run_after": iso(run.run_after),
        "queued_at": iso(run.queued_at),
        "start_date": iso(run.start_date),
        "end_date": iso(run.end_date),
        "conf": run.conf,
        "triggered_by": run.triggered_by,
        "clear_number": run.clear_number,
        "dag_version_id": run.dag_version_id,
    }


def trigger(args: argparse.Namespace) -> int:
    """Create a manual run; the scheduler runs it (once the DAG is unpaused)."""
    logical_date = parse_logical_date(args.logical_date)
    conf = parse_conf(args.conf)
    with metastore_session(write=True) as session:
        run = trigger_dag_run(
            session,
            args.dag_id,
            logical_date=logical_date,
            conf=conf,
            run_id=args.run_id,
            triggered_by="cli",
            now=now(),
            owner=cli_user(),
        )
        paused = get_dag_model(session, args.dag_id).is_paused
    if args.output == "json":
        print_json(run_record(run))
        return 0
    print(
        f"Triggered DAG '{run.dag_id}': run {run.run_id} (logical date "
        f"{iso(run.logical_date)}) is queued."
    )
    if paused:
        print(
            f"Note: DAG '{run.dag_id}' is paused: the run starts once it is unpaused "
            f"(downwind dags unpause {run.dag_id})."
        )
    return 0


def _set_paused(args: argparse.Namespace, paused: bool) -> int:
    with metastore_session(write=True) as session:
        set_paused(session, args.dag_id, paused, now=now(), owner=cli_user())
    print(f"{'Paused' if paused else 'Unpaused'} DAG '{args.dag_id}'.")
    return 0


def pause(args: argparse.Namespace) -> int:
    """Pause a DAG: the scheduler creates and starts no runs of it."""
    return _set_paused(args, True)


def unpause(args: argparse.Namespace) -> int:
    """Unpause a DAG: the scheduler runs it on its schedule again."""
    return _set_paused(args, False)


def list_runs(args: argparse.Namespace) -> int:
    """The runs of a DAG, newest logical date first."""
    start = parse_logical_date(args.start_date)
    end = parse_logical_date(args.end_date)
    with metastore_session() as session:
        runs = list_dag_runs(
            session,
            args.dag_id,
            state=args.state,
            run_type=args.run_type,
            start_date=start,
            end_date=end,
        )
    if args.output == "json":
        print_json([run_record(run) for run in runs])
    elif not runs:
        print(f"No runs of DAG '{args.dag_id}' found.")
    else:
        print_table(
            ["run_id", "state", "run_type", "logical_date", "start_date", "end_date"],
            [
                [
                    run.run_id,
                    run.state,
                    run.run_type,
                    cell(run.logical_date),
                    cell(run.start_date),
                    cell(run.end_date),
                ]
                for run in runs
            ],
        )
    return 0


def run_state(args: argparse.Namespace) -> int:
    """Print the state of one run."""
    with metastore_session() as session:
        run = get_dag_run(session, args.dag_id, args.run_id)
    print(run.state)
    return 0


def set_run_state(args: argparse.Namespace) -> int:
    """Mark a run success or failed, with its unfinished task instances."""
    with metastore_session(write=True) as session:
        run = set_dag_run_state(
            session, args.dag_id, args.run_id, args.state, now=now(), owner=cli_user()
        )
    print(f"Marked run {run.run_id} of DAG '{run.dag_id}' {run.state}.")
    return 0
