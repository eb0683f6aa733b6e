"""Fixtures for tests that run small DAGs in this process."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from downwind.runner.console import ConsoleReporter
from downwind.runner.dag_test import InProcessRun, run_dag_in_process
from downwind.sdk.dag import DAG
from downwind.states import TaskInstanceState

LOGICAL_DATE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated_home(downwind_home: Path) -> Path:
    """Every test here runs against an empty ``$DOWNWIND_HOME``."""
    return downwind_home


class RunResult:
    """A finished in-process run and the text its console reporter printed."""

    def __init__(self, run: InProcessRun, text: str) -> None:
        self.run = run
        self.text = text

    def state(self, task_id: str) -> TaskInstanceState | None:
        return self.run.task_instances[task_id].state

    def states(self) -> dict[str, str | None]:
        return {tid: ti.state and ti.state.value for tid, ti in self.run.task_instances.items()}

    def log(self, task_id: str) -> list[str]:
        """The log lines the reporter printed for ``task_id`` (without the prefix)."""
        lines = []
        for line in self.text.splitlines():
            prefix, sep, rest = line.partition(" | ")
            if sep and prefix.strip() == task_id:
                lines.append(rest)
        return lines


@pytest.fixture
def run_dag() -> Callable[..., RunResult]:
    """Run a DAG in this process with a console reporter writing to a string."""

    def run(dag: DAG, **kwargs: Any) -> RunResult:
        stream = io.StringIO()
        kwargs.setdefault("logical_date", LOGICAL_DATE)
        result = run_dag_in_process(dag, reporter=ConsoleReporter(stream), **kwargs)
        return RunResult(result, stream.getvalue())

    return run
