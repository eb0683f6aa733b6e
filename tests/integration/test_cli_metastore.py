"""The metastore commands in real processes: ``python -m downwind ...`` on a home the test
writes, the DAG registered as the DAG processor does (from its file, by a small script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAG_FILE = """\
from datetime import datetime, timezone
from downwind import DAG
from downwind.operators.bash import BashOperator
from downwind.sdk.params import Param

with DAG(
    "nightly",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    schedule="@daily",
    params={"rows": Param(10, type="integer", minimum=1)},
) as dag:
    fetch = BashOperator(task_id="fetch", bash_command="echo fetch", retries=1)
    load = BashOperator(task_id="load", bash_command="echo load")
    notify = BashOperator(task_id="notify", bash_command="echo done")
    fetch >> load >> notify
"""

# What the DAG processor does with a parsed file, until it runs in these tests.
REGISTER = """\
from datetime import UTC, datetime
from downwind.config import get_config
from downwind.metastore.engine import session_factory
from downwind.sdk.discovery import collect_configured_dags
from downwind.sdk.serialization import serialize_dag
from downwind.services.dag_registry import ParsedDag, record_parsed_file

bag = collect_configured_dags()
assert not bag.import_errors, bag.import_errors
with session_factory()() as session, session.begin():
    for dag in bag.dags.values():
        record_parsed_file(
            session,
            fileloc=dag.fileloc,
            dags=[ParsedDag(serialize_dag(dag))],
            import_error=None,
            now=datetime.now(UTC),
            paused_at_creation=get_config().core.dags_are_paused_at_creation,
        )
print("registered", sorted(bag.dags))
"""

RUN = "manual__2026-01-05T00:00:00+00:00"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "nightly.py").write_text(DAG_FILE, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DOWNWIND")}
    environ |= {"DOWNWIND_HOME": str(home), "DOWNWIND__CORE__LOAD_EXAMPLES": "false"}
    return environ


def downwind(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "downwind", *args],
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _migrate_and_register(env: dict[str, str]) -> None:
    assert downwind(env, "db", "migrate").returncode == 0
    registered = subprocess.run(
        [sys.executable, "-c", REGISTER], env=env, capture_output=True, text=True, timeout=60
    )
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout == "registered ['nightly']\n"


def test_migrate_then_trigger_with_conf_and_see_the_run_queued(env: dict[str, str]) -> None:
    _migrate_and_register(env)
    result = downwind(env, "dags", "trigger", "nightly", "-l", "2026-01-05", "-c", '{"rows": 3}')
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Triggered DAG 'nightly': run {RUN} ")
    assert "is paused" in result.stdout, "new DAGs start paused"

    result = downwind(env, "dags", "list-runs", "nightly", "-o", "json")
    (run,) = json.loads(result.stdout)
    assert (run["run_id"], run["state"], run["conf"]) == (RUN, "queued", {"rows": 3})
    assert run["data_interval_start"] == "2026-01-04T00:00:00+00:00"


@pytest.mark.slow
def test_inspect_mark_and_clear_in_real_processes(env: dict[str, str]) -> None:
    result = downwind(env, "dags", "trigger", "nightly")
    assert result.returncode == 1
    db_file = Path(env["DOWNWIND_HOME"]) / "downwind.db"
    assert result.stderr == (
        f"error: there is no metastore at sqlite:///{db_file} yet: run `downwind db migrate`\n"
    )
    assert not db_file.exists()

    _migrate_and_register(env)
    result = downwind(env, "dags", "trigger", "nightly", "-l", "2026-01-05")
    assert result.returncode == 0, result.stderr

    result = downwind(env, "tasks", "states-for-dag-run", "nightly", RUN)
    rows = [line.split()[:2] for line in result.stdout.splitlines()[2:]]
    assert rows == [["fetch", "none"], ["load", "none"], ["notify", "none"]]

    # The user gives up on fetch, then clears it with its downstream to run them again.
    result = downwind(env, "tasks", "set-state", "nightly", RUN, "fetch", "failed")
    assert result.returncode == 0, result.stderr
    result = downwind(env, "tasks", "clear", "nightly", "-t", "^fetch$", "--downstream")
    assert result.returncode == 1, "without --yes and without a terminal, nothing is cleared"
    assert "refusing to clear 3 task instances without confirmation" in result.stderr
    assert downwind(env, "tasks", "state", "nightly", RUN, "fetch").stdout == "failed\n"

    result = downwind(env, "tasks", "clear", "nightly", "-t", "^fetch$", "--downstream", "--yes")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(
        "Cleared 3 task instances in 1 run of DAG 'nightly'; the scheduler will run them again.\n"
    )
    assert downwind(env, "tasks", "state", "nightly", RUN, "fetch").stdout == "none\n"
    assert downwind(env, "dags", "state", "nightly", RUN).stdout == "queued\n"

    result = downwind(env, "dags", "trigger", "nightly", "-c", '{"rows": 0}')
    assert result.returncode == 1
    assert result.stderr.startswith("error: param 'rows'")
    assert result.stderr.count("\n") == 1
