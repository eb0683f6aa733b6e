"""``downwind tasks states-for-dag-run|state|set-state|list-tries|clear`` on a migrated
SQLite metastore, through ``main([...])``."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from metastore_dags import (
    etl_dag,
    finish_try,
    in_configured_metastore,
    migrate_configured_metastore,
    register_in_configured_metastore,
    states,
)
from sqlalchemy.orm import Session

from downwind.cli.main import main
from downwind.metastore.engine import dispose_engines
from downwind.services.runs import get_dag_run

RUN = "manual__2026-01-05T00:00:00+00:00"


class _Terminal(io.StringIO):
    """A stdin that is a terminal, with the user's answers already typed."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def home(downwind_home: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    """A migrated SQLite home with one run of ``etl``: extract succeeded, transform failed
    (its only try), load and report not run yet."""
    migrate_configured_metastore()
    register_in_configured_metastore(etl_dag())
    assert main(["dags", "trigger", "etl", "-l", "2026-01-05"]) == 0

    def fail(session: Session) -> None:
        finish_try(session, "etl", RUN, "extract", "success")
        finish_try(session, "etl", RUN, "transform", "failed", try_number=2)
        get_dag_run(session, "etl", RUN).state = "failed"

    in_configured_metastore(fail)
    capsys.readouterr()
    yield downwind_home
    dispose_engines()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _states() -> dict[str, str | None]:
    return in_configured_metastore(states, "etl", RUN)


def test_states_for_dag_run_as_a_table_and_as_json(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(capsys, "tasks", "states-for-dag-run", "etl", RUN)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "task_id",
        "state",
        "try",
        "start_date",
        "end_date",
        "duration",
    ]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["extract"][1:3] == ["success", "1"]
    assert rows["extract"][5] == "3.00s"
    assert rows["transform"][1:3] == ["failed", "2"]
    assert rows["load"][1:] == ["none", "0", "-", "-", "-"]
    assert lines[2].split()[0] == "extract", "tasks come in dependency order"

    status, out, _ = _run(capsys, "tasks", "states-for-dag-run", "etl", RUN, "-o", "json")
    records = {r["task_id"]: r for r in json.loads(out)}
    assert records["load"]["state"] is None
    assert records["load"]["pool"] == "db"
    assert records["transform"]["max_tries"] == 1
    assert records["extract"]["start_date"] == "2026-03-01T12:00:00+00:00"


def test_state_of_one_task_instance(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "tasks", "state", "etl", RUN, "transform") == (0, "failed\n", "")
    assert _run(capsys, "tasks", "state", "etl", RUN, "load") == (0, "none\n", "")


#: (argv, the start of the one error line it must print)
BAD_INPUT = [
    (
        ["tasks", "state", "etl", RUN, "lod"],
        f"error: run '{RUN}' of DAG 'etl' has no task 'lod'\n",
    ),
    (
        ["tasks", "state", "etl", RUN, "load", "--map-index", "x"],
        "error: invalid map index 'x': expected a whole number\n",
    ),
    (
        ["tasks", "states-for-dag-run", "etl", "nope"],
        "error: DAG 'etl' has no run 'nope'\n",
    ),
    (
        ["tasks", "set-state", "etl", RUN, "load", "queued"],
        "error: cannot mark a task instance 'queued': mark it failed, skipped, success (or "
        "clear it to run it again)\n",
    ),
    (
        ["tasks", "clear", "etl", "-t", "lod", "--yes"],
        "error: no task of DAG 'etl' matches the regex 'lod'\n",
    ),
    (["tasks", "clear", "etl", "-t", "(", "--yes"], "error: invalid task regex '(': "),
    (["tasks", "clear", "etl", "-s", "soon"], "error: invalid logical date 'soon'"),
    (["tasks", "clear", "elt", "--yes"], "error: DAG 'elt' not found in the metastore"),
    (["tasks", "list-tries", "etl", RUN, "nope"], f"error: run '{RUN}' of DAG 'etl' has no"),
]


def test_bad_input_is_one_error_line_and_status_1(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, error in BAD_INPUT:
        status, _, err = _run(capsys, *argv)
        assert status == 1, argv
        assert err.startswith(error), (argv, err)
        assert err.count("\n") == 1, (argv, err)


def test_set_state_marks_and_refuses_a_running_task(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(capsys, "tasks", "set-state", "etl", RUN, "load", "skipped")
    assert out == f"Marked task 'load' of run {RUN} of DAG 'etl' skipped.\n"
    assert _states()["load"] == "skipped"
    in_configured_metastore(lambda s: finish_try(s, "etl", RUN, "report", "running"))
    status, _, err = _run(capsys, "tasks", "set-state", "etl", RUN, "report", "success")
    assert status == 1
    assert err == (
        "error: cannot mark a running task instance success: stop it first (it is running)\n"
    )


def test_clear_without_yes_refuses_when_stdin_is_not_a_terminal(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    status, out, err = _run(capsys, "tasks", "clear", "etl", "--only-failed")
    assert status == 1
    assert out.splitlines()[0] == "Task instances to clear (1):"
    assert out.splitlines()[3].split() == [RUN, "transform", "failed"]
    assert err == (
        "error: refusing to clear 1 task instance without confirmation: stdin is not a "
        "terminal; pass --yes to clear them\n"
    )
    assert _states()["transform"] == "failed"


@pytest.mark.parametrize(("answer", "cleared"), [("y\n", True), ("n\n", False), ("", False)])
def test_clear_asks_in_a_terminal(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    answer: str,
    cleared: bool,
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal(answer))
    status, out, _ = _run(capsys, "tasks", "clear", "etl", "-t", "^transform$", "--downstream")
    assert "Clear 2 task instances? [y/N]" in out
    assert out.splitlines()[3].split() == [RUN, "transform", "failed"]
    assert out.splitlines()[4].split() == [RUN, "load", "none"]
    if cleared:
        assert status == 0
        assert out.endswith(
            "Cleared 2 task instances in 1 run of DAG 'etl'; the scheduler will run them again.\n"
        )
        assert _states()["transform"] is None
    else:
        assert status == 1
        assert out.endswith("Nothing was cleared.\n")
        assert _states()["transform"] == "failed"


def test_clear_with_yes_shows_what_it_cleared_and_keeps_the_tries(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(capsys, "tasks", "clear", "etl", "--only-failed", "--yes")
    assert status == 0
    assert out.splitlines()[0] == "Cleared task instances (1):"
    assert out.splitlines()[3].split() == [RUN, "transform", "failed"]
    assert _states() == {"extract": "success", "transform": None, "load": None, "report": None}
    assert _run(capsys, "dags", "state", "etl", RUN)[1] == "queued\n"

    status, out, _ = _run(capsys, "tasks", "list-tries", "etl", RUN, "transform")
    lines = out.splitlines()
    assert lines[0].split() == ["try", "state", "start_date", "end_date", "duration", "hostname"]
    assert lines[2].split()[:2] == ["2", "failed"]
    assert lines[2].split()[-1] == "worker-1"
    status, out, _ = _run(capsys, "tasks", "list-tries", "etl", RUN, "load", "-o", "json")
    assert json.loads(out) == []

    assert _run(capsys, "tasks", "clear", "etl", "--only-failed", "--yes") == (
        0,
        "No task instances to clear.\n",
        "",
    )
    assert _run(capsys, "tasks", "clear", "etl", "--only-failed") == (
        0,
        "No task instances to clear.\n",
        "",
    )


def test_clear_a_running_task_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    in_configured_metastore(lambda s: finish_try(s, "etl", RUN, "report", "running"))
    status, _, err = _run(capsys, "tasks", "clear", "etl", "--yes")
    assert status == 1
    assert err.startswith(
        f"error: cannot clear task instances of DAG 'etl' while they run: report (run {RUN}) "
        "is running; nothing was cleared."
    )
    assert _states()["transform"] == "failed"
