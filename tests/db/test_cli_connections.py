"""``downwind connections ...`` on a migrated SQLite metastore, through ``main([...])``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from metastore_dags import in_configured_metastore, migrate_configured_metastore

from downwind.cli.main import main
from downwind.metastore.engine import dispose_engines
from downwind.services.connections import get_connection

URI = "postgresql://etl:s%40cret@db.internal:5432/sales?sslmode=require"


@pytest.fixture
def home(downwind_home: Path) -> Iterator[Path]:
    migrate_configured_metastore()
    yield downwind_home
    dispose_engines()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_add_from_a_uri_then_list_and_get_with_the_password_masked(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "connections", "list") == (0, "No connections defined.\n", "")
    status, out, err = _run(capsys, "connections", "add", "sales_db", "--conn-uri", URI)
    assert (status, err) == (0, "")
    assert out == (
        "Added connection 'sales_db': postgres://etl:***@db.internal:5432/sales?sslmode=require\n"
    )
    stored = in_configured_metastore(get_connection, "sales_db")
    assert stored.password == "s@cret", "stored as given"

    status, out, _ = _run(capsys, "connections", "list")
    assert out.splitlines()[2].split() == [
        "sales_db",
        "postgres",
        "db.internal",
        "5432",
        "etl",
        "sales",
    ]
    status, out, _ = _run(capsys, "connections", "get", "sales_db")
    rows = {
        name: value.strip()
        for name, _, value in (line.partition(" ") for line in out.splitlines()[2:])
    }
    assert rows["description"] == ""
    assert rows["password"] == "***"
    assert rows["extra"] == '{"sslmode": "require"}'
    status, out, _ = _run(capsys, "connections", "list", "-o", "json")
    (record,) = json.loads(out)
    assert record["password"] == "***"
    for output in (out, _run(capsys, "connections", "get", "sales_db", "-o", "json")[1]):
        assert "cret" not in output


def test_add_from_fields(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(
        capsys,
        "connections",
        "add",
        "api",
        "--conn-type",
        "http",
        "--conn-host",
        "api.example.com",
        "--conn-port",
        "8443",
        "--conn-login",
        "bot",
        "--conn-password",
        "hunter2",
        "--conn-extra",
        '{"token": "t-1", "timeout": 5}',
        "--conn-description",
        "partner API",
    )
    assert status == 0 and "hunter2" not in out
    status, out, _ = _run(capsys, "connections", "get", "api", "-o", "json")
    shown = json.loads(out)
    assert shown["extra"] == {"token": "***", "timeout": 5}
    assert shown["description"] == "partner API"
    assert shown["port"] == 8443
    assert "hunter2" not in out and "t-1" not in out
    assert _run(capsys, "connections", "delete", "api") == (0, "Connection 'api' deleted.\n", "")
    status, _, err = _run(capsys, "connections", "get", "api")
    assert (status, err) == (1, "error: connection 'api' is not defined\n")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["connections", "add", "c", "--conn-uri", "localhost:hunter2"],
            "error: connection 'c': invalid URI: it must start with a scheme",
        ),
        (
            ["connections", "add", "c", "--conn-uri", "http://u:hunter2@h:x"],
            "error: connection 'c': invalid URI: the port is not a number",
        ),
        (
            ["connections", "add", "c", "--conn-host", "h", "--conn-password", "hunter2"],
            "error: connection 'c': a connection type is required",
        ),
        (
            ["connections", "add", "c", "--conn-uri", URI, "--conn-host", "h"],
            "error: connection 'c': give either a URI or fields, not both",
        ),
        (["connections", "delete", "nope"], "error: connection 'nope' is not defined"),
    ],
)
def test_bad_input_is_one_error_line_without_the_password(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    status, out, err = _run(capsys, *argv)
    assert status == 1
    assert err.startswith(error) and err.count("\n") == 1
    assert "hunter2" not in err + out


def test_a_connection_id_is_added_once(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "connections", "add", "db", "--conn-uri", URI)[0] == 0
    status, _, err = _run(capsys, "connections", "add", "db", "--conn-uri", "http://h")
    assert (status, err) == (
        1,
        "error: connection 'db' already exists; delete it first to replace it\n",
    )
