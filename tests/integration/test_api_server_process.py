"""The real `downwind api-server` process, driven by apache-airflow-client 3.3.2: a
token, the DAG list, one DAG, pausing it, health and version; then SIGTERM (exit 0)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow_client.client import ApiClient, Configuration
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.monitor_api import MonitorApi
from airflow_client.client.api.version_api import VersionApi
from airflow_client.client.exceptions import ApiException, UnauthorizedException
from airflow_client.client.models import DAGPatchBody
from urllib3.exceptions import MaxRetryError

from downwind.metastore.engine import create_engine_from_url, session_factory
from downwind.services.users import create_user

PASSWORD = "a long enough password"
DAG_FILE = """
from datetime import datetime

from downwind import DAG
from downwind.operators.empty import EmptyOperator

with DAG("hello", start_date=datetime(2026, 1, 1), schedule="@daily", tags=["demo"]):
    EmptyOperator(task_id="say_hello")
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOWNWIND")}
    env.update(DOWNWIND_HOME=str(home), DOWNWIND__CORE__LOAD_EXAMPLES="false")
    return env


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "downwind", *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    """A home with a migrated metastore."""
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    result = _cli(home, "db", "migrate")
    assert result.returncode == 0, result.stderr
    return home


@pytest.fixture
def home(migrated: Path) -> Path:
    """A migrated home with one parsed DAG and an admin."""
    home = migrated
    (home / "dags" / "hello.py").write_text(textwrap.dedent(DAG_FILE))
    result = _cli(home, "dag-processor", "--once")
    assert result.returncode == 0, result.stderr
    engine = create_engine_from_url(f"sqlite:///{home / 'downwind.db'}")
    with session_factory(engine)() as session, session.begin():
        create_user(session, "admin", PASSWORD, "Admin", now=datetime.now(UTC))
    engine.dispose()
    return home


@pytest.fixture
def server(home: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "downwind", "api-server", "--port", str(port)],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process, f"http://127.0.0.1:{port}"
    if process.poll() is None:
        process.kill()
        process.wait()


def _wait_healthy(base_url: str, process: subprocess.Popen[str]) -> float:
    """Seconds until /api/v2/monitor/health answers."""
    started = time.monotonic()
    monitor = MonitorApi(ApiClient(Configuration(host=base_url, retries=0)))
    while True:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            monitor.get_health(_request_timeout=1.0)
            return time.monotonic() - started
        except MaxRetryError:  # not listening yet
            if time.monotonic() - started > 20:
                raise
            time.sleep(0.05)


def _token(base_url: str, username: str, password: str) -> str:
    """A token from POST /auth/token, sent by the client's own HTTP layer."""
    with ApiClient(Configuration(host=base_url)) as client:
        method, url, headers, body, _ = client.param_serialize(
            "POST",
            "/auth/token",
            header_params={"Content-Type": "application/json"},
            body={"username": username, "password": password},
        )
        response = client.call_api(method, url, headers, body)
        response.read()
        assert response.status == 201, response.data
        return json.loads(response.data)["access_token"]


def test_the_airflow_client_drives_the_server(server: tuple[subprocess.Popen[str], str]) -> None:
    process, base_url = server
    _wait_healthy(base_url, process)
    token = _token(base_url, "admin", PASSWORD)
    config = Configuration(host=base_url, access_token=token)
    with ApiClient(config) as client:
        health = MonitorApi(client).get_health()
        assert health.metadatabase.status == "healthy"
        assert health.scheduler.status == "unhealthy", "no scheduler runs"
        assert VersionApi(client).get_version().version
        dags = DAGApi(client)
        listed = dags.get_dags()
        assert listed.total_entries == 1
        assert [(d.dag_id, d.is_paused) for d in listed.dags] == [("hello", True)]
        assert [tag.name for tag in dags.get_dag("hello").tags] == ["demo"]
        unpaused = dags.patch_dag("hello", DAGPatchBody(is_paused=False))
        assert unpaused.is_paused is False
        assert dags.get_dags(paused=False).total_entries == 1
        assert dags.get_dag_details("hello").catchup is True
        with pytest.raises(ApiException) as missing:
            dags.get_dag("nope")
        assert missing.value.status == 404
    with ApiClient(Configuration(host=base_url)) as anonymous, pytest.raises(UnauthorizedException):
        DAGApi(anonymous).get_dags()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"downwind API server serving at {base_url}" in output
    assert "downwind API server stopped" in output


def test_a_taken_port_is_one_error_line(migrated: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cli(migrated, "api-server", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot listen on 127.0.0.1:{port}: the port is already in use (is another "
        "server running? choose another port with --port)\n"
    )
    bad = _cli(migrated, "api-server", "--port", "70000")
    assert (bad.returncode, bad.stderr) == (1, "error: invalid port 70000: expected 1 to 65535\n")


@pytest.mark.slow
def test_several_workers_serve_and_stop_on_sigterm(migrated: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "downwind", "api-server", "--port", str(port), "--workers", "2"],
        env=_env(migrated),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, process)
        with ApiClient(Configuration(host=base_url)) as client:
            assert VersionApi(client).get_version().version
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert f"downwind API server starting 2 workers on {base_url}" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_an_unmigrated_metastore_is_one_error_line(tmp_path: Path) -> None:
    result = _cli(tmp_path / "empty", "webserver", "--port", str(_free_port()))
    assert result.returncode == 1
    assert result.stderr.startswith("error: there is no metastore at sqlite:///")
    assert result.stderr.endswith(": run `downwind db migrate`\n")
