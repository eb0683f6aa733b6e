"""``downwind dag-processor [--once]``: keep the metastore's DAGs in step with the DAG files.

Runs the DAG processor on its own (the scheduler also runs one inside by default):
parses new and changed DAG files in child processes, stores their serialized DAGs and
import errors, and marks DAGs whose file is gone as inactive. ``--once`` parses every
file once and exits. SIGINT and SIGTERM stop it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import threading
from datetime import UTC, datetime

from downwind.cli.daemon import setup_logging, stop_on_signals
from downwind.cli.metastore_session import check_metastore_ready
from downwind.config import get_config
from downwind.dag_processing.manager import DagProcessorManager, ProcessorSummary
from downwind.metastore.engine import get_engine, session_factory

__all__ = ["run"]


def _print_summary(summary: ProcessorSummary) -> None:
    files = len(summary.files)
    errors = summary.import_errors
    dags = summary.dag_ids
    print(
        f"Parsed {files} DAG file{'' if files == 1 else 's'}: {len(dags)} "
        f"DAG{'' if len(dags) == 1 else 's'}, {len(errors)} import "
        f"error{'' if len(errors) == 1 else 's'}."
    )
    for fileloc, error in errors.items():
        lines = [line for line in error.strip().splitlines() if line.strip()]
        print(f"  {fileloc}: {lines[-1].strip() if lines else 'unknown error'}")
    if summary.deactivated:
        print(f"Now inactive (file gone): {', '.join(summary.deactivated)}")


def run(args: argparse.Namespace) -> int:
    """Run the DAG processor until stopped (or one pass with ``--once``)."""
    check_metastore_ready()
    setup_logging()
    conf = get_config()
    factory = session_factory(get_engine())
    manager = DagProcessorManager.from_config(conf)
    if getattr(args, "once", False):
        with manager:
            summary = manager.run_once(factory, datetime.now(UTC))
        _print_summary(summary)
        return 0
    log = logging.getLogger("downwind.dag_processor")
    folders = str(manager.dags_folder) + (" and the examples" if manager.include_examples else "")
    log.info(
        "DAG processor started: parsing %s with %d process(es), rescanning every %g s",
        folders,
        manager.parsing_processes,
        manager.refresh_interval.total_seconds(),
    )
    stop = threading.Event()
    with stop_on_signals(stop, "dag_processor"):
        manager.run_forever(stop, factory)
    log.info("DAG processor stopped")
    return 0
