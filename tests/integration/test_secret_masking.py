"""Secrets a task prints show as ``***`` in its log, in real processes: ``downwind dags test``
(the log is its output), a try run by the local executor (the log is a file), and a
``dags test`` reading a connection and a variable stored encrypted in the metastore."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from downwind.executors import TaskWorkload
from downwind.executors.local import LocalExecutor
from downwind.executors.memory import InMemoryRuntimeHandler
from downwind.runner.log_paths import task_log_path
from downwind.runtime.client import DagRunInfo, TaskInstanceKey
from downwind.states import TaskInstanceState as TI

PASSWORD = "pg-s3cr3t/pw"  # the '/' is percent-encoded in the URI
TOKEN = "tok-4f1c9a7e"
API_KEY = "ak-0123456789"
CONN_URI = f"postgresql://etl:{PASSWORD.replace('/', '%2F')}@db.internal:5432/dw?api_key={API_KEY}"
SECRETS = (PASSWORD, TOKEN, API_KEY)

DAG_SOURCE = """
from datetime import datetime

from downwind import DAG, Variable
from downwind.operators.bash import BashOperator
from downwind.operators.python import PythonOperator


def _leak(**context):
    conn = context["conn"].warehouse
    print("password:", conn.password)
    print(f"uri: {conn.get_uri()}")
    print("extra:", conn.extra_dejson)
    print("token:", Variable.get("slack_token"), "region:", Variable.get("region"))


with DAG("leaky", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    leak = PythonOperator(task_id="leak", python_callable=_leak)
    echo = BashOperator(
        task_id="echo",
        bash_command="echo from bash {{ conn.warehouse.password }} {{ var.value.slack_token }}",
    )
    leak >> echo
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "leaky.py").write_text(DAG_SOURCE, encoding="utf-8")
    return home


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOWNWIND_", "NO_COLOR"))}
    env.update(DOWNWIND_HOME=str(home), DOWNWIND__CORE__LOAD_EXAMPLES="false", **extra)
    return env


def _downwind(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "downwind", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _assert_masked(log: str) -> None:
    for secret in SECRETS:
        assert secret not in log
    assert "password: ***" in log
    assert "uri: postgres://etl:***@db.internal:5432/dw?api_key=***" in log
    assert "extra: {'api_key': '***'}" in log
    assert "token: *** region: eu-west-1" in log


def test_dags_test_masks_an_env_connection_and_a_sensitive_variable(home: Path) -> None:
    env = _env(
        home,
        DOWNWIND_CONN_WAREHOUSE=CONN_URI,
        DOWNWIND_VAR_SLACK_TOKEN=TOKEN,
        DOWNWIND_VAR_REGION="eu-west-1",
    )
    result = _downwind(env, "dags", "test", "leaky", "2026-01-01", "--no-db")
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_masked(result.stdout)
    assert "from bash *** ***" in result.stdout  # the rendered command and its output


def test_the_log_file_of_a_local_executor_try_is_masked(home: Path, tmp_path: Path) -> None:
    date = datetime(2026, 1, 1, tzinfo=UTC)
    handler = InMemoryRuntimeHandler(runs=[DagRunInfo("leaky", "manual_1", date, date, date)])
    handler.store.variables.update(slack_token=TOKEN, region="eu-west-1")
    executor = LocalExecutor(
        1,
        dags_folder=home / "dags",
        environ=_env(home, DOWNWIND_CONN_WAREHOUSE=CONN_URI),
        kill_grace=0.5,
    )
    logs = tmp_path / "logs"
    keys = {t: TaskInstanceKey("leaky", "manual_1", t) for t in ("leak", "echo")}
    executor.start(handler)
    try:
        for task_id, key in keys.items():
            executor.queue_workload(
                TaskWorkload(
                    key=key,
                    ti_id=f"id-{task_id}",
                    try_number=1,
                    dag_fileloc=str(home / "dags" / "leaky.py"),
                    log_path=str(task_log_path(logs, key, 1)),
                )
            )
        finished = {}
        deadline = time.monotonic() + 30
        while len(finished) < len(keys) and time.monotonic() < deadline:
            for event in executor.sync(0.05):
                if event.kind in ("finished", "crashed"):
                    finished[event.key.task_id] = event
    finally:
        executor.terminate()
    assert {t: e.state for t, e in finished.items()} == {"leak": TI.SUCCESS, "echo": TI.SUCCESS}

    _assert_masked(task_log_path(logs, keys["leak"], 1).read_text())
    echo_log = task_log_path(logs, keys["echo"], 1).read_text()
    assert "from bash *** ***" in echo_log
    assert not any(secret in echo_log for secret in SECRETS)


def test_secrets_stored_encrypted_in_the_metastore_are_masked_too(home: Path) -> None:
    env = _env(home)
    steps = [
        ("db", "migrate"),
        ("variables", "set", "slack_token", TOKEN),
        ("variables", "set", "region", "eu-west-1"),
        ("connections", "add", "warehouse", "--conn-uri", CONN_URI),
    ]
    for step in steps:
        done = _downwind(env, *step)
        assert done.returncode == 0, done.stderr
    database = (home / "downwind.db").read_bytes()
    assert not any(secret.encode() in database for secret in SECRETS)

    result = _downwind(env, "dags", "test", "leaky", "2026-01-01")
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_masked(result.stdout)
