"""``downwind dags test`` and ``downwind tasks test`` through ``main([...])``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from downwind.cli.main import main

WriteDag = Callable[[str, str], Path]
Capsys = pytest.CaptureFixture[str]

PIPELINE = """\
from datetime import datetime
from downwind import DAG, Param
from downwind.operators.bash import BashOperator
from downwind.operators.python import PythonOperator

def _transform(**context):
    print("transforming for", context["ds"], "conf", context["dag_run"].conf)
    return 42

with DAG(
    "pipeline",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    params={"rows": Param(3, type="integer", minimum=1)},
) as dag:
    extract = BashOperator(
        task_id="extract", bash_command="echo extracted {{ params.rows }} rows on {{ ds }}"
    )
    transform = PythonOperator(task_id="transform", python_callable=_transform)
    report = BashOperator(
        task_id="report",
        bash_command="echo greeting={{ var.value.get('greeting', 'unset') }} "
        "got={{ ti.xcom_pull(task_ids='transform') }}",
    )
    extract >> transform >> report
"""

FAILING = """\
from datetime import datetime, timedelta
from downwind import DAG
from downwind.operators.bash import BashOperator

with DAG("failing", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    ok = BashOperator(task_id="ok", bash_command="echo fine")
    boom = BashOperator(
        task_id="boom",
        bash_command="echo about to fail; exit 3",
        retries=1,
        retry_delay=timedelta(minutes=10),
    )
    after = BashOperator(task_id="after", bash_command="echo never runs")
    ok >> boom >> after
"""

BRANCHING = """\
from datetime import datetime
from downwind import DAG
from downwind.operators.empty import EmptyOperator
from downwind.operators.python import BranchPythonOperator

with DAG("branching", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    choose = BranchPythonOperator(task_id="choose", python_callable=lambda: "left")
    choose >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
"""


@pytest.fixture
def dags(write_dag: WriteDag) -> None:
    write_dag("pipeline.py", PIPELINE)
    write_dag("failing.py", FAILING)
    write_dag("branching.py", BRANCHING)


def _status(out: str) -> list[tuple[str, str]]:
    """The (state, task_id) status lines, in order."""
    return re.findall(r"^ +(\w+) +(\w+)(?:  .*)?$", out, flags=re.MULTILINE)


def _logs(out: str, task_id: str) -> list[str]:
    """``task_id``'s log lines (without their prefix)."""
    return re.findall(rf"^ *{task_id} \| (.*)$", out, flags=re.MULTILINE)


def _summary(out: str) -> dict[str, list[str]]:
    """The summary table: task id -> [state, tries, duration]."""
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.split() == HEADERS))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        task_id, *cells = line.split()
        rows[task_id] = cells
    return rows


HEADERS = ["task", "state", "tries", "duration"]


# -- dags test ---------------------------------------------------------------------------


@pytest.mark.usefixtures("dags")
def test_dags_test_success(capsys: Capsys) -> None:
    assert main(["dags", "test", "pipeline", "2026-03-04"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "DAG pipeline  run test__2026-03-04T00:00:00+00:00  "
        "logical date 2026-03-04T00:00:00+00:00  (3 tasks)"
    )
    assert _status(out) == [
        ("running", "extract"),
        ("success", "extract"),
        ("running", "transform"),
        ("success", "transform"),
        ("running", "report"),
        ("success", "report"),
    ]
    assert "extracted 3 rows on 2026-03-04" in "\n".join(_logs(out, "extract"))
    assert "transforming for 2026-03-04 conf {}" in _logs(out, "transform")
    assert "greeting=unset got=42" in "\n".join(_logs(out, "report"))
    summary = _summary(out)
    assert {task: cells[:2] for task, cells in summary.items()} == {
        "extract": ["success", "1"],
        "transform": ["success", "1"],
        "report": ["success", "1"],
    }
    assert re.search(r"^Run test__2026-03-04T00:00:00\+00:00 succeeded in [\d.]+s$", out, re.M)
    assert "\033[" not in out  # not a terminal: no colors


@pytest.mark.usefixtures("dags")
def test_dags_test_conf_overrides_params_and_variables_come_from_env(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOWNWIND_VAR_GREETING", "hello")
    assert main(["dags", "test", "pipeline", "2026-03-04", "--conf", '{"rows": 7}']) == 0
    out = capsys.readouterr().out
    assert "extracted 7 rows on 2026-03-04" in "\n".join(_logs(out, "extract"))
    assert "transforming for 2026-03-04 conf {'rows': 7}" in _logs(out, "transform")
    assert "greeting=hello got=42" in "\n".join(_logs(out, "report"))


@pytest.mark.usefixtures("dags")
def test_dags_test_logical_date_with_time_and_zone(capsys: Capsys) -> None:
    assert main(["dags", "test", "pipeline", "2026-03-04T06:30:00+02:00"]) == 0
    assert "logical date 2026-03-04T04:30:00+00:00" in capsys.readouterr().out


@pytest.mark.usefixtures("dags")
def test_dags_test_failure_exits_1_and_skips_the_retry_delay(capsys: Capsys) -> None:
    started = time.monotonic()
    assert main(["dags", "test", "failing", "2026-01-01"]) == 1
    assert time.monotonic() - started < 5  # the 10-minute retry delay was not waited
    out = capsys.readouterr().out
    assert _status(out) == [
        ("running", "ok"),
        ("success", "ok"),
        ("running", "boom"),
        ("up_for_retry", "boom"),
        ("running", "boom"),
        ("failed", "boom"),
        ("upstream_failed", "after"),
    ]
    assert re.search(r"failed +boom +[\d.]+s  TaskException: .*exited with code 3", out)
    assert sum(line.endswith("INFO - about to fail") for line in _logs(out, "boom")) == 2
    assert _logs(out, "after") == []
    summary = _summary(out)
    assert summary["ok"][:2] == ["success", "1"]
    assert summary["boom"][:2] == ["failed", "2"]
    assert summary["after"] == ["upstream_failed", "0", "-"]
    assert re.search(r"^Run test__2026-01-01T00:00:00\+00:00 FAILED in [\d.]+s$", out, re.M)


def test_dags_test_wait_retry_delay_waits(write_dag: WriteDag, capsys: Capsys) -> None:
    write_dag(
        "slow_retry.py",
        FAILING.replace("failing", "slow_retry").replace(
            "timedelta(minutes=10)", "timedelta(seconds=0.4)"
        ),
    )
    started = time.monotonic()
    assert main(["dags", "test", "slow_retry", "--wait-retry-delay"]) == 1
    assert time.monotonic() - started >= 0.4
    assert _summary(capsys.readouterr().out)["boom"][:2] == ["failed", "2"]


def test_dags_test_without_a_date_runs_now(write_dag: WriteDag, capsys: Capsys) -> None:
    write_dag("adhoc.py", FAILING.replace('"failing"', '"adhoc"').replace("exit 3", "exit 0"))
    assert main(["dags", "test", "adhoc", "--no-color"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert re.fullmatch(r"DAG adhoc  run test__\S+  logical date 20\d\d-\S+  \(3 tasks\)", first)


# -- tasks test --------------------------------------------------------------------------


@pytest.mark.usefixtures("dags")
def test_tasks_test_runs_only_that_task(capsys: Capsys) -> None:
    assert main(["tasks", "test", "pipeline", "extract", "2026-05-06"]) == 0
    out = capsys.readouterr().out
    assert _status(out) == [("running", "extract"), ("success", "extract")]
    assert "extracted 3 rows on 2026-05-06" in "\n".join(_logs(out, "extract"))
    assert _logs(out, "transform") == []
    assert list(_summary(out)) == ["extract"]


@pytest.mark.usefixtures("dags")
def test_tasks_test_ignores_upstream_and_retries(capsys: Capsys) -> None:
    # Upstream never ran, so its XCom is empty; a failing task gets one try, exit 1.
    assert main(["tasks", "test", "pipeline", "report", "2026-05-06"]) == 0
    assert "greeting=unset got=None" in "\n".join(_logs(capsys.readouterr().out, "report"))
    assert main(["tasks", "test", "failing", "boom"]) == 1
    out = capsys.readouterr().out
    assert _summary(out)["boom"][:2] == ["failed", "1"]
    assert _logs(out, "ok") == []


@pytest.mark.usefixtures("dags")
def test_tasks_test_of_a_branch_task(capsys: Capsys) -> None:
    assert main(["tasks", "test", "branching", "choose"]) == 0
    out = capsys.readouterr().out
    assert _status(out) == [("running", "choose"), ("success", "choose")]
    assert _logs(out, "left") == []


@pytest.mark.usefixtures("dags")
def test_tasks_test_conf_and_params(capsys: Capsys) -> None:
    assert main(["tasks", "test", "pipeline", "extract", "2026-05-06", "-c", '{"rows": 9}']) == 0
    assert "extracted 9 rows" in "\n".join(_logs(capsys.readouterr().out, "extract"))
    assert main(["tasks", "test", "pipeline", "extract", "--conf", '{"rows": 0}']) == 1
    assert capsys.readouterr().err == "error: param 'rows': must be >= 1, got 0\n"


# -- bad input ---------------------------------------------------------------------------


@pytest.mark.usefixtures("dags")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["dags", "test", "pipelin"],
            "error: DAG 'pipelin' not found in {dags}; did you mean 'pipeline'?",
        ),
        (["dags", "test", "nothing_like_it"], "error: DAG 'nothing_like_it' not found in {dags}"),
        (
            ["tasks", "test", "pipelin", "extract"],
            "error: DAG 'pipelin' not found in {dags}; did you mean 'pipeline'?",
        ),
        (["tasks", "test", "pipeline", "nope"], "error: task 'nope' not found in DAG 'pipeline'"),
        (
            ["dags", "test", "pipeline", "2026-13-01"],
            "error: invalid logical date '2026-13-01': expected YYYY-MM-DD or an ISO 8601 "
            "date-time such as 2026-01-01T06:00:00+00:00",
        ),
        (
            ["tasks", "test", "pipeline", "extract", "yesterday"],
            "error: invalid logical date 'yesterday': expected YYYY-MM-DD or an ISO 8601 "
            "date-time such as 2026-01-01T06:00:00+00:00",
        ),
        (
            ["dags", "test", "pipeline", "--conf", "{rows: 3}"],
            "error: --conf is not valid JSON: Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)",
        ),
        (
            ["dags", "test", "pipeline", "--conf", "[1, 2]"],
            "error: --conf must be a JSON object such as '{\"key\": 1}', got list",
        ),
        (
            ["dags", "test", "pipeline", "--conf", '"text"'],
            "error: --conf must be a JSON object such as '{\"key\": 1}', got str",
        ),
        (
            ["dags", "test", "pipeline", "--conf", '{"rows": "many"}'],
            "error: param 'rows': must be integer, got 'many'",
        ),
        (
            ["dags", "test", "pipeline", "--conf", '{"rows": 0}'],
            "error: param 'rows': must be >= 1, got 0",
        ),
    ],
)
def test_bad_input_is_one_error_line_and_status_1(
    capsys: Capsys, dags_folder: Path, argv: list[str], message: str
) -> None:
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err == message.replace("{dags}", str(dags_folder)) + "\n"
    assert captured.out == ""  # refused before anything ran
