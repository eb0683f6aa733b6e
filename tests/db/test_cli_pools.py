"""``downwind pools ...`` on a migrated SQLite metastore, through ``main([...])``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from metastore_dags import (
    etl_dag,
    migrate_configured_metastore,
    register_in_configured_metastore,
)

from downwind.cli.main import main
from downwind.metastore.engine import dispose_engines


@pytest.fixture
def home(downwind_home: Path) -> Iterator[Path]:
    migrate_configured_metastore()
    yield downwind_home
    dispose_engines()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_set_list_get_and_delete(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "pools", "set", "db", "4", "the warehouse") == (
        0,
        "Pool 'db' has 4 slots.\n",
        "",
    )
    status, out, _ = _run(capsys, "pools", "list")
    lines = out.splitlines()
    assert lines[0].split() == [
        "pool",
        "slots",
        "running",
        "queued",
        "scheduled",
        "open",
        "description",
    ]
    assert lines[2].split() == ["db", "4", "0", "0", "0", "4", "the", "warehouse"]
    assert lines[3].split() == ["default_pool", "128", "0", "0", "0", "128", "Default", "pool"]
    status, out, _ = _run(capsys, "pools", "get", "db", "-o", "json")
    assert json.loads(out) == {
        "pool": "db",
        "slots": 4,
        "running": 0,
        "queued": 0,
        "scheduled": 0,
        "open": 4,
        "description": "the warehouse",
    }
    status, out, _ = _run(capsys, "pools", "list", "-o", "json")
    assert [p["pool"] for p in json.loads(out)] == ["db", "default_pool"]
    assert _run(capsys, "pools", "delete", "db") == (0, "Pool 'db' deleted.\n", "")
    status, _, err = _run(capsys, "pools", "get", "db")
    assert (status, err) == (1, "error: pool 'db' does not exist\n")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["pools", "set", "db", "many", "x"], "error: invalid number of slots 'many'"),
        (["pools", "set", "db", "-1", "x"], "error: pool 'db': slots must be a whole number >= 0"),
        (["pools", "delete", "default_pool"], "error: 'default_pool' cannot be deleted"),
        (["pools", "delete", "nope"], "error: pool 'nope' does not exist"),
    ],
)
def test_bad_input_is_one_error_line(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    status, _, err = _run(capsys, *argv)
    assert status == 1
    assert err.startswith(error) and err.count("\n") == 1


def test_a_pool_with_unfinished_tasks_is_not_deleted(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "pools", "set", "db", "2", "warehouse")
    register_in_configured_metastore(etl_dag())
    assert _run(capsys, "dags", "trigger", "etl")[0] == 0
    status, _, err = _run(capsys, "pools", "delete", "db")
    assert status == 1
    assert err == (
        "error: pool 'db' cannot be deleted: 1 unfinished task instance is in it; wait for it "
        "to finish\n"
    )
