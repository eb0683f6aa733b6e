"""A ``$DOWNWIND_HOME`` with a dags folder the test writes DAG files into."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

WriteDag = Callable[[str, str], Path]


@pytest.fixture
def dags_folder(dags_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared ``dags_folder`` (tests/conftest.py), without the developer's
    ``DOWNWIND_VAR_*`` and ``NO_COLOR``."""
    for name in list(os.environ):
        if name.startswith("DOWNWIND_VAR_") or name == "NO_COLOR":
            monkeypatch.delenv(name)
    return dags_folder


@pytest.fixture
def write_dag(dags_folder: Path) -> WriteDag:
    """Write ``dags/<name>`` (dedented)."""

    def write(name: str, text: str) -> Path:
        path = dags_folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
