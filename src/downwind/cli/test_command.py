"""``downwind dags test`` and ``downwind tasks test``: runs in this process."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from downwind.cli.arguments import parse_conf, parse_logical_date
from downwind.sdk.discovery import collect_configured_dags
from downwind.states import DagRunState, TaskInstanceState

if TYPE_CHECKING:
    from downwind.runner.console import ConsoleReporter


def _reporter(args: argparse.Namespace) -> ConsoleReporter:
    """Colors only on a terminal, and never with ``--no-color``, ``NO_COLOR`` or
    ``[logging] colored_console = false``."""
    from downwind.config import get_config
    from downwind.runner.console import ConsoleReporter, use_color

    wanted = (
        not args.no_color
        and not os.environ.get("NO_COLOR")
        and get_config().logging.colored_console
    )
    return ConsoleReporter(sys.stdout, color=use_color(sys.stdout, wanted))


def test_dag(args: argparse.Namespace) -> int:
    """Run one DAG run; exit status 0 iff it succeeded."""
    from downwind.runner.dag_test import run_dag_in_process

    logical_date = parse_logical_date(args.logical_date)
    conf = parse_conf(args.conf)
    dag = collect_configured_dags().get_dag(args.dag_id)
    sessions = None if args.no_db else _ready_sessions()
    run = run_dag_in_process(
        dag,
        logical_date=logical_date,
        conf=conf,
        wait_retry_delay=args.wait_retry_delay,
        reporter=_reporter(args),
        store=_store_from_metastore(sessions) if sessions else None,
    )
    if sessions is not None:
        _record(sessions, dag, run)
    return 0 if run.state is DagRunState.SUCCESS else 1


def _ready_sessions():
    from downwind.cli.metastore_session import ready_session_factory

    return ready_session_factory()


def _store_from_metastore(sessions):
    """Variables and connections for the test: the environment first, then the metastore."""
    from downwind.runtime.memory import InMemoryStore
    from downwind.services.connections import list_connections
    from downwind.services.variables import list_variables

    with sessions() as session:
        variables = {v.key: v.val for v in list_variables(session) if v.val is not None}
        connections = {c.conn_id: c for c in list_connections(session)}
    return InMemoryStore(variables=variables, connections=connections)


def _record(sessions, dag, run) -> None:
    from downwind.cli.metastore_session import now
    from downwind.config import get_config
    from downwind.services.test_runs import record_test_run

    with sessions.begin() as session:
        record_test_run(
            session,
            dag,
            run,
            now=now(),
            paused_at_creation=get_config().core.dags_are_paused_at_creation,
        )
    print(f"Recorded as run {run.run_id} in the metastore (--no-db to skip).", file=sys.stderr)


def test_task(args: argparse.Namespace) -> int:
    """Run one try of one task, ignoring its dependencies and retries (its upstream
    tasks do not run, so their XComs are empty); exit status 0 iff it succeeded."""
    from downwind.runner.dag_test import (
        InProcessRun,
        TaskInstanceRecord,
        TryRecord,
        new_run_info,
    )
    from downwind.runner.log_capture import TaskLogCapture
    from downwind.runner.task_runner import run_task_try
    from downwind.runtime.client import StartInfo, TaskInstanceKey, TaskOutcome
    from downwind.runtime.memory import InMemoryClient, InMemoryStore

    logical_date = parse_logical_date(args.logical_date)
    conf = parse_conf(args.conf)
    dag = collect_configured_dags().get_dag(args.dag_id)
    task = dag.get_task(args.task_id)
    info = new_run_info(dag, logical_date, conf)
    ti = TaskInstanceRecord(task_id=task.task_id, max_tries=0)
    run = InProcessRun(
        dag_id=dag.dag_id, info=info, store=InMemoryStore(), task_instances={task.task_id: ti}
    )
    reporter = _reporter(args)

    class _Client(InMemoryClient):
        def start(self) -> StartInfo:
            start = super().start()
            ti.try_number, ti.state, ti.start_date = 1, TaskInstanceState.RUNNING, _now()
            reporter.task_started(run, task.task_id, 1)
            return start

    client = _Client(
        TaskInstanceKey(dag.dag_id, info.run_id, task.task_id),
        run.store,
        StartInfo(info, 1, 0),
    )
    run.state, run.start_date = DagRunState.RUNNING, _now()
    reporter.run_started(run)
    capture = TaskLogCapture(reporter.task_log)
    with capture, capture.task(task.task_id):
        try:
            outcome = run_task_try(task, client, test_mode=True)
        except Exception as err:  # the runner itself broke: still report the try
            outcome = TaskOutcome(TaskInstanceState.FAILED, error=f"{type(err).__name__}: {err}")
    ti.end_date, ti.error = _now(), outcome.error
    ti.state = outcome.state
    ti.tries.append(TryRecord(1, outcome.state, ti.start_date, ti.end_date, outcome.error))
    reporter.task_state(run, ti)
    succeeded = outcome.state is TaskInstanceState.SUCCESS
    run.state = DagRunState.SUCCESS if succeeded else DagRunState.FAILED
    run.end_date = _now()
    reporter.run_finished(run)
    return 0 if succeeded else 1


def _now() -> datetime:
    return datetime.now(UTC)
