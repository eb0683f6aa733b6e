"""``downwind dags test`` and ``downwind tasks test``: runs in this process."""

from __future__ import annotations

import argparse
import sys

from downwind.cli.arguments import parse_conf, parse_logical_date
from downwind.dag.discovery import collect_configured_dags
from downwind.states import DagRunState, TaskInstanceState


def _reporter(args: argparse.Namespace):
    from downwind.config import get_config
    from downwind.runner.console import ConsoleReporter, use_color

    wanted = not args.no_color and get_config().logging.colored_console
    return ConsoleReporter(sys.stdout, color=use_color(sys.stdout, wanted))


def test_dag(args: argparse.Namespace) -> int:
    """Run one DAG run; exit status 0 iff it succeeded."""
    from downwind.runner.dag_test import run_dag_in_process

    logical_date = parse_logical_date(args.logical_date)
    conf = parse_conf(args.conf)
    dag = collect_configured_dags().get_dag(args.dag_id)
    run = run_dag_in_process(
        dag,
        logical_date=logical_date,
        conf=conf,
        wait_retry_delay=args.wait_retry_delay,
        reporter=_reporter(args),
    )
    return 0 if run.state is DagRunState.SUCCESS else 1


def test_task(args: argparse.Namespace) -> int:
    """Run one try of one task, ignoring its dependencies; 0 iff it succeeded."""
    from downwind.runner.dag_test import run_dag_in_process

    logical_date = parse_logical_date(args.logical_date)
    conf = parse_conf(args.conf)
    dag = collect_configured_dags().get_dag(args.dag_id)
    task = dag.get_task(args.task_id)
    single = _single_task_dag(dag, task)
    run = run_dag_in_process(single, logical_date=logical_date, conf=conf, reporter=_reporter(args))
    return 0 if run.task_instances[task.task_id].state is TaskInstanceState.SUCCESS else 1


def _single_task_dag(dag, task):
    """A copy of ``dag`` holding only ``task``, without retries or dependencies."""
    import copy

    single = copy.copy(dag)
    single.task_dict = {}
    clone = copy.copy(task)
    clone.upstream_task_ids, clone.downstream_task_ids = set(), set()
    clone.retries = 0
    clone.dag = None
    single.add_task(clone)
    return single
