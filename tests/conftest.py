"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
