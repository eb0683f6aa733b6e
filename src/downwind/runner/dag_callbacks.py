"""DAG-level ``on_success_callback`` / ``on_failure_callback``: calling them, in this
process (``dags test``) or in a child process the scheduler starts for a finished run
(``python -m downwind.runner.dag_callbacks``): the scheduler never imports user code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from downwind.runtime import serde
from downwind.runtime.client import DagRunInfo
from downwind.sdk.dag import DAG

log = logging.getLogger("downwind.dag_callbacks")


def run_dag_callbacks(dag: DAG, run: DagRunInfo, *, failed: bool, reason: str) -> int:
    """Call the DAG's callbacks for a run that ended; return how many raised (each is
    logged; a failing callback changes nothing about the run)."""
    callbacks = dag.on_failure_callback if failed else dag.on_success_callback
    if not callbacks:
        return 0
    name = "on_failure_callback" if failed else "on_success_callback"
    context: dict[str, Any] = {
        "dag": dag,
        "dag_run": run,
        "run_id": run.run_id,
        "logical_date": run.logical_date,
        "data_interval_start": run.data_interval_start,
        "data_interval_end": run.data_interval_end,
        "ds": run.logical_date.strftime("%Y-%m-%d"),
        "reason": reason,
        "params": dag.params.resolve(run.conf),
    }
    raised = 0
    for callback in callbacks if isinstance(callbacks, list) else [callbacks]:
        try:
            callback(context)
        except Exception:
            raised += 1
            log.exception("DAG %s's %s raised an error", dag.dag_id, name)
    return raised


def encode_run(run: DagRunInfo) -> str:
    """``run`` as text for the command line of the callback process."""
    return serde.dumps(asdict(run))


def main(argv: list[str] | None = None) -> int:
    """Load the DAG file, find the DAG and call its callbacks for the run given."""
    parser = argparse.ArgumentParser(prog="python -m downwind.runner.dag_callbacks")
    parser.add_argument("--fileloc", required=True)
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--run", required=True, help="the DagRunInfo, serialized")
    parser.add_argument("--failed", action="store_true")
    parser.add_argument("--reason", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(message)s")
    from downwind.config import get_config
    from downwind.sdk.discovery import ensure_on_sys_path, import_path_folders, load_dag_file

    core = get_config().core
    ensure_on_sys_path(*import_path_folders(core.dags_folder, core.plugins_folder))
    dags, error = load_dag_file(Path(args.fileloc))
    if error is not None:
        log.error("cannot load %s to run DAG callbacks:\n%s", args.fileloc, error)
        return 1
    dag = next((d for d in dags if d.dag_id == args.dag_id), None)
    if dag is None:
        log.error(
            "%s no longer defines DAG %s: its callbacks cannot run", args.fileloc, args.dag_id
        )
        return 1
    run = DagRunInfo(**serde.loads(args.run))
    log.info("Running %s's callbacks for run %s (%s)", dag.dag_id, run.run_id, args.reason)
    return 1 if run_dag_callbacks(dag, run, failed=args.failed, reason=args.reason) else 0


if __name__ == "__main__":
    sys.exit(main())
