"""A ``$DOWNWIND_HOME`` with a dags folder the test writes DAG files into."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

WriteDag = Callable[[str, str], Path]


@pytest.fixture
def dags_folder(downwind_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``$DOWNWIND_HOME/dags``, no ``DOWNWIND_VAR_*``/``NO_COLOR`` from the developer; the
    test's additions to ``sys.path`` and ``sys.modules`` are undone afterwards."""
    for name in list(os.environ):
        if name.startswith("DOWNWIND_VAR_") or name == "NO_COLOR":
            monkeypatch.delenv(name)
    folder = downwind_home / "dags"
    folder.mkdir()
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith(str(downwind_home)):
            del sys.modules[name]


@pytest.fixture
def write_dag(dags_folder: Path) -> WriteDag:
    """Write ``dags/<name>`` (dedented)."""

    def write(name: str, text: str) -> Path:
        path = dags_folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
