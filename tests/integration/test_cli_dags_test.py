"""``python -m downwind dags test`` in a real process, on a dags folder the test writes:
the exit status says whether the run succeeded, and the output tells the story."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SUCCEEDING = """\
from datetime import datetime
from downwind import DAG, task
from downwind.operators.bash import BashOperator

from shared_naming import table_name  # a helper module beside the DAG files


with DAG("nightly_report", start_date=datetime(2026, 1, 1), schedule="@daily") as dag:
    fetch = BashOperator(
        task_id="fetch",
        bash_command="echo fetched {{ ds }} for {{ var.value.customer }}",
    )

    @task
    def count_rows(line: str) -> int:
        print("counting rows of", table_name(), "from", repr(line))
        return len(line.split())

    @task
    def publish(n: int) -> None:
        print(f"published {n} words")

    published = publish(count_rows(fetch.output))
    fast = BashOperator(task_id="independent", bash_command="echo in parallel")
"""

HELPER = """\
def table_name() -> str:
    return "sales"
"""

FAILING = """\
from datetime import datetime
from downwind import DAG
from downwind.operators.bash import BashOperator
from downwind.operators.python import PythonOperator


def _explode():
    print("checking the input")
    raise ValueError("input file is empty")


with DAG("fragile_etl", start_date=datetime(2026, 1, 1), schedule=None) as dag:
    extract = BashOperator(task_id="extract", bash_command="echo extracted")
    check = PythonOperator(task_id="check", python_callable=_explode)
    load = BashOperator(task_id="load", bash_command="echo loaded")
    extract >> check >> load
"""

BROKEN = "from downwind import DAG\nDAG('broken', schedule=None\n"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A ``$DOWNWIND_HOME`` with a succeeding DAG, a failing DAG, a helper and a broken
    file side by side."""
    home = tmp_path / "home"
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "nightly_report.py").write_text(SUCCEEDING, encoding="utf-8")
    (dags / "shared_naming.py").write_text(HELPER, encoding="utf-8")
    (dags / "fragile_etl.py").write_text(FAILING, encoding="utf-8")
    (dags / "broken.py").write_text(BROKEN, encoding="utf-8")
    return home


def _dags_test(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DOWNWIND_", "NO_COLOR"))
    }
    env.update(
        DOWNWIND_HOME=str(home),
        DOWNWIND__CORE__LOAD_EXAMPLES="false",
        DOWNWIND_VAR_CUSTOMER="acme",
    )
    return subprocess.run(
        [sys.executable, "-m", "downwind", "dags", "test", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=120,
        check=False,
    )


def _log(out: str, task_id: str) -> str:
    return "\n".join(re.findall(rf"^ *{task_id} \| (.*)$", out, flags=re.MULTILINE))


def _summary(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.split() == ["task", "state", "tries", "duration"]
    )
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        task_id, *cells = line.split()
        rows[task_id] = cells
    return rows


def test_a_succeeding_dag_exits_0(home: Path) -> None:
    result = _dags_test(home, "nightly_report", "2026-02-03")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert result.stderr == ""
    assert out.splitlines()[0].startswith("DAG nightly_report  run test__2026-02-03T00:00:00+00:00")
    # Each task's log, prefixed with its task id; templates, variables, XCom and helpers work.
    assert "fetched 2026-02-03 for acme" in _log(out, "fetch")
    assert "counting rows of sales from 'fetched 2026-02-03 for acme'" in _log(out, "count_rows")
    assert "published 4 words" in _log(out, "publish")
    assert "in parallel" in _log(out, "independent")
    for task_id in ["fetch", "count_rows", "publish", "independent"]:
        assert re.search(rf"^ +success +{task_id}  [\d.]+s$", out, re.MULTILINE), task_id
    assert {t: cells[:2] for t, cells in _summary(out).items()} == {
        "fetch": ["success", "1"],
        "count_rows": ["success", "1"],
        "publish": ["success", "1"],
        "independent": ["success", "1"],
    }
    assert re.search(r"^Run test__2026-02-03T00:00:00\+00:00 succeeded in [\d.]+s$", out, re.M)
    assert "\033[" not in out  # a pipe, not a terminal


def test_a_failing_dag_exits_1_and_says_why(home: Path) -> None:
    result = _dags_test(home, "fragile_etl", "2026-02-03", "--no-color")
    assert result.returncode == 1
    out = result.stdout
    assert "extracted" in _log(out, "extract")
    check_log = _log(out, "check")
    assert "checking the input" in check_log
    assert "ValueError: input file is empty" in check_log
    assert f'File "{home / "dags" / "fragile_etl.py"}", line 9, in _explode' in check_log
    assert re.search(r"^ +failed +check  [\d.]+s  ValueError: input file is empty$", out, re.M)
    assert re.search(r"^ +upstream_failed +load$", out, re.M)
    assert _log(out, "load") == ""
    summary = _summary(out)
    assert summary["extract"][:2] == ["success", "1"]
    assert summary["check"][:2] == ["failed", "1"]
    assert summary["load"] == ["upstream_failed", "0", "-"]
    assert re.search(r"^Run test__2026-02-03T00:00:00\+00:00 FAILED in [\d.]+s$", out, re.M)


def test_a_conf_that_is_not_json_is_refused_before_running(home: Path) -> None:
    result = _dags_test(home, "nightly_report", "--conf", "{oops")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: --conf is not valid JSON: ")
    assert len(result.stderr.splitlines()) == 1


def test_an_unknown_dag_names_the_broken_file(home: Path) -> None:
    result = _dags_test(home, "nightly_reports")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: DAG 'nightly_reports' not found in {home / 'dags'}; "
        "did you mean 'nightly_report'?",
        "1 DAG file failed to import:",
        f"  {home / 'dags' / 'broken.py'}: SyntaxError: '(' was never closed",
    ]
