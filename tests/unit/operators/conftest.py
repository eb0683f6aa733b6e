"""Every test here runs small DAGs in this process against an empty ``$DOWNWIND_HOME``
(the ``run_dag`` fixture is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(downwind_home: Path) -> Path:
    return downwind_home
