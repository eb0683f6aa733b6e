"""The real `downwind scheduler` process: killed and restarted mid-run, DAG files edited
or broken while it runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from standalone_process import free_port

from downwind.config import reset_config_cache
from downwind.metastore.engine import create_engine_from_url, session_factory
from downwind.metastore.models import DagRun, DagVersion, ParseImportError, TaskInstance


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    return home


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOWNWIND")}
    env.update(
        DOWNWIND_HOME=str(home),
        DOWNWIND__CORE__LOAD_EXAMPLES="false",
        DOWNWIND__DAG_PROCESSOR__REFRESH_INTERVAL="0.2",
        DOWNWIND__SCHEDULER__IDLE_SLEEP_TIME="0.2",
    )
    return env


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "downwind", *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def scheduler(home: Path) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "downwind", "scheduler"],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def sessions(home: Path):
    reset_config_cache()
    engine = create_engine_from_url(f"sqlite:///{home / 'downwind.db'}")
    yield session_factory(engine)
    engine.dispose()


def _wait(condition: Callable[[], bool], timeout: float = 40.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _write(home: Path, name: str, source: str) -> None:
    (home / "dags" / f"{name}.py").write_text(textwrap.dedent(source))


def _prepare(home: Path, dag_id: str) -> str:
    _cli(home, "db", "migrate")
    _cli(home, "dag-processor", "--once")
    _cli(home, "dags", "unpause", dag_id)
    out = _cli(home, "dags", "trigger", dag_id, "-o", "json").stdout
    import json

    return json.loads(out)["run_id"]


@pytest.mark.slow
def test_a_scheduler_killed_mid_run_resumes_after_a_restart_without_rerunning_successes(
    home: Path, scheduler, sessions, tmp_path: Path
):
    record = tmp_path / "record.txt"
    _write(
        home,
        "resilient",
        f"""
        import time
        from datetime import datetime, timedelta
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        def step(ti):
            with open({str(record)!r}, "a") as fh:
                fh.write(f"{{ti.task_id}} {{ti.try_number}}\\n")
            time.sleep(1.5)

        with DAG("resilient", start_date=datetime(2026, 1, 1), schedule=None):
            a = PythonOperator(task_id="a", python_callable=step)
            b = PythonOperator(task_id="b", python_callable=step, retries=2,
                               retry_delay=timedelta(0))
            c = PythonOperator(task_id="c", python_callable=step)
            a >> b >> c
        """,
    )
    run_id = _prepare(home, "resilient")
    first = scheduler()
    _wait(lambda: record.exists() and "b 1" in record.read_text(), what="b to start")
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    scheduler()

    def finished() -> bool:
        with sessions() as session:
            run = session.scalar(select(DagRun).where(DagRun.run_id == run_id))
            return run is not None and run.state in ("success", "failed")

    _wait(finished, timeout=60, what="the run to finish after the restart")
    lines = record.read_text().split()
    with sessions() as session:
        run = session.scalar(select(DagRun).where(DagRun.run_id == run_id))
        states = dict(
            session.execute(
                select(TaskInstance.task_id, TaskInstance.state).where(
                    TaskInstance.run_id == run_id
                )
            ).all()
        )
    assert run.state == "success", (states, lines)
    pairs = list(zip(lines[::2], lines[1::2], strict=True))
    assert [p for p in pairs if p[0] == "a"] == [("a", "1")]  # a had succeeded: not again
    assert [p for p in pairs if p[0] == "c"] == [("c", "1")]
    assert ("b", "1") in pairs and len([p for p in pairs if p[0] == "b"]) == 2


def test_editing_or_breaking_a_dag_file_leaves_the_running_run_alone(
    home: Path, scheduler, sessions
):
    _write(
        home,
        "evolving",
        """
        import time
        from datetime import datetime
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        with DAG("evolving", start_date=datetime(2026, 1, 1), schedule=None):
            PythonOperator(task_id="slow", python_callable=lambda: time.sleep(2))
        """,
    )
    run_id = _prepare(home, "evolving")
    scheduler()

    def task_state() -> str | None:
        with sessions() as session:
            return session.scalar(
                select(TaskInstance.state).where(
                    TaskInstance.run_id == run_id, TaskInstance.task_id == "slow"
                )
            )

    _wait(lambda: task_state() == "running", what="the task to run")
    _write(
        home,
        "evolving",
        """
        import time
        from datetime import datetime
        from downwind import DAG
        from downwind.operators.python import PythonOperator

        with DAG("evolving", start_date=datetime(2026, 1, 1), schedule=None):
            slow = PythonOperator(task_id="slow", python_callable=lambda: time.sleep(2))
            slow >> PythonOperator(task_id="added", python_callable=lambda: None)
        """,
    )

    def versions() -> int:
        with sessions() as session:
            return session.scalar(
                select(func.count()).select_from(DagVersion).where(DagVersion.dag_id == "evolving")
            )

    _wait(lambda: versions() == 2, what="the new version to be stored")

    def run_state() -> str | None:
        with sessions() as session:
            return session.scalar(select(DagRun.state).where(DagRun.run_id == run_id))

    _wait(lambda: run_state() == "success", what="the run to finish")
    with sessions() as session:
        task_ids = session.scalars(
            select(TaskInstance.task_id).where(TaskInstance.run_id == run_id)
        ).all()
    assert task_ids == ["slow"]  # the run kept the version it started with

    (home / "dags" / "evolving.py").write_text("from downwind import DAG\nbroken = (\n")

    def import_error() -> str | None:
        with sessions() as session:
            return session.scalar(select(ParseImportError.stacktrace))

    _wait(lambda: import_error() is not None, what="the import error")
    assert "SyntaxError" in import_error()
    assert run_state() == "success"


def test_standalone_sets_up_a_fresh_home_and_runs_what_is_triggered(tmp_path: Path) -> None:
    home = tmp_path / "fresh"  # does not exist yet: standalone creates it
    env = _env(home)
    port = free_port()
    env["DOWNWIND__API__PORT"] = str(port)
    api = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "downwind", "standalone"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait(lambda: (home / "dags").is_dir(), what="the home to be created")
        _write(
            home,
            "hello",
            """
            from datetime import datetime
            from downwind import DAG
            from downwind.operators.bash import BashOperator

            with DAG("hello", start_date=datetime(2026, 1, 1), schedule=None):
                BashOperator(task_id="greet", bash_command="echo hello")
            """,
        )

        def listed() -> bool:
            result = subprocess.run(
                [sys.executable, "-m", "downwind", "dags", "unpause", "hello"],
                env=env,
                capture_output=True,
                text=True,
            )
            return result.returncode == 0

        _wait(listed, what="the new DAG to be parsed")
        _cli(home, "dags", "trigger", "hello", "--run-id", "first")

        def state() -> str:
            return _cli(home, "dags", "state", "hello", "first").stdout.strip()

        _wait(lambda: state() == "success", what="the triggered run to succeed")

        # The API server runs beside the scheduler; the admin's password is in its file.
        password_file = home / "standalone_admin_password.txt"
        assert password_file.stat().st_mode & 0o777 == 0o600
        password = password_file.read_text().strip()
        _wait(lambda: _answers(f"{api}/api/v2/monitor/health"), what="the API server")
        token = httpx.post(
            f"{api}/auth/token", json={"username": "admin", "password": password}
        ).json()["access_token"]
        dag = httpx.get(
            f"{api}/api/v2/dags/hello", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert (dag["dag_id"], dag["is_paused"]) == ("hello", False)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "downwind standalone" in output and str(home / "dags") in output
    assert f"login:       admin / {password}" in output  # shown once, on creation
    assert "Scheduler stopped" in output
    assert "downwind API server stopped" in output
    assert not _answers(f"{api}/api/v2/monitor/health")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_standalone_refuses_a_port_already_taken_before_starting_anything(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    env = _env(home)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["DOWNWIND__API__PORT"] = str(port)
        result = subprocess.run(
            [sys.executable, "-m", "downwind", "standalone"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port}: the port is already in use" in (
        result.stderr
    )
    assert "Scheduler started" not in result.stderr
    assert not (home / "standalone_admin_password.txt").exists()
