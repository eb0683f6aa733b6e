"""``downwind tasks states-for-dag-run|state|set-state|list-tries|clear``: task instances
in the metastore."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from downwind.cli.arguments import parse_logical_date
from downwind.cli.metastore_session import cli_user, metastore_session, now
from downwind.cli.output import print_json, print_table
from downwind.cli.runs_command import cell, iso
from downwind.exceptions import DownwindException
from downwind.metastore.models import TaskInstance, TaskInstanceHistory
from downwind.services.clear import clear_task_instances
from downwind.services.task_instances import (
    get_task_instance,
    list_task_instance_tries,
    list_task_instances,
    set_task_instance_state,
)


def _state(value: str | None) -> str:
    """A state for people: ``none`` when there is none yet."""
    return value or "none"


def _map_index(text: str | None) -> int:
    if text is None:
        return -1
    try:
        return int(text)
    except ValueError:
        raise DownwindException(f"invalid map index {text!r}: expected a whole number") from None


def _ti_record(ti: TaskInstance | TaskInstanceHistory) -> dict[str, Any]:
    return {
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "state": ti.state,
        "try_number": ti.try_number,
        "max_tries": ti.max_tries,
        "operator": ti.operator,
        "pool": ti.pool,
        "priority_weight": ti.priority_weight,
        "hostname": ti.hostname,
        "queued_dttm": iso(ti.queued_dttm),
        "start_date": iso(ti.start_date),
        "end_date": iso(ti.end_date),
        "duration": ti.duration,
    }


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}s"


def _print_tis(tis: Sequence[TaskInstance]) -> None:
    mapped = any(ti.map_index != -1 for ti in tis)
    headers = ["task_id", *(["map_index"] if mapped else []), "state", "try"]
    headers += ["start_date", "end_date", "duration"]
    rows = []
    for ti in tis:
        row = [ti.task_id, *([str(ti.map_index)] if mapped else [])]
        row += [_state(ti.state), str(ti.try_number)]
        row += [cell(ti.start_date), cell(ti.end_date), _duration(ti.duration)]
        rows.append(row)
    print_table(headers, rows)


def _snapshot(tis: Sequence[TaskInstance]) -> tuple[list[str], list[list[str]]]:
    """A table naming each task instance to clear and its state before the clear."""
    mapped = any(ti.map_index != -1 for ti in tis)
    headers = ["run_id", "task_id", *(["map_index"] if mapped else []), "state"]
    rows = [
        [ti.run_id, ti.task_id, *([str(ti.map_index)] if mapped else []), _state(ti.state)]
        for ti in tis
    ]
    return headers, rows


def states_for_dag_run(args: argparse.Namespace) -> int:
    """The state of every task instance of a run, in task order."""
    with metastore_session() as session:
        tis = list_task_instances(session, args.dag_id, args.run_id)
    if args.output == "json":
        print_json([_ti_record(ti) for ti in tis])
    elif not tis:
        print(f"Run {args.run_id} of DAG '{args.dag_id}' has no task instances.")
    else:
        _print_tis(tis)
    return 0


def task_state(args: argparse.Namespace) -> int:
    """Print the state of one task instance (``none`` before it is scheduled)."""
    map_index = _map_index(args.map_index)
    with metastore_session() as session:
        ti = get_task_instance(session, args.dag_id, args.run_id, args.task_id, map_index)
    print(_state(ti.state))
    return 0


def set_task_state(args: argparse.Namespace) -> int:
    """Mark one task instance success, failed or skipped."""
    map_index = _map_index(args.map_index)
    with metastore_session(write=True) as session:
        ti = set_task_instance_state(
            session,
            args.dag_id,
            args.run_id,
            args.task_id,
            args.state,
            map_index=map_index,
            now=now(),
            owner=cli_user(),
        )
    print(f"Marked task '{ti.task_id}' of run {ti.run_id} of DAG '{ti.dag_id}' {ti.state}.")
    return 0


def list_tries(args: argparse.Namespace) -> int:
    """Every try of one task instance, first to last."""
    map_index = _map_index(args.map_index)
    with metastore_session() as session:
        tries = list_task_instance_tries(session, args.dag_id, args.run_id, args.task_id, map_index)
    if args.output == "json":
        print_json([_ti_record(row) for row in tries])
    elif not tries:
        print(f"Task '{args.task_id}' of run {args.run_id} has not been tried yet.")
    else:
        print_table(
            ["try", "state", "start_date", "end_date", "duration", "hostname"],
            [
                [
                    str(row.try_number),
                    _state(row.state),
                    cell(row.start_date),
                    cell(row.end_date),
                    _duration(row.duration),
                    cell(row.hostname),
                ]
                for row in tries
            ],
        )
    return 0


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _confirmed(count: int) -> bool:
    try:
        answer = input(f"Clear {_plural(count, 'task instance')}? [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def clear(args: argparse.Namespace) -> int:
    """Clear task instances so that the scheduler runs them again; shows them and asks
    first unless ``--yes``."""
    options: dict[str, Any] = {
        "run_ids": args.run_id,
        "task_regex": args.task_regex,
        "only_failed": args.only_failed,
        "downstream": args.downstream,
        "upstream": args.upstream,
        "start_date": parse_logical_date(args.start_date),
        "end_date": parse_logical_date(args.end_date),
    }
    if not args.yes:
        with metastore_session() as session:
            planned = clear_task_instances(session, args.dag_id, dry_run=True, now=now(), **options)
        if not planned:
            print("No task instances to clear.")
            return 0
        print(f"Task instances to clear ({len(planned)}):")
        print_table(*_snapshot(planned))
        if not sys.stdin.isatty():
            print(
                f"error: refusing to clear {_plural(len(planned), 'task instance')} without "
                "confirmation: stdin is not a terminal; pass --yes to clear them",
                file=sys.stderr,
            )
            return 1
        if not _confirmed(len(planned)):
            print("Nothing was cleared.")
            return 1
    with metastore_session(write=True) as session:
        before = _snapshot(
            clear_task_instances(session, args.dag_id, dry_run=True, now=now(), **options)
        )
        cleared = clear_task_instances(session, args.dag_id, now=now(), owner=cli_user(), **options)
    if not cleared:
        print("No task instances to clear.")
        return 0
    if args.yes:
        print(f"Cleared task instances ({len(cleared)}):")
        print_table(*before)
    runs = len({ti.run_id for ti in cleared})
    print(
        f"Cleared {_plural(len(cleared), 'task instance')} in {_plural(runs, 'run')} of DAG "
        f"'{args.dag_id}'; the scheduler will run {'it' if len(cleared) == 1 else 'them'} again."
    )
    return 0
