"""End to end: the shipped rocket-launch example, run offline with the real CLI.

A local HTTP server stands in for the launch API and the image hosts; the DAG runs in a
fresh ``python -m downwind dags test`` process, exactly as a user runs it.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

DAG_ID = "download_rocket_launches"

pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None, reason="the rocket example downloads with curl, not found"
)


def _png(rgb: tuple[int, int, int]) -> bytes:
    """A valid 1x1 PNG of one color."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00" + bytes(rgb))  # filter byte + one pixel
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


IMAGES = {"falcon9.png": _png((255, 0, 0)), "electron.png": _png((0, 0, 255))}


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[str, bytes]] = {}

    def do_GET(self) -> None:
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404, "not found")
            return
        content_type, body = route
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args  # keep the test output clean


@pytest.fixture
def launch_server() -> Iterator[str]:
    """A local launch API: ``/launches.json`` lists two launches whose images it serves."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    launches = {
        "count": 3,
        "results": [
            {"id": "a", "name": "Falcon 9 | Starlink", "image": f"{base}/media/falcon9.png"},
            {"id": "b", "name": "Electron | Rideshare", "image": f"{base}/media/electron.png"},
            {"id": "c", "name": "Vega | TBD", "image": None},  # no picture: ignored
        ],
    }
    routes = {"/launches.json": ("application/json", json.dumps(launches).encode())}
    routes.update({f"/media/{name}": ("image/png", data) for name, data in IMAGES.items()})
    handler = type("Handler", (_Handler,), {"routes": routes})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _run_dags_test(
    home: Path, logical_date: str, variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``python -m downwind dags test download_rocket_launches DATE`` in a fresh process."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DOWNWIND") and name.lower() not in ("http_proxy", "https_proxy")
    }
    env.update(
        {
            "DOWNWIND_HOME": str(home),
            "DOWNWIND__CORE__LOAD_EXAMPLES": "true",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "NO_COLOR": "1",
        }
    )
    env.update({f"DOWNWIND_VAR_{key.upper()}": value for key, value in variables.items()})
    return subprocess.run(
        [sys.executable, "-m", "downwind", "dags", "test", DAG_ID, logical_date, "--no-color"],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _summary_state(output: str, task_id: str) -> str:
    """The state of ``task_id`` in the summary table printed at the end of the run."""
    rows = re.findall(rf"^{task_id}\s+(\S+)\s+\d+\s+\S+\s*$", output, re.MULTILINE)
    assert rows, f"no summary row for {task_id} in:\n{output}"
    return rows[-1]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "downwind-home"
    path.mkdir()
    return path


def test_rocket_example_downloads_launches_and_images(
    launch_server: str, home: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "rocket data"  # a space in the path must not break the commands
    result = _run_dags_test(
        home,
        "2026-01-01",
        {"launches_url": f"{launch_server}/launches.json", "rocket_data_dir": str(data_dir)},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output

    run_dir = data_dir / "2026-01-01"
    assert json.loads((run_dir / "launches.json").read_text())["count"] == 3
    images = run_dir / "images"
    assert sorted(p.name for p in images.iterdir()) == sorted(IMAGES)
    for name, data in IMAGES.items():
        assert (images / name).read_bytes() == data
    assert "There are now 2 images." in result.stdout
    for task_id in ("download_launches", "get_pictures", "notify"):
        assert _summary_state(result.stdout, task_id) == "success"
    assert "succeeded" in result.stdout


def test_rocket_example_writes_under_downwind_home_by_default(
    launch_server: str, home: Path
) -> None:
    result = _run_dags_test(home, "2026-01-02", {"launches_url": f"{launch_server}/launches.json"})

    assert result.returncode == 0, result.stdout + result.stderr
    images = home / "data" / "rockets" / "2026-01-02" / "images"
    assert sorted(p.name for p in images.iterdir()) == sorted(IMAGES)
    assert "There are now 2 images." in result.stdout


def test_rocket_example_fails_when_the_launch_api_answers_404(
    launch_server: str, home: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    result = _run_dags_test(
        home,
        "2026-01-01",
        {"launches_url": f"{launch_server}/no-such-page", "rocket_data_dir": str(data_dir)},
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert _summary_state(result.stdout, "download_launches") == "failed"
    assert _summary_state(result.stdout, "get_pictures") == "upstream_failed"
    assert _summary_state(result.stdout, "notify") == "upstream_failed"
    assert "404" in result.stdout  # curl's own message, in the task's log
    assert not (data_dir / "2026-01-01" / "images").exists()
