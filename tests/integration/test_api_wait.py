"""``GET .../dagRuns/{dag_run_id}/wait`` on a live ``downwind standalone``: the stream
reports the run's state while it runs and ends, with the asked-for return values, once it
finished; a tailing client reads a running task's log with continuation tokens."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

DAG_FILE = """
import time
from datetime import datetime
from pathlib import Path

from downwind import DAG
from downwind.operators.python import PythonOperator

GO = Path({go!r})


def slow():
    print("waiting for the go file", flush=True)
    while not GO.exists():
        time.sleep(0.05)
    print("going", flush=True)
    return {{"rows": 3}}


with DAG("waited", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    PythonOperator(task_id="slow", python_callable=slow)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _run_state(client: httpx.Client, run_id: str) -> str | None:
    """The run's state; ``None`` (look again) on an answer that is not a 200, which is
    printed so that a run that never gets there shows why."""
    answer = client.get(f"/dags/waited/dagRuns/{run_id}")
    if answer.status_code != 200:
        print(f"GET run {run_id}: {answer.status_code} {answer.text}")
        return None
    return answer.json()["state"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    """A running ``downwind standalone`` with the DAG ``waited`` (unpaused): a client
    signed in as the admin, and the file whose creation lets ``slow`` finish."""
    home, go = tmp_path / "home", tmp_path / "go"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "waited.py").write_text(textwrap.dedent(DAG_FILE.format(go=str(go))))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOWNWIND")}
    env.update(
        DOWNWIND_HOME=str(home),
        DOWNWIND__CORE__LOAD_EXAMPLES="false",
        DOWNWIND__API__PORT=str(port),
        DOWNWIND__DAG_PROCESSOR__REFRESH_INTERVAL="0.2",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "downwind", "standalone"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{url}/api/v2/monitor/health").status_code == 200, "the API")
        password = (home / "standalone_admin_password.txt").read_text().strip()
        token = httpx.post(
            f"{url}/auth/token", json={"username": "admin", "password": password}
        ).json()["access_token"]
        with httpx.Client(
            base_url=f"{url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            _wait(lambda: client.get("/dags/waited").status_code == 200, "the DAG")
            client.patch("/dags/waited", json={"is_paused": False}).raise_for_status()
            yield client, go
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output


def test_wait_streams_states_until_the_run_finishes(
    server: tuple[httpx.Client, Path],
) -> None:
    client, go = server
    client.post("/dags/waited/dagRuns", json={"dag_run_id": "w1"}).raise_for_status()
    logs = "/dags/waited/dagRuns/w1/taskInstances/slow/logs/1"
    _wait(lambda: _run_state(client, "w1") == "running", "a start")

    # Tail the running task's log: tokens come while it runs, the first line shows up.
    first = _wait(
        lambda: (page := client.get(logs).json())["content"] and page, "the first log line"
    )
    assert first["continuation_token"], "the try runs: its log may grow"
    assert any(m["event"] == "waiting for the go file" for m in first["content"])

    lines = []
    with client.stream(
        "GET", "/dags/waited/dagRuns/w1/wait", params={"interval": 0.1, "result": "slow"}
    ) as stream:
        for raw in stream.iter_lines():
            lines.append(json.loads(raw))
            if len(lines) == 2:
                go.touch()
    assert lines[0] == {"state": "running"}
    assert lines[-1] == {"state": "success", "results": {"slow": {"rows": 3}}}
    assert all(line == {"state": "running"} for line in lines[1:-1])

    token = first["continuation_token"]
    rest: list[str] = []
    while token:  # the try ended: reading on reaches the end of its log, then no token
        page = client.get(logs, params={"token": token}).json()
        rest += [m["event"] for m in page["content"]]
        token = page["continuation_token"]
    assert "going" in rest
