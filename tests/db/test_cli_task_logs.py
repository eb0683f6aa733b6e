"""``downwind tasks logs DAG_ID RUN_ID TASK_ID [--try N] [--map-index N] [--follow]`` on
SQLite and PostgreSQL, through ``main([...])`` (and one real ``downwind`` process for
Ctrl-C), and the :func:`~downwind.services.task_logs.read_log` primitive it reads with.

The log files are written where the local executor writes them:
``$DOWNWIND_HOME/logs/dag_id=<d>/run_id=<r>/task_id=<t>/[map_index=<i>/]attempt=<n>.log``.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from metastore_dags import (
    NOW,
    etl_dag,
    finish_try,
    in_configured_metastore,
    migrate_configured_metastore,
    register_in_configured_metastore,
    task_instance,
)
from sqlalchemy.orm import Session

from downwind.cli.main import main
from downwind.config import reset_config_cache
from downwind.metastore.engine import dispose_engines
from downwind.metastore.models import TaskInstance
from downwind.services.history import archive_try, reset_try_fields
from downwind.services.task_logs import read_log

RUN = "manual__2026-01-05T00:00:00+00:00"

#: for the tests whose behaviour does not depend on the metastore (each PostgreSQL
#: variant costs a migration)
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])
THIS_HOST = socket.gethostname()

EXTRACT_LOG = (
    "[2026-03-01T12:00:00.000Z] {downwind.task} INFO - Task process 4242 on here\n"
    "rows: 5 — naïve ✓ 𝄞\n"
    "\n"
    "[2026-03-01T12:00:03.000Z] {downwind.task} INFO - Marking task as SUCCESS"
)
TRANSFORM_TRY_1 = "try one\nValueError: bad row 3\n"
TRANSFORM_TRY_2 = "try two\r\nValueError: bad row 4\n"


def log_file(home: Path, task_id: str, attempt: int, map_index: int | None = None) -> Path:
    """The documented place of a try's log."""
    folder = home / "logs" / "dag_id=etl" / f"run_id={RUN}" / f"task_id={task_id}"
    if map_index is not None:
        folder = folder / f"map_index={map_index}"
    return folder / f"attempt={attempt}.log"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


def append(path: Path, text: str) -> None:
    with path.open("ab") as file:
        file.write(text.encode())


def _set_up_run(session: Session) -> None:
    """extract: one try here; transform: tries 1 and 2 failed (1 in the history);
    report: one try on another host; load: not tried."""
    finish_try(session, "etl", RUN, "extract", "success").hostname = THIS_HOST
    ti = finish_try(session, "etl", RUN, "transform", "failed")
    ti.hostname = THIS_HOST
    archive_try(session, ti)
    reset_try_fields(ti)
    retried = finish_try(
        session, "etl", RUN, "transform", "failed", try_number=2, started=NOW + timedelta(hours=1)
    )
    retried.hostname = THIS_HOST
    finish_try(session, "etl", RUN, "report", "success")  # on worker-1


@pytest.fixture
def home(db_home: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    """A migrated home (SQLite or PostgreSQL) with one run of ``etl`` and the log files
    of the tries that ran on this machine."""
    migrate_configured_metastore()
    register_in_configured_metastore(etl_dag())
    assert main(["dags", "trigger", "etl", "-l", "2026-01-05"]) == 0
    in_configured_metastore(_set_up_run)
    write(log_file(db_home, "extract", 1), EXTRACT_LOG)
    write(log_file(db_home, "transform", 1), TRANSFORM_TRY_1)
    write(log_file(db_home, "transform", 2), TRANSFORM_TRY_2)
    capsys.readouterr()
    yield db_home
    dispose_engines()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _logs(capsys: pytest.CaptureFixture[str], task_id: str, *options: str) -> tuple[int, str, str]:
    return _run(capsys, "tasks", "logs", "etl", RUN, task_id, *options)


def _change(task_id: str, **fields: object) -> None:
    """Set fields of a task instance in a committed transaction."""

    def change(session: Session) -> None:
        ti = task_instance(session, "etl", RUN, task_id)
        for name, value in fields.items():
            setattr(ti, name, value)

    in_configured_metastore(change)


def test_prints_the_latest_try_as_it_is_or_any_earlier_one_with_try(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _logs(capsys, "extract") == (0, EXTRACT_LOG, "")
    assert _logs(capsys, "transform") == (0, TRANSFORM_TRY_2, "")
    assert _logs(capsys, "transform", "--try", "1") == (0, TRANSFORM_TRY_1, "")
    assert _logs(capsys, "transform", "--try", "2") == (0, TRANSFORM_TRY_2, "")


@sqlite_only
def test_a_try_that_does_not_exist_is_an_error_listing_the_tries(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for try_number in ("0", "3", "-1"):
        assert _logs(capsys, "transform", "--try", try_number) == (
            1,
            "",
            f"error: task 'transform' of run '{RUN}' of DAG 'etl' has no try {try_number}: "
            "its tries are 1 and 2\n",
        )
    assert _logs(capsys, "extract", "--try", "2") == (
        1,
        "",
        f"error: task 'extract' of run '{RUN}' of DAG 'etl' has no try 2: its only try is 1\n",
    )


def test_a_try_without_a_log_file_says_why(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_log = log_file(home, "report", 1)
    assert _logs(capsys, "report") == (
        1,
        "",
        f"error: no log for try 1 of task 'report' of run '{RUN}' of DAG 'etl': it ran on "
        f"host 'worker-1', so its log is on that machine ({report_log} does not exist here)\n",
    )
    extract_log = log_file(home, "extract", 1)
    extract_log.unlink()
    assert _logs(capsys, "extract") == (
        1,
        "",
        f"error: no log for try 1 of task 'extract' of run '{RUN}' of DAG 'etl': {extract_log} "
        "does not exist (deleted, or [logging] base_log_folder was different when it ran)\n",
    )
    assert _logs(capsys, "load") == (
        1,
        "",
        f"error: task 'load' of run '{RUN}' of DAG 'etl' has not run yet, so it has no log\n",
    )
    _change("load", state="queued", try_number=1, queued_dttm=NOW)
    assert _logs(capsys, "load") == (
        1,
        "",
        f"error: no log for try 1 of task 'load' of run '{RUN}' of DAG 'etl': it is queued and "
        "has not started writing its log yet (--follow waits for it)\n",
    )


#: (argv after ``tasks logs``, the one error line it must print)
BAD_INPUT = [
    (["elt", RUN, "extract"], "error: DAG 'elt' not found in the metastore"),
    (["etl", "nope", "extract"], "error: DAG 'etl' has no run 'nope'\n"),
    (["etl", RUN, "lod"], f"error: run '{RUN}' of DAG 'etl' has no task 'lod'\n"),
    (
        ["etl", RUN, "extract", "--map-index", "3"],
        f"error: run '{RUN}' of DAG 'etl' has no task 'extract' with map index 3\n",
    ),
    (
        ["etl", RUN, "extract", "--try", "last"],
        "error: invalid try number 'last': expected a whole number\n",
    ),
    (
        ["etl", RUN, "extract", "--map-index", "x"],
        "error: invalid map index 'x': expected a whole number\n",
    ),
]


def test_unknown_dag_run_task_and_bad_numbers_are_one_error_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, error in BAD_INPUT:
        status, out, err = _run(capsys, "tasks", "logs", *argv)
        assert (status, out) == (1, ""), argv
        assert err.startswith(error), (argv, err)
        assert err.count("\n") == 1, (argv, err)


@sqlite_only
def test_a_mapped_task_instance_log_is_under_its_map_index(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def add_mapped(session: Session) -> None:
        session.add(
            TaskInstance(
                dag_id="etl",
                run_id=RUN,
                task_id="report",
                map_index=2,
                state="success",
                try_number=1,
                hostname=THIS_HOST,
                start_date=NOW,
            )
        )

    in_configured_metastore(add_mapped)
    write(log_file(home, "report", 1, map_index=2), "mapped item 2\n")
    assert _logs(capsys, "report", "--map-index", "2") == (0, "mapped item 2\n", "")
    assert _logs(capsys, "report", "--map-index", "2", "--try", "2") == (
        1,
        "",
        f"error: task 'report' with map index 2 of run '{RUN}' of DAG 'etl' has no try 2: "
        "its only try is 1\n",
    )


@sqlite_only
def test_the_logs_are_read_from_the_configured_base_log_folder(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("DOWNWIND__LOGGING__BASE_LOG_FOLDER", str(elsewhere))
    reset_config_cache()
    moved = elsewhere / log_file(home, "extract", 1).relative_to(home / "logs")
    write(moved, "from the configured folder\n")
    assert _logs(capsys, "extract") == (0, "from the configured folder\n", "")


def _in_thread(work: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as err:  # reported by the test
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_follow_prints_new_lines_until_the_task_instance_finishes(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A queued try has no file yet; the writer creates it, runs, appends lines, sets the
    state success and writes one last line just after: all of it is printed, once."""
    _change("load", state="queued", try_number=1, queued_dttm=NOW)
    path = log_file(home, "load", 1)
    lines = [f"line {n}: 𝄞 ✓\n" for n in range(5)]

    def task() -> None:
        time.sleep(0.2)
        write(path, "starting\n")
        _change("load", state="running", start_date=NOW, hostname=THIS_HOST)
        for line in lines:
            time.sleep(0.06)
            append(path, line)
        _change("load", state="success", end_date=NOW + timedelta(seconds=1))
        append(path, "Task exited with return code 0\n")

    thread, errors = _in_thread(task)
    status, out, err = _logs(capsys, "load", "--follow")
    thread.join(10)
    assert not errors
    assert status == 0
    assert out == "starting\n" + "".join(lines) + "Task exited with return code 0\n"
    assert out == path.read_text()
    assert err == f"Try 1 of task 'load' of run '{RUN}' of DAG 'etl' ended: success\n"


@sqlite_only
def test_follow_of_a_finished_try_prints_it_and_returns(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert _logs(capsys, "transform", "--try", "1", "--follow") == (0, TRANSFORM_TRY_1, "")
    assert time.monotonic() - started < 0.5  # no poll: the try is over


@sqlite_only
def test_follow_a_try_that_never_wrote_a_log_here(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A try running on another machine: when it ends, the reason there is no log."""
    _change("load", state="running", try_number=1, start_date=NOW, hostname="worker-7")

    def elsewhere() -> None:
        time.sleep(0.1)
        _change("load", state="failed", end_date=NOW)

    thread, errors = _in_thread(elsewhere)
    status, out, err = _logs(capsys, "load", "--follow")
    thread.join(10)
    assert not errors
    assert (status, out) == (1, "")
    assert err.startswith(
        f"error: no log for try 1 of task 'load' of run '{RUN}' of DAG 'etl': it ran on host "
        "'worker-7', so its log is on that machine"
    )


def _lines_of(stream: object) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@sqlite_only
def test_follow_streams_as_lines_are_written_and_stops_on_ctrl_c_with_130(home: Path) -> None:
    """A real ``downwind`` process: each appended line shows up while the try runs."""
    _change("extract", state="running", end_date=None)
    path = log_file(home, "extract", 1)
    write(path, "first\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "downwind", "tasks", "logs", "etl", RUN, "extract", "-f"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        out = _lines_of(process.stdout)
        assert out.get(timeout=20) == "first\n"
        append(path, "second\n")
        assert out.get(timeout=5) == "second\n"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 130
        assert process.stderr is not None
        assert process.stderr.read() == "interrupted\n"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- read_log: the primitive the CLI and the API read logs with ------------------------


def test_read_log_in_pieces_never_cuts_a_character(tmp_path: Path) -> None:
    text = "é€𝄞 line\n" * 5
    path = tmp_path / "attempt=1.log"
    write(path, text)
    for max_bytes in range(1, 12):
        pieces, offset, eof = [], 0, False
        while not eof:
            chunk = read_log(path, offset, max_bytes)
            assert chunk.next_offset > offset or chunk.eof
            pieces.append(chunk.text)
            offset, eof = chunk.next_offset, chunk.eof
        assert "".join(pieces) == text, max_bytes
        assert offset == len(text.encode())


def test_read_log_leaves_a_half_written_character_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "attempt=1.log"
    euro = "€".encode()
    path.write_bytes(b"ab" + euro[:2])
    chunk = read_log(path)
    assert (chunk.text, chunk.next_offset, chunk.eof) == ("ab", 2, True)
    with path.open("ab") as file:
        file.write(euro[2:] + b"\n")
    chunk = read_log(path, chunk.next_offset)
    assert (chunk.text, chunk.next_offset, chunk.eof) == ("€\n", 6, True)


def test_read_log_final_decodes_a_cut_last_character_and_replaces_bad_bytes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "attempt=1.log"
    path.write_bytes(b"ok \xff done" + "€".encode()[:2])
    chunk = read_log(path, final=True)
    assert (chunk.text, chunk.next_offset, chunk.eof) == ("ok \ufffd done\ufffd", 11, True)


def test_read_log_past_the_end_and_bad_arguments(tmp_path: Path) -> None:
    path = tmp_path / "attempt=1.log"
    path.write_bytes(b"abc")
    chunk = read_log(path, 10)
    assert (chunk.text, chunk.next_offset, chunk.eof) == ("", 10, True)
    with pytest.raises(ValueError, match="offset must be 0 or more, got -1"):
        read_log(path, -1)
    with pytest.raises(ValueError, match="max_bytes must be 1 or more, got 0"):
        read_log(path, 0, 0)
    with pytest.raises(FileNotFoundError):
        read_log(tmp_path / "missing.log")
