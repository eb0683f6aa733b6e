"""``GET .../dagRuns/{dag_run_id}/wait`` on a live ``downwind standalone``: the stream
reports the run's state while it runs and ends, with the asked-for return values, once it
finished; a tailing client reads a running task's log with continuation tokens."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from standalone_process import running_standalone, wait_for

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
    with (
        running_standalone(home) as standalone,
        httpx.Client(
            base_url=f"{standalone.url}/api/v2",
            headers={"Authorization": f"Bearer {standalone.token()}"},
            timeout=30,
        ) as client,
    ):
        wait_for(lambda: client.get("/dags/waited").status_code == 200, "the DAG")
        client.patch("/dags/waited", json={"is_paused": False}).raise_for_status()
        yield client, go


def test_wait_streams_states_until_the_run_finishes(
    server: tuple[httpx.Client, Path],
) -> None:
    client, go = server
    client.post("/dags/waited/dagRuns", json={"dag_run_id": "w1"}).raise_for_status()
    logs = "/dags/waited/dagRuns/w1/taskInstances/slow/logs/1"
    wait_for(lambda: _run_state(client, "w1") == "running", "a start")

    # Tail the running task's log: tokens come while it runs, the first line shows up.
    first = wait_for(
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
