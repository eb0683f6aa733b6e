"""``downwind config list`` and ``downwind config get-value``, through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from downwind.cli.main import main
from downwind.config import reset_config_cache
from downwind.config.options import OPTIONS

WriteToml = Callable[[str], Path]


@pytest.fixture
def cli_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    monkeypatch.setenv("DOWNWIND_HOME", str(home))
    reset_config_cache()
    return home


def _rows(table: str) -> dict[tuple[str, str], list[str]]:
    lines = table.splitlines()
    assert lines[0].split() == ["section", "key", "value", "source"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    rows = {}
    for line in lines[2:]:
        section, key, value, source = line.split(maxsplit=3)
        rows[section, key] = [value, source]
    return rows


def test_list_shows_values_and_sources(
    cli_home: Path,
    write_toml: WriteToml,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("[core]\nexecutor = 'sequential'\n")
    monkeypatch.setenv("DOWNWIND__CORE__PARALLELISM", "4")
    assert main(["config", "list"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert rows["core", "parallelism"] == ["4", "env DOWNWIND__CORE__PARALLELISM"]
    assert rows["core", "executor"] == ["sequential", str(path)]
    assert rows["core", "load_examples"] == ["true", "default"]
    assert rows["core", "dags_folder"] == [str(cli_home / "dags"), "default"]
    assert rows["scheduler", "catchup_by_default"] == ["true", "default"]
    assert rows["api", "cors_allowed_origins"] == ['""', "default"]  # empty, not blank
    assert len(rows) == len(OPTIONS)


def test_list_masks_the_database_password(
    cli_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOWNWIND__DATABASE__URL", "postgresql://dw:hunter2@db.local/dw")
    assert main(["config", "list"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert _rows(out)["database", "url"] == [
        "postgresql://dw:***@db.local/dw",
        "env DOWNWIND__DATABASE__URL",
    ]
    assert main(["config", "list", "-o", "json"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert {
        "section": "database",
        "key": "url",
        "value": "postgresql://dw:***@db.local/dw",
        "source": "env DOWNWIND__DATABASE__URL",
    } in json.loads(out)


def test_list_as_json(cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "list", "--output", "json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == len(OPTIONS)
    assert all(set(item) == {"section", "key", "value", "source"} for item in items)
    by_key = {(i["section"], i["key"]): i for i in items}
    assert by_key["core", "parallelism"] == {
        "section": "core",
        "key": "parallelism",
        "value": 32,
        "source": "default",
    }
    assert by_key["core", "load_examples"]["value"] is True
    assert by_key["core", "dags_folder"]["value"] == str(cli_home / "dags")


def test_list_one_section(cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "list", "--section", "dag_processor", "-o", "json"]) == 0
    listed = [(i["section"], i["key"]) for i in json.loads(capsys.readouterr().out)]
    assert listed == [(o.section, o.name) for o in OPTIONS if o.section == "dag_processor"]
    assert ("dag_processor", "refresh_interval") in listed


def test_list_unknown_section(cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "list", "--section", "schedular"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown section [schedular]" in captured.err
    assert "did you mean [scheduler]?" in captured.err


def test_get_value_prints_the_bare_value(
    cli_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "get-value", "core", "parallelism"]) == 0
    assert capsys.readouterr().out == "32\n"
    assert main(["config", "get-value", "scheduler", "catchup_by_default"]) == 0
    assert capsys.readouterr().out == "true\n"
    assert main(["config", "get-value", "core", "dags_folder"]) == 0
    assert capsys.readouterr().out == f"{cli_home / 'dags'}\n"
    monkeypatch.setenv("DOWNWIND__DATABASE__URL", "postgresql://dw:pw@h/dw")
    reset_config_cache()
    assert main(["config", "get-value", "database", "url"]) == 0
    assert capsys.readouterr().out == "postgresql://dw:pw@h/dw\n"


def test_get_value_unknown_key(cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "get-value", "core", "paralelism"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown option [core] paralelism" in captured.err
    assert "did you mean [core] parallelism?" in captured.err


def test_bad_configuration_is_an_error_not_a_traceback(
    cli_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOWNWIND__CORE__PARALLELISM", "abc")
    assert main(["config", "list"]) == 1
    assert capsys.readouterr().err == (
        "error: [core] parallelism: expected an integer >= 1, got 'abc' "
        "(from environment variable DOWNWIND__CORE__PARALLELISM)\n"
    )


def test_console_script_in_a_subprocess(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOWNWIND")}
    env["DOWNWIND_HOME"] = str(home)
    env["DOWNWIND__CORE__PARALLELISM"] = "7"
    result = subprocess.run(
        [sys.executable, "-m", "downwind", "config", "get-value", "core", "parallelism"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "7\n"
