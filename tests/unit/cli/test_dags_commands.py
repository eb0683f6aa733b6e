"""``downwind dags list|list-import-errors|show`` and ``downwind tasks list``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from downwind.cli.main import main

WriteDag = Callable[[str, str], Path]
Capsys = pytest.CaptureFixture[str]

PIPELINE = """\
from datetime import datetime
from downwind import DAG
from downwind.operators.bash import BashOperator
from downwind.operators.empty import EmptyOperator

with DAG(
    "pipeline",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    tags=["etl", "daily"],
    description="Extract, transform, load",
) as dag:
    extract = BashOperator(task_id="extract", bash_command="echo extract")
    transform = EmptyOperator(task_id="transform")
    load = EmptyOperator(task_id="load")
    report = EmptyOperator(task_id="report", owner="analytics")
    extract >> [transform, load] >> report
"""

ADHOC = """\
from downwind import DAG
from downwind.operators.empty import EmptyOperator

with DAG("adhoc", schedule=None) as dag:
    EmptyOperator(task_id="only")
"""

BROKEN = """\
from downwind import DAG
raise RuntimeError("database is down")
"""


@pytest.fixture
def two_dags(write_dag: WriteDag) -> dict[str, Path]:
    return {"pipeline": write_dag("pipeline.py", PIPELINE), "adhoc": write_dag("adhoc.py", ADHOC)}


# -- dags list ---------------------------------------------------------------------------


def test_dags_list_table(two_dags: dict[str, Path], capsys: Capsys) -> None:
    assert main(["dags", "list"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == ["dag_id", "schedule", "tasks", "owners", "tags", "fileloc"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert [line.split() for line in lines[2:]] == [
        ["adhoc", "None", "1", "downwind", str(two_dags["adhoc"])],
        [
            "pipeline",
            "@daily",
            "4",
            "analytics,",
            "downwind",
            "daily,etl",
            str(two_dags["pipeline"]),
        ],
    ]
    assert captured.err == ""


def test_dags_list_json_for_scripts(two_dags: dict[str, Path], capsys: Capsys) -> None:
    assert main(["dags", "list", "-o", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["dag_id"] for row in rows] == ["adhoc", "pipeline"]
    pipeline = rows[1]
    assert pipeline == {
        "dag_id": "pipeline",
        "fileloc": str(two_dags["pipeline"]),
        "owners": "analytics, downwind",
        "schedule": "@daily",
        "catchup": True,
        "tags": ["daily", "etl"],
        "tasks": 4,
        "description": "Extract, transform, load",
    }
    assert rows[0]["schedule"] == "None"


def test_dags_list_still_shows_good_dags_and_warns_about_broken_files(
    two_dags: dict[str, Path], write_dag: WriteDag, capsys: Capsys
) -> None:
    write_dag("broken.py", BROKEN)
    assert main(["dags", "list", "--output", "json"]) == 0
    captured = capsys.readouterr()
    assert [row["dag_id"] for row in json.loads(captured.out)] == ["adhoc", "pipeline"]
    assert captured.err == (
        "warning: 1 DAG file failed to import; see `downwind dags list-import-errors`.\n"
    )


def test_dags_list_with_no_dags_says_where_it_looked(dags_folder: Path, capsys: Capsys) -> None:
    assert main(["dags", "list"]) == 0
    assert capsys.readouterr().out == f"No DAGs found in {dags_folder}.\n"
    assert main(["dags", "list", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_dags_list_follows_the_configured_dags_folder(
    tmp_path: Path, dags_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    from downwind.config import reset_config_cache

    elsewhere = tmp_path / "projects" / "dags"
    elsewhere.mkdir(parents=True)
    (elsewhere / "adhoc.py").write_text(ADHOC, encoding="utf-8")
    monkeypatch.setenv("DOWNWIND__CORE__DAGS_FOLDER", str(elsewhere))
    reset_config_cache()
    assert main(["dags", "list", "-o", "json"]) == 0
    assert [row["fileloc"] for row in json.loads(capsys.readouterr().out)] == [
        str(elsewhere / "adhoc.py")
    ]


def test_dags_list_includes_examples_when_load_examples_is_on(
    dags_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    from downwind.config import reset_config_cache

    monkeypatch.setenv("DOWNWIND__CORE__LOAD_EXAMPLES", "true")
    reset_config_cache()
    assert main(["dags", "list", "-o", "json"]) == 0
    ids = {row["dag_id"] for row in json.loads(capsys.readouterr().out)}
    assert "download_rocket_launches" in ids


# -- dags list-import-errors -------------------------------------------------------------


def test_list_import_errors_when_there_are_none(two_dags: dict[str, Path], capsys: Capsys) -> None:
    assert main(["dags", "list-import-errors"]) == 0
    assert capsys.readouterr().out == "No import errors.\n"
    assert main(["dags", "list-import-errors", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_list_import_errors_shows_path_and_traceback_and_exits_1(
    two_dags: dict[str, Path], write_dag: WriteDag, capsys: Capsys
) -> None:
    broken = write_dag("broken.py", BROKEN)
    syntax = write_dag("syntax.py", "from downwind import DAG\nDAG('x',\n")
    assert main(["dags", "list-import-errors"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{broken}\n{'-' * len(str(broken))}\nTraceback (most recent call last):")
    assert f'  File "{broken}", line 2, in <module>' in out
    assert "RuntimeError: database is down" in out
    assert f"{syntax}\n" in out
    assert "SyntaxError: '(' was never closed" in out

    assert main(["dags", "list-import-errors", "-o", "json"]) == 1
    errors = json.loads(capsys.readouterr().out)
    assert [e["filepath"] for e in errors] == [str(broken), str(syntax)]
    assert errors[0]["error"].rstrip().endswith("RuntimeError: database is down")


# -- dags show / tasks list --------------------------------------------------------------


def test_dags_show_prints_a_tree(two_dags: dict[str, Path], capsys: Capsys) -> None:
    assert main(["dags", "show", "pipeline"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "pipeline  (schedule: @daily, 4 tasks)",
        "extract <BashOperator>",
        "├── load <EmptyOperator>",
        "│   └── report <EmptyOperator>",
        "└── transform <EmptyOperator>",
        "    └── report <EmptyOperator> (see above)",
    ]


def test_dags_show_dot_is_graphviz_with_every_task_and_edge(
    two_dags: dict[str, Path], capsys: Capsys
) -> None:
    assert main(["dags", "show", "pipeline", "--dot"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == 'digraph "pipeline" {'
    assert lines[-1] == "}"
    body = lines[1:-1]
    assert all(line.startswith("  ") and line.endswith(";") for line in body)
    quoted = r'"((?:[^"\\]|\\.)*)"'
    nodes = {m[1] for line in body if (m := re.fullmatch(rf"  {quoted} \[label={quoted}\];", line))}
    edges = {
        (m[1], m[2]) for line in body if (m := re.fullmatch(rf"  {quoted} -> {quoted};", line))
    }
    assert nodes == {"extract", "transform", "load", "report"}
    assert edges == {
        ("extract", "transform"),
        ("extract", "load"),
        ("transform", "report"),
        ("load", "report"),
    }


def test_dags_show_dot_quotes_ids_graphviz_would_misread(
    write_dag: WriteDag, capsys: Capsys
) -> None:
    write_dag(
        "odd.py",
        "from downwind import DAG\nfrom downwind.operators.empty import EmptyOperator\n"
        "with DAG('odd-id.v2', schedule=None) as dag:\n"
        "    EmptyOperator(task_id='a.b') >> EmptyOperator(task_id='c-d')\n",
    )
    assert main(["dags", "show", "odd-id.v2", "--dot"]) == 0
    out = capsys.readouterr().out
    assert 'digraph "odd-id.v2" {' in out
    assert '  "a.b" -> "c-d";' in out


def test_tasks_list_in_dependency_order(two_dags: dict[str, Path], capsys: Capsys) -> None:
    assert main(["tasks", "list", "pipeline"]) == 0
    order = capsys.readouterr().out.split()
    assert sorted(order) == ["extract", "load", "report", "transform"]
    assert order[0] == "extract"
    assert order[-1] == "report"


def test_tasks_list_tree(two_dags: dict[str, Path], capsys: Capsys) -> None:
    assert main(["tasks", "list", "pipeline", "--tree"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "extract <BashOperator>",
        "├── load <EmptyOperator>",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        ["dags", "show", "pipelin"],
        ["dags", "show", "pipelin", "--dot"],
        ["tasks", "list", "pipelin"],
    ],
)
def test_unknown_dag_is_a_clear_error_with_a_suggestion(
    two_dags: dict[str, Path], dags_folder: Path, capsys: Capsys, argv: list[str]
) -> None:
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"error: DAG 'pipelin' not found in {dags_folder}; did you mean 'pipeline'?\n"
    )


def test_unknown_dag_lists_the_files_that_failed(
    two_dags: dict[str, Path], write_dag: WriteDag, capsys: Capsys
) -> None:
    broken = write_dag("broken.py", BROKEN)
    assert main(["dags", "show", "missing"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: DAG 'missing' not found in ")
    assert f"  {broken}: RuntimeError: database is down\n" in err
    assert "Traceback" not in err
