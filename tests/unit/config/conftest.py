from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from downwind.config import reset_config_cache


@pytest.fixture(autouse=True)
def _clean_config_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's own DOWNWIND__* variables, home, or a cached config."""
    for name in list(os.environ):
        if name.startswith("DOWNWIND__") or name == "DOWNWIND_HOME":
            monkeypatch.delenv(name)
    reset_config_cache()
    yield
    reset_config_cache()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty ``$DOWNWIND_HOME``."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def write_toml(home: Path) -> Callable[[str], Path]:
    """Write ``downwind.toml`` in ``home``; returns its path."""

    def write(text: str) -> Path:
        path = home / "downwind.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
