"""PythonOperator: arguments, context, templates_dict, XCom, errors and timeouts."""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from downwind.exceptions import DagDefinitionError
from downwind.operators.python import PythonOperator
from downwind.sdk.dag import DAG
from downwind.states import TaskInstanceState as TI


def _python(run_dag, python_callable, **kwargs):
    with DAG("python_test", schedule=None, **kwargs.pop("dag_kwargs", {})) as dag:
        PythonOperator(task_id="fn", python_callable=python_callable, **kwargs)
    return run_dag(dag)


def test_op_args_and_op_kwargs_are_passed_and_the_return_value_is_the_xcom(run_dag):
    def add(a, b, *, scale):
        return {"sum": (a + b) * scale}

    result = _python(run_dag, add, op_args=[1, 2], op_kwargs={"scale": 10})
    assert result.state("fn") is TI.SUCCESS
    assert result.run.xcom("fn") == {"sum": 30}
    assert any("Returned value: {'sum': 30}" in line for line in result.log("fn"))


def test_op_args_and_op_kwargs_are_templated(run_dag):
    result = _python(
        run_dag,
        lambda day, who: f"{day}/{who}",
        op_args=["{{ ds_nodash }}"],
        op_kwargs={"who": "{{ params.who }}"},
        dag_kwargs={"params": {"who": "ann"}},
    )
    assert result.run.xcom("fn") == "20260101/ann"


def test_templates_dict_is_rendered_and_passed(run_dag):
    def use(templates_dict):
        return templates_dict

    result = _python(
        run_dag,
        use,
        templates_dict={"day": "{{ ds }}", "nested": ["{{ params.n * 2 }}"], "plain": 5},
        dag_kwargs={"params": {"n": 4}},
    )
    assert result.run.xcom("fn") == {"day": "2026-01-01", "nested": ["8"], "plain": 5}


def test_templates_exts_render_files_named_in_templates_dict(run_dag, tmp_path):
    (tmp_path / "query.sql").write_text("SELECT '{{ ds }}'", encoding="utf-8")
    result = _python(
        run_dag,
        lambda templates_dict: templates_dict["query"],
        templates_dict={"query": "query.sql"},
        templates_exts=[".sql"],
        dag_kwargs={"template_searchpath": str(tmp_path)},
    )
    assert result.run.xcom("fn") == "SELECT '2026-01-01'"


def test_callable_with_var_keyword_gets_the_whole_context(run_dag):
    seen = {}

    def spy(**context):
        seen.update(context)

    result = _python(run_dag, spy, dag_kwargs={"params": {"k": "v"}})
    assert result.state("fn") is TI.SUCCESS
    assert seen["ds"] == "2026-01-01"
    assert seen["ds_nodash"] == "20260101"
    assert seen["logical_date"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert seen["params"] == {"k": "v"}
    assert seen["ti"].task_id == "fn"
    assert seen["task"].task_id == "fn"
    assert seen["dag"].dag_id == "python_test"
    assert seen["run_id"] == result.run.run_id
    assert seen["try_number"] == 1


def test_callable_naming_context_keys_gets_only_those(run_dag):
    def named(ds, ti, params, other=7):
        return [ds, ti.task_id, ti.try_number, params["k"], other]

    result = _python(run_dag, named, dag_kwargs={"params": {"k": "v"}})
    assert result.run.xcom("fn") == ["2026-01-01", "fn", 1, "v", 7]


def test_op_kwargs_win_over_context_keys(run_dag):
    result = _python(run_dag, lambda ds: ds, op_kwargs={"ds": "mine"})
    assert result.run.xcom("fn") == "mine"


def test_op_args_filling_a_context_name_win_over_the_context(run_dag):
    def f(ds, **context):
        return [ds, context["ds_nodash"]]

    result = _python(run_dag, f, op_args=["given"])
    assert result.state("fn") is TI.SUCCESS
    assert result.run.xcom("fn") == ["given", "20260101"]


def test_callable_without_signature_gets_op_kwargs_only(run_dag):
    result = _python(run_dag, dict, op_kwargs={"a": 1})
    assert result.state("fn") is TI.SUCCESS
    assert result.run.xcom("fn") == {"a": 1}


def test_extra_serializable_types_round_trip_through_xcom(run_dag):
    value = {"when": datetime(2026, 1, 2, tzinfo=UTC), "pair": (1, 2), "tags": {"a"}}
    result = _python(run_dag, lambda: value)
    assert result.run.xcom("fn") == value


def test_unserializable_return_value_fails_the_task_naming_the_type(run_dag):
    result = _python(run_dag, lambda: object())
    ti = result.run.task_instances["fn"]
    assert ti.state is TI.FAILED
    assert "SerializationError" in ti.error
    assert "'object'" in ti.error


def test_exception_fails_the_task_with_its_message_and_traceback_in_the_log(run_dag):
    def broken():
        raise ValueError("bad input 42")

    result = _python(run_dag, broken)
    ti = result.run.task_instances["fn"]
    assert ti.state is TI.FAILED
    assert ti.error == "ValueError: bad input 42"
    log = "\n".join(result.log("fn"))
    assert "Traceback (most recent call last)" in log
    assert 'raise ValueError("bad input 42")' in log


def test_sys_exit_with_an_error_code_fails_the_task(run_dag):
    result = _python(run_dag, lambda: sys.exit(2))
    ti = result.run.task_instances["fn"]
    assert ti.state is TI.FAILED
    assert "sys.exit(2)" in ti.error


def test_sys_exit_zero_succeeds(run_dag):
    result = _python(run_dag, lambda: sys.exit(0))
    assert result.state("fn") is TI.SUCCESS
    assert result.run.xcom("fn") is None


def test_python_callable_must_be_callable():
    with (
        DAG("bad", schedule=None),
        pytest.raises(DagDefinitionError, match="python_callable must be callable, got str"),
    ):
        PythonOperator(task_id="fn", python_callable="not_a_function")


def test_xcom_push_and_pull_between_tasks(run_dag):
    def produce(ti):
        ti.xcom_push("extra", [1, 2])
        return "main"

    def consume(ti):
        return [ti.xcom_pull(task_ids="produce"), ti.xcom_pull(task_ids="produce", key="extra")]

    with DAG("xcom_flow", schedule=None) as dag:
        PythonOperator(task_id="produce", python_callable=produce) >> PythonOperator(
            task_id="consume", python_callable=consume
        )
    result = run_dag(dag)
    assert result.run.xcom("consume") == ["main", [1, 2]]


def test_xcom_pull_of_several_tasks_and_a_default(run_dag):
    def consume(ti):
        return [
            ti.xcom_pull(task_ids=["value", "nothing"]),
            ti.xcom_pull(task_ids="nothing", default="fallback"),
        ]

    with DAG("xcom_list", schedule=None) as dag:
        [
            PythonOperator(task_id="value", python_callable=lambda: 1),
            PythonOperator(task_id="nothing", python_callable=lambda: None),
        ] >> PythonOperator(task_id="consume", python_callable=consume)
    result = run_dag(dag)
    assert result.run.xcom("consume") == [[1, None], "fallback"]


def test_show_return_value_in_logs_false_keeps_the_value_out_of_the_log(run_dag):
    result = _python(run_dag, lambda: "secret-value", show_return_value_in_logs=False)
    assert result.run.xcom("fn") == "secret-value"
    assert "secret-value" not in result.text


def _task_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.endswith("-task")]


def test_execution_timeout_interrupts_a_busy_loop(run_dag):
    def spin():
        while True:
            pass

    started = time.monotonic()
    result = _python(run_dag, spin, execution_timeout=timedelta(seconds=0.2))
    ti = result.run.task_instances["fn"]
    assert ti.state is TI.FAILED
    assert ti.error == "TaskTimeout: task timed out after 0:00:00.200000 (execution_timeout)"
    assert time.monotonic() - started < 3
    deadline = time.monotonic() + 2
    while _task_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _task_threads(), "the busy loop still runs after the timeout"
    assert "failed" in result.text and "task timed out" in result.text


def test_execution_timeout_ends_the_try_of_a_sleeping_callable_on_time(run_dag):
    after_sleep = threading.Event()

    def sleepy():
        time.sleep(0.6)
        after_sleep.set()  # never reached: the timeout stops the code when sleep returns

    started = time.monotonic()
    result = _python(run_dag, sleepy, execution_timeout=timedelta(seconds=0.05))
    elapsed = time.monotonic() - started
    ti = result.run.task_instances["fn"]
    assert ti.state is TI.FAILED
    assert "timed out" in ti.error
    assert elapsed < 0.5, f"the run waited for the sleep ({elapsed:.2f}s)"
    assert not after_sleep.wait(started + 0.8 - time.monotonic())


def test_a_callable_finishing_within_its_timeout_succeeds(run_dag):
    result = _python(run_dag, lambda: "quick", execution_timeout=5)
    assert result.state("fn") is TI.SUCCESS
    assert result.run.xcom("fn") == "quick"


def test_output_of_a_callable_with_a_timeout_stays_in_its_task_log(run_dag):
    result = _python(run_dag, lambda: print("inside the watchdog"), execution_timeout=5)
    assert "inside the watchdog" in result.log("fn")
