"""Task and DAG callbacks: when they are called, with what, and that they cannot change
the outcome."""

from __future__ import annotations

from downwind.exceptions import TaskSkipped
from downwind.operators.python import PythonOperator
from downwind.sdk.dag import DAG
from downwind.states import DagRunState
from downwind.states import TaskInstanceState as TI


class Recorder:
    """A callback that records ``(name, context)`` for each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, name: str):
        def callback(context: dict) -> None:
            self.calls.append((name, context))

        return callback

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def _callbacks(recorder: Recorder) -> dict:
    return {
        "on_execute_callback": recorder("execute"),
        "on_success_callback": recorder("success"),
        "on_failure_callback": recorder("failure"),
        "on_retry_callback": recorder("retry"),
        "on_skipped_callback": recorder("skipped"),
    }


def test_success_calls_on_execute_then_on_success_with_the_context(run_dag):
    recorder = Recorder()
    with DAG("cb_success", schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=lambda: 1, **_callbacks(recorder))
    result = run_dag(dag)
    assert result.state("t") is TI.SUCCESS
    assert recorder.names == ["execute", "success"]
    for _, context in recorder.calls:
        assert context["ti"].task_id == "t"
        assert context["ds"] == "2026-01-01"
        assert context["dag"] is dag
        assert "exception" not in context


def test_failure_calls_on_failure_with_the_exception(run_dag):
    recorder = Recorder()
    error = KeyError("missing")

    def broken():
        raise error

    with DAG("cb_failure", schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=broken, **_callbacks(recorder))
    run_dag(dag)
    assert recorder.names == ["execute", "failure"]
    context = recorder.calls[-1][1]
    assert context["exception"] is error
    assert context["ti"].try_number == 1


def test_each_retry_calls_on_retry_and_the_last_failure_on_failure(run_dag):
    recorder = Recorder()

    def broken(ti):
        raise RuntimeError(f"try {ti.try_number}")

    with DAG("cb_retry", schedule=None) as dag:
        PythonOperator(
            task_id="t", python_callable=broken, retries=2, retry_delay=0, **_callbacks(recorder)
        )
    run_dag(dag)
    assert recorder.names == ["execute", "retry", "execute", "retry", "execute", "failure"]
    retry_errors = [str(c["exception"]) for n, c in recorder.calls if n == "retry"]
    assert retry_errors == ["try 1", "try 2"]
    assert str(recorder.calls[-1][1]["exception"]) == "try 3"


def test_skip_calls_on_skipped(run_dag):
    recorder = Recorder()

    def skip():
        raise TaskSkipped("not today")

    with DAG("cb_skip", schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=skip, **_callbacks(recorder))
    run_dag(dag)
    assert recorder.names == ["execute", "skipped"]


def test_a_list_of_callbacks_calls_each(run_dag):
    recorder = Recorder()
    with DAG("cb_list", schedule=None) as dag:
        PythonOperator(
            task_id="t",
            python_callable=lambda: 1,
            on_success_callback=[recorder("first"), recorder("second")],
        )
    run_dag(dag)
    assert recorder.names == ["first", "second"]


def test_a_raising_callback_does_not_change_the_state(run_dag):
    def bad_callback(context):
        raise RuntimeError("callback exploded")

    with DAG("cb_raises", schedule=None) as dag:
        PythonOperator(
            task_id="ok",
            python_callable=lambda: "value",
            on_execute_callback=bad_callback,
            on_success_callback=bad_callback,
        )
        PythonOperator(
            task_id="broken", python_callable=lambda: 1 / 0, on_failure_callback=bad_callback
        )
    result = run_dag(dag)
    assert result.state("ok") is TI.SUCCESS
    assert result.run.xcom("ok") == "value"
    assert result.state("broken") is TI.FAILED
    assert result.run.task_instances["broken"].error == "ZeroDivisionError: division by zero"
    log = "\n".join(result.log("ok"))
    assert "on_success_callback raised an error (the task's state is unchanged)" in log
    assert "RuntimeError: callback exploded" in log


def test_dag_success_callback_is_called_once_with_the_reason(run_dag):
    recorder = Recorder()
    with DAG(
        "dag_cb_success",
        schedule=None,
        params={"p": 1},
        on_success_callback=recorder("dag_success"),
        on_failure_callback=recorder("dag_failure"),
    ) as dag:
        PythonOperator(task_id="a", python_callable=lambda: 1)
        PythonOperator(task_id="b", python_callable=lambda: 2)
    result = run_dag(dag, conf={"p": 5})
    assert recorder.names == ["dag_success"]
    context = recorder.calls[0][1]
    assert context["reason"] == "success"
    assert context["dag"] is dag
    assert context["run_id"] == result.run.run_id
    assert context["params"] == {"p": 5}


def test_dag_failure_callback_is_called_once_with_the_reason(run_dag):
    recorder = Recorder()
    with DAG(
        "dag_cb_failure",
        schedule=None,
        on_success_callback=recorder("dag_success"),
        on_failure_callback=recorder("dag_failure"),
    ) as dag:
        PythonOperator(task_id="a", python_callable=lambda: 1 / 0)
        PythonOperator(task_id="b", python_callable=lambda: 1 / 0)
    result = run_dag(dag)
    assert result.run.state is DagRunState.FAILED
    assert recorder.names == ["dag_failure"]
    assert recorder.calls[0][1]["reason"] == "task_failure"


def test_a_raising_dag_callback_does_not_change_the_run_state(run_dag, caplog):
    def bad(context):
        raise RuntimeError("dag callback exploded")

    with DAG("dag_cb_raises", schedule=None, on_success_callback=bad) as dag:
        PythonOperator(task_id="a", python_callable=lambda: 1)
    result = run_dag(dag)
    assert result.run.state is DagRunState.SUCCESS
    assert "DAG dag_cb_raises's on_success_callback raised an error" in caplog.text
    assert "dag callback exploded" in caplog.text
