"""``downwind dag-processor`` in a real process, on a SQLite home the test makes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from downwind.cli.main import main
from downwind.config import reset_config_cache
from downwind.metastore.engine import create_engine_from_url
from downwind.metastore.migrate import upgrade

GOOD = """\
from datetime import datetime
from downwind import DAG
from downwind.operators.bash import BashOperator

with DAG("nightly", start_date=datetime(2026, 1, 1), schedule="@daily") as dag:
    BashOperator(task_id="hello", bash_command="echo hello")
"""

BROKEN = """\
from downwind import DAG
raise RuntimeError("the warehouse password is not set")
"""


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOWNWIND")}
    env.update(
        DOWNWIND_HOME=str(home),
        DOWNWIND__CORE__LOAD_EXAMPLES="false",
        DOWNWIND__DAG_PROCESSOR__REFRESH_INTERVAL="0.2",
    )
    return env


def _downwind(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "downwind", *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _migrate(home: Path) -> None:
    engine = create_engine_from_url(f"sqlite:///{home / 'downwind.db'}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _rows(home: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "downwind.db") as connection:
        return connection.execute(query).fetchall()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A ``$DOWNWIND_HOME`` with a good and a broken DAG file, not migrated yet."""
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "nightly.py").write_text(GOOD)
    (home / "dags" / "broken_dag.py").write_text(BROKEN)
    return home


def test_once_stores_the_dags_and_the_import_errors_then_exits(home: Path) -> None:
    _migrate(home)

    result = _downwind(home, "dag-processor", "--once")

    assert result.returncode == 0, result.stderr
    broken = home / "dags" / "broken_dag.py"
    assert result.stdout == (
        "Parsed 2 DAG files: 1 DAG, 1 import error.\n"
        f"  {broken}: RuntimeError: the warehouse password is not set\n"
    )
    assert f"parsed {home / 'dags' / 'nightly.py'} in " in result.stderr
    assert ": nightly (new version 1)" in result.stderr
    assert f"failed to parse {broken} in " in result.stderr
    assert _rows(home, "SELECT dag_id, is_active, is_paused FROM dag") == [("nightly", 1, 1)]
    ((filename, stacktrace),) = _rows(home, "SELECT filename, stacktrace FROM import_error")
    assert filename == str(broken)
    assert f'File "{broken}", line 2, in <module>' in stacktrace
    assert _rows(home, "SELECT dag_id, version_number FROM dag_version") == [("nightly", 1)]


def test_list_import_errors_shows_what_the_processor_recorded(home: Path) -> None:
    _migrate(home)
    assert _downwind(home, "dag-processor", "--once").returncode == 0
    broken = home / "dags" / "broken_dag.py"
    broken.write_text(GOOD.replace("nightly", "fixed"))  # fixed, but not parsed again yet

    recorded = _downwind(home, "dags", "list-import-errors", "-o", "json")
    assert recorded.returncode == 1, recorded.stderr
    (error,) = json.loads(recorded.stdout)
    assert error["filepath"] == str(broken)
    assert error["error"].rstrip().endswith("RuntimeError: the warehouse password is not set")
    assert error["timestamp"]

    local = _downwind(home, "dags", "list-import-errors", "--local")
    assert (local.returncode, local.stdout) == (0, "No import errors.\n")


def test_it_refuses_to_run_on_a_metastore_that_is_not_migrated(
    home: Path, downwind_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _downwind(home, "dag-processor", "--once")

    assert result.returncode == 1
    assert result.stderr == (
        f"error: there is no metastore at sqlite:///{home / 'downwind.db'} yet: "
        "run `downwind db migrate`\n"
    )
    assert not (home / "downwind.db").exists(), "it must not create the database"

    # A database without tables (through the handler in this process: quicker).
    sqlite3.connect(downwind_home / "downwind.db").close()
    assert main(["dag-processor"]) == 1
    assert capsys.readouterr().err == (
        f"error: the metastore at sqlite:///{downwind_home / 'downwind.db'} is not migrated: "
        "run `downwind db migrate`\n"
    )


@pytest.mark.parametrize(
    "sig",
    [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],
    ids=["SIGTERM", "SIGINT"],
)
def test_it_runs_until_stopped_by_a_signal(home: Path, sig: signal.Signals) -> None:
    _migrate(home)
    process = subprocess.Popen(
        [sys.executable, "-m", "downwind", "dag-processor"],
        env=_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not _rows(home, "SELECT dag_id FROM dag"):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the DAG never showed up"
            time.sleep(0.05)
        # A new file is picked up at the next rescan.
        (home / "dags" / "second.py").write_text(GOOD.replace('"nightly"', '"second"'))
        while len(_rows(home, "SELECT dag_id FROM dag")) < 2:
            assert time.monotonic() < deadline, "the new DAG never showed up"
            time.sleep(0.05)
        process.send_signal(sig)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, err
    assert f"received {sig.name}: stopping" in err
    assert err.rstrip().endswith("DAG processor stopped")
    assert "Traceback" not in err


def test_a_bad_option_value_is_named_in_the_error(
    downwind_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOWNWIND__DAG_PROCESSOR__PARSING_PROCESSES", "0")
    reset_config_cache()
    assert main(["dag-processor", "--once"]) == 1
    assert capsys.readouterr().err == (
        "error: [dag_processor] parsing_processes: expected an integer >= 1, got '0' "
        "(from environment variable DOWNWIND__DAG_PROCESSOR__PARSING_PROCESSES)\n"
    )
