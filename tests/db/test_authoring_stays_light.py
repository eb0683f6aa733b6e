"""Importing downwind and loading DAG files never imports the metastore's libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import json, sys
import downwind
from downwind.sdk.discovery import EXAMPLE_DAGS_FOLDER, load_dag_file
import downwind.runner.task_runner, downwind.runner.dag_test, downwind.runtime.memory
for path in sorted(EXAMPLE_DAGS_FOLDER.glob("*.py")):
    load_dag_file(path)
heavy = ("sqlalchemy", "alembic", "psycopg", "downwind.metastore")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))
"""


def test_dag_files_and_the_task_runner_import_no_database_code(downwind_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
