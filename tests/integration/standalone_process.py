"""``downwind standalone`` in a real process, on a free port, for the API's end-to-end
tests (importable from tests/integration, as pytest puts that folder on sys.path)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    """A TCP port nobody listens on at the moment (on 127.0.0.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``condition`` until it returns something true (a connection error counts
    as not yet); fail after ``timeout`` seconds."""
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


@dataclass
class Standalone:
    """A running standalone: its API's URL and the admin's password."""

    url: str
    password: str

    def token(self) -> str:
        answer = httpx.post(
            f"{self.url}/auth/token", json={"username": "admin", "password": self.password}
        )
        answer.raise_for_status()
        return answer.json()["access_token"]


@contextmanager
def running_standalone(home: Path) -> Iterator[Standalone]:
    """``downwind standalone`` on ``home`` (examples off, quick rescans), once its API
    answers; stopped with SIGTERM on exit, which it must survive with status 0."""
    port = free_port()
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
        wait_for(
            lambda: httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200,
            "the API server",
        )
        password = (home / "standalone_admin_password.txt").read_text().strip()
        yield Standalone(url, password)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
