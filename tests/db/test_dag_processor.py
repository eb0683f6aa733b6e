"""The DAG processor on a real dags folder and a migrated metastore (SQLite and PostgreSQL):
files parsed in real child processes, results read back from the database."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from downwind.config import reset_config_cache
from downwind.dag_processing.manager import DagProcessorManager
from downwind.dag_processing.processes import fork_server
from downwind.metastore.engine import get_engine, session_factory
from downwind.metastore.migrate import upgrade
from downwind.metastore.models import DagModel, DagVersion, ParseImportError
from downwind.sdk.discovery import EXAMPLE_DAGS_FOLDER
from downwind.services.dag_registry import load_serialized_dag

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

#: for tests of how files are parsed, where the database makes no difference
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

ETL = """\
from datetime import datetime
from downwind import DAG
from downwind.operators.bash import BashOperator
from helpers import TABLE  # a helper module beside the DAG files

with DAG("etl", start_date=datetime(2026, 1, 1), schedule="@daily", tags=["sales"]) as dag:
    extract = BashOperator(task_id="extract", bash_command=f"echo {TABLE}")
    load = BashOperator(task_id="load", bash_command="echo load")
    extract >> load
"""

ETL_WITH_A_NEW_TASK = (
    ETL
    + """\
    report = BashOperator(task_id="report", bash_command="echo report")
    load >> report
"""
)

HELPERS = 'TABLE = "sales"\n'

REPORT = """\
from datetime import datetime
from downwind import DAG
from downwind.operators.empty import EmptyOperator

with DAG("report", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    EmptyOperator(task_id="publish")
"""

SYNTAX_ERROR = """\
from downwind import DAG

with DAG("broken", schedule=None as dag:
    pass
"""

COUNTED = """\
# dag: appends a line to a file each time it is imported
from datetime import datetime
from pathlib import Path
from downwind import DAG
from downwind.operators.empty import EmptyOperator

with Path({counter!r}).open("a") as counter:
    counter.write("parsed\\n")

with DAG("counted", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    EmptyOperator(task_id="only")
"""

# Starts a process (recording its pid) and a non-daemon thread, then hangs if asked to.
LEAVES_THINGS_RUNNING = """\
# dag
import subprocess, threading, time
from datetime import datetime
from pathlib import Path
from downwind import DAG
from downwind.operators.empty import EmptyOperator

child = subprocess.Popen(["sleep", "60"])
Path({pid_file!r}).write_text(str(child.pid))
threading.Thread(target=time.sleep, args=(60,)).start()
print("loading the DAG")
time.sleep({hang})

with DAG("leaves_things_running", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    EmptyOperator(task_id="only")
"""


@pytest.fixture
def home(db_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A ``$DOWNWIND_HOME`` with an empty ``dags/`` folder and a migrated metastore."""
    (db_home / "dags").mkdir()
    (db_home / "dags" / "helpers.py").write_text(HELPERS)
    monkeypatch.setenv("DOWNWIND__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT", "10")
    reset_config_cache()
    upgrade(get_engine())
    yield db_home


@pytest.fixture
def sessions(home: Path) -> sessionmaker[Session]:
    return session_factory()


def manager() -> DagProcessorManager:
    reset_config_cache()
    return DagProcessorManager.from_config()


def write(home: Path, name: str, text: str) -> str:
    """Write a DAG file; a new mtime even within the file system's time resolution."""
    path = home / "dags" / name
    existed = path.exists()
    old = path.stat().st_mtime_ns if existed else 0
    path.write_text(text)
    if existed and path.stat().st_mtime_ns == old:
        os.utime(path, ns=(old + 1_000_000, old + 1_000_000))
    return str(path)


def dag_rows(sessions: sessionmaker[Session]) -> dict[str, tuple[bool, bool, bool]]:
    """``{dag_id: (is_active, is_paused, has_import_errors)}``"""
    with sessions() as session:
        return {
            row.dag_id: (row.is_active, row.is_paused, row.has_import_errors)
            for row in session.scalars(select(DagModel))
        }


def import_errors(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return {e.filename: e.stacktrace or "" for e in session.scalars(select(ParseImportError))}


def version_numbers(sessions: sessionmaker[Session], dag_id: str) -> list[int]:
    with sessions() as session:
        return list(
            session.scalars(
                select(DagVersion.version_number)
                .where(DagVersion.dag_id == dag_id)
                .order_by(DagVersion.version_number)
            )
        )


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a parent to reap it does not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def wait_until_dead(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_good_file_and_a_broken_one_then_the_fix(
    home: Path, sessions: sessionmaker[Session]
) -> None:
    etl = write(home, "etl.py", ETL)
    broken = write(home, "broken.py", SYNTAX_ERROR)

    with manager() as processor:
        summary = processor.run_once(sessions, NOW)

        assert summary.dag_ids == ["etl"]
        assert list(summary.import_errors) == [broken]
        assert dag_rows(sessions) == {"etl": (True, True, False)}
        errors = import_errors(sessions)
        assert list(errors) == [broken]
        assert f'File "{broken}", line 3' in errors[broken]
        assert "SyntaxError:" in errors[broken]
        with sessions() as session:
            dag = load_serialized_dag(session, "etl")
        assert dag.task_ids == ["extract", "load"]
        assert dag.get_task("extract").template_values["bash_command"] == "echo sales"
        assert dag.fileloc == etl

        write(home, "broken.py", REPORT)
        summary = processor.run_once(sessions, NOW + timedelta(seconds=1))

    assert [f.fileloc for f in summary.files] == [broken], "only the changed file"
    assert import_errors(sessions) == {}
    assert dag_rows(sessions) == {"etl": (True, True, False), "report": (True, True, False)}


def test_editing_a_dag_stores_version_2_and_keeps_version_1(
    home: Path, sessions: sessionmaker[Session]
) -> None:
    write(home, "etl.py", ETL)
    with manager() as processor:
        processor.run_once(sessions, NOW)
        write(home, "etl.py", ETL_WITH_A_NEW_TASK)
        summary = processor.run_once(sessions, NOW + timedelta(seconds=1))

    assert summary.new_versions == [("etl", 2)]
    assert version_numbers(sessions, "etl") == [1, 2]
    with sessions() as session:
        v1 = session.scalar(select(DagVersion.id).where(DagVersion.version_number == 1))
        assert load_serialized_dag(session, "etl", v1).task_ids == ["extract", "load"]
        latest = load_serialized_dag(session, "etl")
        assert latest.task_ids == ["extract", "load", "report"]
        source = session.scalar(select(DagVersion.source_code).where(DagVersion.id != v1))
    assert source == ETL_WITH_A_NEW_TASK


def test_a_syntax_error_keeps_the_dag_until_the_file_is_fixed(
    home: Path, sessions: sessionmaker[Session]
) -> None:
    etl = write(home, "etl.py", ETL)
    with manager() as processor:
        processor.run_once(sessions, NOW)
        write(home, "etl.py", ETL.replace("extract >> load", "extract >> load)"))
        processor.run_once(sessions, NOW + timedelta(seconds=1))

        assert dag_rows(sessions) == {"etl": (True, True, True)}
        assert "SyntaxError" in import_errors(sessions)[etl]
        assert version_numbers(sessions, "etl") == [1]

        write(home, "etl.py", ETL)
        processor.run_once(sessions, NOW + timedelta(seconds=2))

    assert dag_rows(sessions) == {"etl": (True, True, False)}
    assert import_errors(sessions) == {}
    assert version_numbers(sessions, "etl") == [1], "the same DAG: no new version"


def test_a_deleted_file_makes_its_dags_inactive(
    home: Path, sessions: sessionmaker[Session]
) -> None:
    write(home, "etl.py", ETL)
    report = write(home, "report.py", REPORT)
    broken = write(home, "broken.py", SYNTAX_ERROR)
    with manager() as processor:
        processor.run_once(sessions, NOW)
        os.remove(report)
        os.remove(broken)
        summary = processor.run_once(sessions, NOW + timedelta(seconds=1))

    assert summary.deactivated == ["report"]
    assert summary.files == []
    assert dag_rows(sessions) == {"etl": (True, True, False), "report": (False, True, False)}
    assert import_errors(sessions) == {}
    assert version_numbers(sessions, "report") == [1], "its history is kept"


@sqlite_only
def test_a_file_that_hangs_times_out_and_the_others_are_parsed(
    home: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOWNWIND__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT", "0.5")
    pid_file = home / "pid"
    hangs = write(home, "hangs.py", LEAVES_THINGS_RUNNING.format(pid_file=str(pid_file), hang=10))
    write(home, "etl.py", ETL)
    write(home, "report.py", REPORT)

    started = time.monotonic()
    with manager() as processor:
        summary = processor.run_once(sessions, NOW)
    took = time.monotonic() - started

    assert took < 3, f"the hanging file held the others up for {took:.1f} s"
    assert sorted(summary.dag_ids) == ["etl", "report"]
    error = import_errors(sessions)[hangs]
    assert error.strip().endswith(
        "TimeoutError: timed out after 0.5 s while parsing (dag_file_processor_timeout)"
    )
    assert wait_until_dead(int(pid_file.read_text())), "the process the file started lives on"


@sqlite_only
def test_a_file_that_leaves_a_thread_and_a_process_running_is_parsed_at_once(
    home: Path, sessions: sessionmaker[Session]
) -> None:
    pid_file = home / "pid"
    write(home, "busy.py", LEAVES_THINGS_RUNNING.format(pid_file=str(pid_file), hang=0))
    started = time.monotonic()
    with manager() as processor:
        summary = processor.run_once(sessions, NOW)
    assert time.monotonic() - started < 5
    assert summary.dag_ids == ["leaves_things_running"]
    assert summary.files[0].outcome.output == "loading the DAG\n"
    assert wait_until_dead(int(pid_file.read_text())), "the process the file started lives on"


@sqlite_only
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("import os\nos._exit(3)", "exited with status 3 before reporting its DAGs"),
        ("import ctypes\nctypes.string_at(0)", "was killed by SIGSEGV before reporting"),
    ],
    ids=["os._exit", "segfault"],
)
def test_a_file_that_kills_its_interpreter_gets_an_import_error(
    home: Path, sessions: sessionmaker[Session], code: str, message: str
) -> None:
    crash = write(home, "crash.py", f"# dag\n{code}\n")
    write(home, "report.py", REPORT)
    with manager() as processor:
        summary = processor.run_once(sessions, NOW)
    assert summary.dag_ids == ["report"]
    error = import_errors(sessions)[crash]
    assert message in error
    assert error.startswith(f'  File "{crash}"')


def test_the_examples_are_loaded_when_load_examples_is_on(
    home: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(home, "etl.py", ETL)
    monkeypatch.setenv("DOWNWIND__CORE__LOAD_EXAMPLES", "true")
    with manager() as processor:
        processor.run_once(sessions, NOW)
    examples = {"download_rocket_launches", "example_branching", "example_taskflow_etl"}
    assert set(dag_rows(sessions)) == {"etl", *examples}
    with sessions() as session:
        rocket = session.get(DagModel, "download_rocket_launches")
        assert rocket is not None
        assert Path(rocket.fileloc or "").parent == EXAMPLE_DAGS_FOLDER

    monkeypatch.setenv("DOWNWIND__CORE__LOAD_EXAMPLES", "false")
    with manager() as processor:
        summary = processor.run_once(sessions, NOW + timedelta(seconds=1))
    assert sorted(summary.deactivated) == sorted(examples)
    assert {dag_id for dag_id, row in dag_rows(sessions).items() if row[0]} == {"etl"}


@sqlite_only
def test_unchanged_files_are_parsed_again_only_after_min_file_process_interval(
    home: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOWNWIND__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL", "30")
    counter = home / "parses"
    write(home, "counted.py", COUNTED.format(counter=str(counter)))
    write(home, "etl.py", ETL)

    def parses() -> int:
        return len(counter.read_text().splitlines())

    with manager() as processor:
        processor.run_once(sessions, NOW)
        assert parses() == 1
        assert processor.run_once(sessions, NOW + timedelta(seconds=10)).files == []
        write(home, "etl.py", ETL_WITH_A_NEW_TASK)
        summary = processor.run_once(sessions, NOW + timedelta(seconds=20))
        assert [Path(f.fileloc).name for f in summary.files] == ["etl.py"]
        assert parses() == 1
        summary = processor.run_once(sessions, NOW + timedelta(seconds=31))
        assert [Path(f.fileloc).name for f in summary.files] == ["counted.py"]
        assert parses() == 2
        assert summary.new_versions == [], "parsed again, but nothing changed"


@sqlite_only
def test_new_dags_follow_dags_are_paused_at_creation(
    home: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOWNWIND__CORE__DAGS_ARE_PAUSED_AT_CREATION", "false")
    write(home, "etl.py", ETL)
    write(
        home,
        "report.py",
        REPORT.replace("schedule=None", "schedule=None, is_paused_upon_creation=True"),
    )
    with manager() as processor:
        processor.run_once(sessions, NOW)
    assert dag_rows(sessions) == {"etl": (True, False, False), "report": (True, True, False)}


def test_a_dag_id_moved_to_another_file_is_taken_over_in_the_same_pass(
    home: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One file at a time, in order: the first file to define an id keeps it.
    monkeypatch.setenv("DOWNWIND__DAG_PROCESSOR__PARSING_PROCESSES", "1")
    first = write(home, "a_first.py", REPORT)
    second = write(home, "b_second.py", REPORT.replace('"publish"', '"announce"'))
    with manager() as processor:
        processor.run_once(sessions, NOW)
        assert (
            f"DuplicateDagId: the DAG id 'report' is already used by {first}"
            in import_errors(sessions)[second]
        )
        write(home, "a_first.py", ETL)  # the DAG moved to b_second.py
        processor.run_once(sessions, NOW + timedelta(seconds=1))

    assert import_errors(sessions) == {}
    with sessions() as session:
        row = session.get(DagModel, "report")
        assert row is not None and (row.fileloc, row.is_active) == (second, True)
        assert load_serialized_dag(session, "report").task_ids == ["announce"]


@sqlite_only
def test_poll_never_waits_for_a_parse(home: Path, sessions: sessionmaker[Session]) -> None:
    slow = REPORT.replace(
        "from datetime import datetime",
        "import time\ntime.sleep(0.3)\nfrom datetime import datetime",
    )
    write(home, "slow.py", slow)
    with manager() as processor:
        started = time.monotonic()
        summary = processor.poll(sessions, NOW)
        assert time.monotonic() - started < 0.2
        assert (summary.running, summary.files) == (1, [])
        assert processor.waitables(), "something to select on while it parses"
        while not summary.files:
            processor.wait(5)
            summary = processor.poll(sessions, NOW)
        assert summary.dag_ids == ["report"]

        # A new file is found at the next rescan, refresh_interval (5 s) later.
        write(home, "etl.py", ETL)
        assert processor.poll(sessions, NOW + timedelta(seconds=1)).running == 0
        assert processor.seconds_until_due(NOW + timedelta(seconds=1)) == 4
        assert processor.poll(sessions, NOW + timedelta(seconds=5)).running == 1


@sqlite_only
def test_run_forever_keeps_parsing_until_stopped(
    home: Path, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOWNWIND__DAG_PROCESSOR__REFRESH_INTERVAL", "0.1")
    write(home, "etl.py", ETL)
    stop = threading.Event()
    processor = manager()
    thread = threading.Thread(target=processor.run_forever, args=(stop, sessions))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while "etl" not in dag_rows(sessions) and time.monotonic() < deadline:
            time.sleep(0.05)
        write(home, "report.py", REPORT)
        while "report" not in dag_rows(sessions) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert set(dag_rows(sessions)) == {"etl", "report"}


@sqlite_only
def test_a_fork_server_that_dies_is_replaced(home: Path, sessions: sessionmaker[Session]) -> None:
    started = home / "started"
    slow = REPORT.replace(
        "from datetime import datetime",
        f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\ntime.sleep(0.3)\n"
        "from datetime import datetime",
    )
    write(home, "report.py", slow)
    with manager() as processor:
        processor.poll(sessions, NOW)
        deadline = time.monotonic() + 10
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        server = fork_server()
        os.kill(server.pid, signal.SIGKILL)  # while the file is being parsed
        assert wait_until_dead(server.pid)
        summary = processor.run_once(sessions, NOW)
        assert summary.dag_ids == ["report"], "the parse under way still ends well"

        write(home, "report.py", slow.replace('"publish"', '"announce"'))
        summary = processor.run_once(sessions, NOW + timedelta(seconds=1))

    assert summary.new_versions == [("report", 2)]
    assert fork_server().pid != server.pid
