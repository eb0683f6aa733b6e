"""Print an in-process run's progress: a status line per task change, each task's log
lines prefixed with its task id, and a summary table at the end. Registered secrets
(:mod:`downwind.runtime.masking`) show as ``***``, in an error message too."""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from downwind.runtime.masking import redact
from downwind.states import TaskInstanceState

if TYPE_CHECKING:
    from downwind.runner.dag_test import InProcessRun, TaskInstanceRecord

TI = TaskInstanceState
_STATE_COLORS = {
    TI.RUNNING: "36",  # cyan
    TI.SUCCESS: "32",  # green
    TI.FAILED: "31",  # red
    TI.UP_FOR_RETRY: "33",  # yellow
    TI.UPSTREAM_FAILED: "38;5;208",  # orange
    TI.SKIPPED: "35",  # magenta
}
_SHOWN = frozenset(_STATE_COLORS)


def use_color(stream: TextIO, requested: bool = True) -> bool:
    """Color only for a terminal, and never when ``NO_COLOR`` is set."""
    isatty = getattr(stream, "isatty", None)
    return bool(requested and isatty is not None and isatty() and "NO_COLOR" not in os.environ)


class ConsoleReporter:
    """Writes to ``stream`` (captured when created, so task output routing skips it)."""

    def __init__(self, stream: TextIO | None = None, *, color: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.color = use_color(self.stream) if color is None else color
        self._lock = threading.Lock()
        self._width = 0

    def _paint(self, text: str, code: str | None) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color and code else text

    def _write(self, text: str) -> None:
        with self._lock:
            self.stream.write(redact(text) + "\n")
            self.stream.flush()

    def run_started(self, run: InProcessRun) -> None:
        self._width = max((len(t) for t in run.task_instances), default=4)
        self._write(
            self._paint(f"DAG {run.dag_id}", "1")
            + f"  run {run.run_id}  logical date {run.logical_date.isoformat()}"
            + f"  ({len(run.task_instances)} tasks)"
        )

    def task_started(self, run: InProcessRun, task_id: str, try_number: int) -> None:
        max_tries = run.task_instances[task_id].max_tries
        detail = f"try {try_number} of {max_tries + 1}" if max_tries else ""
        self._status(TI.RUNNING, task_id, detail)

    def _status(self, state: TaskInstanceState, task_id: str, detail: str) -> None:
        label = self._paint(f"{state.value:<15}", _STATE_COLORS[state])
        self._write(f"{'':>{self._width}}   {label} {task_id}  {detail}".rstrip())

    def task_state(self, run: InProcessRun, ti: TaskInstanceRecord) -> None:
        if ti.state not in _SHOWN or ti.state is TI.RUNNING:
            return
        detail = ""
        if ti.duration is not None and ti.state in (TI.SUCCESS, TI.FAILED, TI.UP_FOR_RETRY):
            detail = f"{ti.duration:.2f}s"
        if ti.error and ti.state in (TI.FAILED, TI.UP_FOR_RETRY):
            detail += f"  {ti.error.splitlines()[0][:200]}"
        self._status(ti.state, ti.task_id, detail)

    def task_log(self, task_id: str, line: str) -> None:
        prefix = self._paint(f"{task_id:>{self._width}}", "2")
        self._write(f"{prefix} | {line}")

    def run_finished(self, run: InProcessRun) -> None:
        rows = [
            (
                ti.task_id,
                ti.state.value if ti.state else "none",
                str(ti.try_number),
                f"{ti.duration:.2f}s" if ti.duration is not None else "-",
            )
            for ti in run.task_instances.values()
        ]
        headers = ("task", "state", "tries", "duration")
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        lines = ["", "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        for row in rows:
            state = TI(row[1]) if row[1] != "none" else None
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
            cells[1] = self._paint(cells[1], _STATE_COLORS.get(state) if state else None)
            lines.append("  ".join(cells).rstrip())
        elapsed = (run.end_date - run.start_date).total_seconds() if run.end_date else 0.0
        verdict = "succeeded" if run.state.value == "success" else "FAILED"
        code = "32" if run.state.value == "success" else "31"
        lines.append("")
        lines.append(self._paint(f"Run {run.run_id} {verdict} in {elapsed:.2f}s", code))
        self._write("\n".join(lines))
