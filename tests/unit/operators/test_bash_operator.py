"""BashOperator: environment, working directory, exit codes, XCom, templates, timeouts."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from downwind.operators.bash import BashOperator
from downwind.operators.empty import EmptyOperator
from downwind.sdk.dag import DAG
from downwind.states import TaskInstanceState as TI


def _bash(run_dag, command: str, **kwargs):
    """Run a one-task DAG with ``command``; return the run result."""
    with DAG("bash_test", schedule=None, **kwargs.pop("dag_kwargs", {})) as dag:
        BashOperator(task_id="cmd", bash_command=command, **kwargs)
    return run_dag(dag)


def test_last_stdout_line_is_the_xcom_and_stderr_is_in_the_log(run_dag):
    result = _bash(run_dag, "echo first; echo oops >&2; echo last")
    assert result.state("cmd") is TI.SUCCESS
    assert result.run.xcom("cmd") == "last"
    log = result.log("cmd")
    messages = [line.split(" - ", 1)[-1] for line in log]
    assert messages.index("first") < messages.index("oops") < messages.index("last")
    assert "Command exited with return code 0" in messages


def test_command_without_output_pushes_no_xcom(run_dag):
    result = _bash(run_dag, "true")
    assert result.state("cmd") is TI.SUCCESS
    assert result.run.xcom("cmd") is None


def test_do_xcom_push_false_keeps_the_output_out_of_xcom(run_dag):
    result = _bash(run_dag, "echo value", do_xcom_push=False)
    assert result.state("cmd") is TI.SUCCESS
    assert result.run.xcom("cmd") is None


def test_env_replaces_the_whole_environment(run_dag, monkeypatch):
    monkeypatch.setenv("DW_OUTER_VARIABLE", "outer")
    result = _bash(run_dag, 'echo "${ONLY}-${DW_OUTER_VARIABLE:-unset}"', env={"ONLY": "x", "N": 3})
    assert result.state("cmd") is TI.SUCCESS
    assert result.run.xcom("cmd") == "x-unset"


def test_append_env_adds_to_the_inherited_environment(run_dag, monkeypatch):
    monkeypatch.setenv("DW_OUTER_VARIABLE", "outer")
    result = _bash(
        run_dag,
        'echo "${ONLY}-${DW_OUTER_VARIABLE:-unset}"',
        env={"ONLY": "x"},
        append_env=True,
    )
    assert result.run.xcom("cmd") == "x-outer"


def test_without_env_the_environment_is_inherited(run_dag, monkeypatch):
    monkeypatch.setenv("DW_OUTER_VARIABLE", "outer")
    result = _bash(run_dag, 'echo "${DW_OUTER_VARIABLE:-unset}"')
    assert result.run.xcom("cmd") == "outer"


def test_env_values_are_templated_and_the_run_context_is_exported(run_dag):
    result = _bash(
        run_dag,
        'echo "$DAY $DOWNWIND_CTX_DAG_ID $DOWNWIND_CTX_TASK_ID $DOWNWIND_CTX_TRY_NUMBER"',
        env={"DAY": "{{ ds_nodash }}"},
    )
    assert result.run.xcom("cmd") == "20260101 bash_test cmd 1"


def test_bash_command_is_rendered_with_the_context(run_dag):
    result = _bash(run_dag, "echo {{ ds }} {{ params.who }}", dag_kwargs={"params": {"who": "me"}})
    assert result.run.xcom("cmd") == "2026-01-01 me"


def test_cwd_sets_the_working_directory(run_dag, tmp_path):
    result = _bash(run_dag, "pwd", cwd=str(tmp_path))
    assert result.state("cmd") is TI.SUCCESS
    assert Path(result.run.xcom("cmd")).resolve() == tmp_path.resolve()


def test_missing_cwd_fails_with_a_clear_error(run_dag, tmp_path):
    missing = tmp_path / "nowhere"
    result = _bash(run_dag, "pwd", cwd=str(missing))
    ti = result.run.task_instances["cmd"]
    assert ti.state is TI.FAILED
    assert str(missing) in ti.error
    assert "does not exist" in ti.error


def test_non_zero_exit_fails_with_the_code_and_downstream_is_upstream_failed(run_dag):
    with DAG("bash_fail", schedule=None) as dag:
        BashOperator(task_id="cmd", bash_command="echo partial; exit 3") >> EmptyOperator(
            task_id="after"
        )
    result = run_dag(dag)
    ti = result.run.task_instances["cmd"]
    assert ti.state is TI.FAILED
    assert "exited with code 3" in ti.error
    assert result.state("after") is TI.UPSTREAM_FAILED
    assert result.run.xcom("cmd") is None
    assert "FAILED" in result.text.splitlines()[-1]


def test_exit_99_skips_the_task_and_its_downstream(run_dag):
    with DAG("bash_skip", schedule=None) as dag:
        BashOperator(task_id="cmd", bash_command="exit 99") >> EmptyOperator(task_id="after")
    result = run_dag(dag)
    assert result.state("cmd") is TI.SKIPPED
    assert result.state("after") is TI.SKIPPED
    assert result.run.state.value == "success"
    assert any("exited with code 99" in line for line in result.log("cmd"))


@pytest.mark.parametrize(
    ("skip_on_exit_code", "command", "expected"),
    [
        (3, "exit 3", TI.SKIPPED),
        (3, "exit 99", TI.FAILED),
        ([1, 2], "exit 2", TI.SKIPPED),
        (None, "exit 99", TI.FAILED),
    ],
)
def test_custom_skip_on_exit_code(run_dag, skip_on_exit_code, command, expected):
    result = _bash(run_dag, command, skip_on_exit_code=skip_on_exit_code)
    assert result.state("cmd") is expected


def test_sh_file_is_rendered_as_a_template(run_dag, tmp_path):
    (tmp_path / "greet.sh").write_text(
        "#!/bin/bash\necho 'day {{ ds }} for {{ params.who }}'\n", encoding="utf-8"
    )
    result = _bash(
        run_dag,
        "greet.sh",
        dag_kwargs={"template_searchpath": str(tmp_path), "params": {"who": "world"}},
    )
    assert result.state("cmd") is TI.SUCCESS
    assert result.run.xcom("cmd") == "day 2026-01-01 for world"


def test_missing_sh_file_fails_naming_the_file(run_dag, tmp_path):
    result = _bash(run_dag, "absent.sh", dag_kwargs={"template_searchpath": str(tmp_path)})
    ti = result.run.task_instances["cmd"]
    assert ti.state is TI.FAILED
    assert "absent.sh" in ti.error
    assert "not found" in ti.error


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def test_execution_timeout_kills_the_whole_process_group(run_dag, tmp_path):
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    result = _bash(
        run_dag,
        f"sleep 30 & echo $! > {pidfile}; wait",
        execution_timeout=timedelta(seconds=0.5),
    )
    elapsed = time.monotonic() - started
    ti = result.run.task_instances["cmd"]
    assert ti.state is TI.FAILED
    assert "timed out" in ti.error
    assert "execution_timeout" in ti.error
    assert elapsed < 5
    pid = int(pidfile.read_text())
    assert _wait_gone(pid), f"background sleep {pid} survived the timeout"


@pytest.mark.slow
def test_execution_timeout_kills_children_that_ignore_sigterm(run_dag, tmp_path):
    pidfile = tmp_path / "pid"
    result = _bash(
        run_dag,
        f"trap '' TERM; sleep 60 & echo $! > {pidfile}; wait",
        execution_timeout=timedelta(seconds=0.5),
    )
    assert result.state("cmd") is TI.FAILED
    assert any("SIGKILL" in line for line in result.log("cmd"))
    assert _wait_gone(int(pidfile.read_text()))


def test_env_without_path_still_runs_bash(run_dag):
    result = _bash(run_dag, 'echo "A=$A"', env={"A": "1"})
    assert result.state("cmd") is TI.SUCCESS
    assert result.run.xcom("cmd") == "A=1"
