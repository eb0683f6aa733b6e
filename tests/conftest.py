"""Fixtures shared by every test folder."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from downwind.config import reset_config_cache


@pytest.fixture
def downwind_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty ``$DOWNWIND_HOME`` in ``tmp_path``, without the example DAGs.

    The developer's own ``DOWNWIND__*`` variables are hidden, and the cached configuration
    is dropped before and after the test, so the test sees only what it sets itself.
    """
    home = tmp_path / "downwind_home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith("DOWNWIND__"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DOWNWIND_HOME", str(home))
    monkeypatch.setenv("DOWNWIND__CORE__LOAD_EXAMPLES", "false")
    reset_config_cache()
    yield home
    reset_config_cache()


LOGICAL_DATE = datetime(2026, 1, 1, tzinfo=UTC)


class RunResult:
    """A finished in-process run and the text its console reporter printed."""

    def __init__(self, run: Any, text: str) -> None:
        self.run = run
        self.text = text

    def state(self, task_id: str) -> Any:
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
    from downwind.runner.console import ConsoleReporter
    from downwind.runner.dag_test import run_dag_in_process

    def run(dag: Any, **kwargs: Any) -> RunResult:
        stream = io.StringIO()
        kwargs.setdefault("logical_date", LOGICAL_DATE)
        result = run_dag_in_process(dag, reporter=ConsoleReporter(stream), **kwargs)
        return RunResult(result, stream.getvalue())

    return run


@pytest.fixture
def dags_folder(downwind_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``$DOWNWIND_HOME/dags``; the test's additions to ``sys.path`` and ``sys.modules``
    (helper modules of the DAG files) are undone afterwards."""
    folder = downwind_home / "dags"
    folder.mkdir()
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith(str(downwind_home)):
            del sys.modules[name]
