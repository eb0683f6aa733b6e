"""``downwind variables ...`` on a migrated SQLite metastore, through ``main([...])``."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from metastore_dags import migrate_configured_metastore

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


def test_set_get_list_and_delete(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "variables", "list") == (0, "No variables defined.\n", "")
    assert _run(capsys, "variables", "set", "region", "eu-west-1", "--description", "where") == (
        0,
        "Variable 'region' set.\n",
        "",
    )
    _run(capsys, "variables", "set", "token", "s3cret")
    assert _run(capsys, "variables", "get", "region") == (0, "eu-west-1\n", "")
    status, out, _ = _run(capsys, "variables", "list")
    assert status == 0
    assert out.splitlines()[2:] == ["region  where", "token"]
    assert "s3cret" not in out and "eu-west-1" not in out, "list never shows values"
    status, out, _ = _run(capsys, "variables", "list", "-o", "json")
    assert status == 0
    assert json.loads(out) == [
        {"key": "region", "description": "where"},
        {"key": "token", "description": None},
    ]
    assert _run(capsys, "variables", "delete", "region") == (0, "Variable 'region' deleted.\n", "")
    assert _run(capsys, "variables", "get", "region", "--default", "none") == (0, "none\n", "")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["variables", "get", "missing"], "error: variable 'missing' is not defined\n"),
        (["variables", "delete", "missing"], "error: variable 'missing' is not defined\n"),
        (["variables", "set", "", "v"], "error: invalid variable key ''"),
        (["variables", "import", "/no/such/file.json"], "error: cannot read /no/such/file.json"),
    ],
)
def test_bad_input_is_one_error_line(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    status, _, err = _run(capsys, *argv)
    assert status == 1
    assert err.startswith(error) and err.count("\n") == 1


def test_export_and_import_through_files_and_stdio(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _run(capsys, "variables", "set", "plain", "text")
    _run(capsys, "variables", "set", "cfg", '{"rows": 3}', "--description", "settings")
    exported = tmp_path / "vars.json"
    assert _run(capsys, "variables", "export", str(exported)) == (
        0,
        f"Exported 2 variables to {exported}.\n",
        "",
    )
    assert json.loads(exported.read_text()) == {
        "cfg": {"value": '{"rows": 3}', "description": "settings"},
        "plain": "text",
    }
    status, out, _ = _run(capsys, "variables", "export", "-")
    assert status == 0
    assert json.loads(out) == json.loads(exported.read_text())

    _run(capsys, "variables", "delete", "plain")
    _run(capsys, "variables", "delete", "cfg")
    assert _run(capsys, "variables", "import", str(exported)) == (
        0,
        f"Imported 2 variables from {exported} (2 created, 0 updated).\n",
        "",
    )
    assert _run(capsys, "variables", "get", "cfg") == (0, '{"rows": 3}\n', "")

    monkeypatch.setattr(sys, "stdin", io.StringIO('{"plain": "new", "n": 5}'))
    assert _run(capsys, "variables", "import", "-") == (
        0,
        "Imported 2 variables from - (1 created, 1 updated).\n",
        "",
    )
    assert _run(capsys, "variables", "get", "n") == (0, "5\n", "")


def test_a_malformed_import_file_changes_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"a": 1,}')
    status, _, err = _run(capsys, "variables", "import", str(broken))
    assert status == 1 and err.startswith(f"error: {broken} is not valid JSON: ")
    broken.write_text('["a"]')
    status, _, err = _run(capsys, "variables", "import", str(broken))
    assert err == ("error: a variables file must hold a JSON object of keys and values, got list\n")
    assert _run(capsys, "variables", "list", "-o", "json")[1] == "[]\n"
