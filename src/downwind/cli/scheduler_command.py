"""``downwind scheduler``: run pipelines on their schedules.

It runs the scheduler loop with its executor and, unless
``[scheduler] standalone_dag_processor`` is set, the DAG processor in the same process
(``downwind standalone`` runs the same, see :mod:`downwind.cli.standalone_command`).
SIGINT/SIGTERM stop it cleanly: running tries are given
``[scheduler] graceful_stop_timeout`` to finish.
"""

from __future__ import annotations

import argparse
import logging
import threading
from datetime import UTC, datetime, timedelta

from downwind.cli.daemon import setup_logging, stop_on_signals
from downwind.cli.metastore_session import MetastoreNotReady, check_metastore_ready
from downwind.config import Config, get_config

log = logging.getLogger("downwind.scheduler")


def scheduler(args: argparse.Namespace) -> int:
    """Run the scheduler until stopped."""
    check_metastore_ready()
    setup_logging()
    return run_scheduler(get_config())


def run_scheduler(conf: Config) -> int:
    """Run the scheduler (executor and, unless standalone, the DAG processor) in this
    process until SIGINT/SIGTERM."""
    from downwind.dag_processing.manager import DagProcessorManager
    from downwind.executors import create_executor
    from downwind.metastore.engine import get_engine, session_factory
    from downwind.scheduler.loop import Scheduler, settings_from_config

    sessions = session_factory(get_engine())
    refuse_second_scheduler_on_sqlite(conf)
    executor = create_executor(
        conf.core.executor,
        parallelism=conf.core.parallelism,
        dags_folder=conf.core.dags_folder,
        plugins_folder=conf.core.plugins_folder,
        heartbeat_interval=conf.executor.heartbeat_interval,
        kill_grace=conf.executor.kill_grace,
        timeout_grace=conf.executor.timeout_grace,
        dag_load_timeout=conf.executor.dag_load_timeout,
        idle_worker_timeout=conf.executor.idle_worker_timeout,
    )
    processor = None
    if not conf.scheduler.standalone_dag_processor:
        processor = DagProcessorManager.from_config(conf)
    scheduler = Scheduler(
        sessions,
        executor,
        settings_from_config(conf),
        processor_step=(lambda now: processor.poll(sessions, now)) if processor else None,
    )
    stop = threading.Event()
    log.info(
        "Scheduler started: %s executor with parallelism %d%s",
        conf.core.executor,
        conf.core.parallelism,
        ", DAG processor inside" if processor else "",
    )
    try:
        with stop_on_signals(stop, "scheduler"):
            scheduler.run(stop)
    except KeyboardInterrupt:
        log.warning("Stopping at once: running tries are killed")
        executor.terminate()
        return 130
    finally:
        if processor is not None:
            processor.close()
    log.info("Scheduler stopped")
    return 0


def refuse_second_scheduler_on_sqlite(conf: Config) -> None:
    """SQLite holds one scheduler: refuse to start beside a live one."""
    from downwind.metastore.engine import get_engine, normalize_url, session_factory
    from downwind.scheduler.liveness import alive_jobs

    sessions = session_factory(get_engine())
    url = normalize_url(conf.database.url, conf.home)
    if url.get_backend_name() != "sqlite":
        return
    with sessions() as session:
        others = alive_jobs(
            session,
            "scheduler",
            datetime.now(UTC),
            timedelta(seconds=conf.scheduler.scheduler_health_check_threshold),
        )
    if others:
        job = others[0]
        raise MetastoreNotReady(
            f"another scheduler (pid {job.pid} on {job.hostname}) is running on this SQLite "
            "metastore; SQLite supports one scheduler at a time (use PostgreSQL to run "
            "several), or stop the other one first"
        )
