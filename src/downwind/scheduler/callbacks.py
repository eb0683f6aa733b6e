"""Start DAG-level callbacks of finished runs in child processes.

The scheduler never imports user code: for a run that ended, it starts
``python -m downwind.runner.dag_callbacks`` (which loads the DAG file and calls the
callbacks), writes its output to ``<base_log_folder>/dag_id=<d>/run_id=<r>/
dag_callbacks.log``, and kills it if it takes longer than the time limit.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from downwind.runner.dag_callbacks import encode_run
from downwind.runtime.client import DagRunInfo

log = logging.getLogger("downwind.scheduler")


@dataclass
class _Started:
    process: subprocess.Popen[bytes]
    output: IO[bytes]
    deadline: float
    label: str


class DagCallbackLauncher:
    """Runs DAG callbacks next to the scheduler, at most ``timeout`` seconds each."""

    def __init__(self, base_log_folder: Path, timeout: float = 60.0) -> None:
        self.base_log_folder = Path(base_log_folder)
        self.timeout = timeout
        self._started: list[_Started] = []

    def launch(self, fileloc: str, run: DagRunInfo, *, failed: bool, reason: str) -> Path:
        """Start the callbacks of ``run``; return the path of their log."""
        folder = self.base_log_folder / f"dag_id={run.dag_id}" / f"run_id={run.run_id}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "dag_callbacks.log"
        output = path.open("ab")
        command = [
            sys.executable,
            "-m",
            "downwind.runner.dag_callbacks",
            "--fileloc",
            fileloc,
            "--dag-id",
            run.dag_id,
            "--run",
            encode_run(run),
            "--reason",
            reason,
        ]
        if failed:
            command.append("--failed")
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        label = f"{'on_failure' if failed else 'on_success'} callback of {run.dag_id} {run.run_id}"
        self._started.append(_Started(process, output, time.monotonic() + self.timeout, label))
        log.info("Started the %s (log: %s)", label, path)
        return path

    def reap(self) -> None:
        """Collect the callbacks that ended; kill those past their time limit."""
        still = []
        now = time.monotonic()
        for started in self._started:
            code = started.process.poll()
            if code is None and now > started.deadline:
                log.warning("The %s ran past %g s: killed", started.label, self.timeout)
                started.process.kill()
                code = started.process.wait()
            if code is None:
                still.append(started)
                continue
            started.output.close()
            if code != 0:
                log.warning("The %s failed (exit status %d): see its log", started.label, code)
        self._started = still

    def close(self, wait: float = 5.0) -> None:
        """Give running callbacks ``wait`` seconds, then kill them."""
        deadline = time.monotonic() + wait
        while self._started and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        for started in self._started:
            started.process.kill()
            started.process.wait()
            started.output.close()
        self._started = []
