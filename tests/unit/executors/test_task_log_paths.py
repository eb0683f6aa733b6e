"""Where a try's log lives, and how the lines its supervisor adds look."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from downwind.runner.log_paths import append_log_line, task_log_path
from downwind.runtime.client import TaskInstanceKey


def test_one_file_per_try_under_dag_run_and_task_folders(tmp_path: Path) -> None:
    key = TaskInstanceKey("etl", "scheduled__2026-01-01T00:00:00+00:00", "load")
    assert task_log_path(tmp_path, key, 2) == (
        tmp_path
        / "dag_id=etl"
        / "run_id=scheduled__2026-01-01T00:00:00+00:00"
        / "task_id=load"
        / "attempt=2.log"
    )
    assert not (tmp_path / "dag_id=etl").exists()  # computing a path creates nothing


def test_mapped_task_instances_get_a_map_index_folder(tmp_path: Path) -> None:
    key = TaskInstanceKey("etl", "manual_1", "load", map_index=3)
    assert task_log_path(tmp_path, key, 1) == (
        tmp_path
        / "dag_id=etl"
        / "run_id=manual_1"
        / "task_id=load"
        / "map_index=3"
        / "attempt=1.log"
    )


def test_a_slash_in_a_run_id_stays_inside_its_folder(tmp_path: Path) -> None:
    for run_id, folder in [
        ("a/b", "run_id=a%2Fb"),
        ("..", "run_id=%2E%2E"),
        ("50%", "run_id=50%25"),
    ]:
        path = task_log_path(tmp_path, TaskInstanceKey("d", run_id, "t"), 1)
        assert path.parent.parent.name == folder
        assert path.parents[3] == tmp_path


def test_try_numbers_start_at_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="try_number starts at 1, got 0"):
        task_log_path(tmp_path, TaskInstanceKey("d", "r", "t"), 0)


def test_appended_lines_use_the_task_log_format(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "attempt=1.log"
    append_log_line(path, "the task process was killed by signal 9 (SIGKILL)")
    append_log_line(path, "second", level="WARNING", name="downwind.worker")
    lines = path.read_text().splitlines()
    assert re.fullmatch(
        r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] \{downwind\.executor\} ERROR - "
        r"the task process was killed by signal 9 \(SIGKILL\)",
        lines[0],
    )
    assert lines[1].endswith("{downwind.worker} WARNING - second")


def test_an_unwritable_log_does_not_raise(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    append_log_line(blocker / "attempt=1.log", "lost")  # parent is a file: logged, not raised
