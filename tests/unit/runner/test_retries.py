"""Retries in an in-process run: tries, their records, retry delays, no-retry failures."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

from downwind.exceptions import TaskFailedNoRetry, TaskSkipped
from downwind.operators.empty import EmptyOperator
from downwind.operators.python import PythonOperator
from downwind.sdk.dag import DAG
from downwind.states import DagRunState
from downwind.states import TaskInstanceState as TI


def _failing_times(times: int, error: type[Exception] = ValueError):
    """A callable that raises on its first ``times`` calls, then returns the call count."""
    calls = []

    def flaky(ti):
        calls.append(ti.try_number)
        if len(calls) <= times:
            raise error(f"boom {len(calls)}")
        return len(calls)

    flaky.calls = calls
    return flaky


def test_a_task_failing_twice_succeeds_on_its_third_try(run_dag):
    flaky = _failing_times(2)
    with DAG("retry", schedule=None) as dag:
        PythonOperator(
            task_id="flaky", python_callable=flaky, retries=2, retry_delay=0
        ) >> EmptyOperator(task_id="after")
    result = run_dag(dag)
    ti = result.run.task_instances["flaky"]
    assert ti.state is TI.SUCCESS
    assert ti.try_number == 3
    assert ti.error is None
    assert flaky.calls == [1, 2, 3]
    assert [(t.try_number, t.state, t.error) for t in ti.tries] == [
        (1, TI.UP_FOR_RETRY, "ValueError: boom 1"),
        (2, TI.UP_FOR_RETRY, "ValueError: boom 2"),
        (3, TI.SUCCESS, None),
    ]
    for record in ti.tries:
        assert record.start_date <= record.end_date
    assert ti.tries[0].end_date <= ti.tries[1].start_date
    assert result.run.xcom("flaky") == 3
    assert result.state("after") is TI.SUCCESS
    assert result.run.state is DagRunState.SUCCESS
    text = result.text
    assert "try 1 of 3" in text and "try 3 of 3" in text
    assert text.count("up_for_retry") >= 2
    log = "\n".join(result.log("flaky"))
    assert "Will be retried: try 1 of 3 failed" in log


def test_exhausted_retries_fail_the_task_and_its_downstream(run_dag):
    flaky = _failing_times(10)
    with DAG("exhausted", schedule=None) as dag:
        PythonOperator(
            task_id="flaky", python_callable=flaky, retries=1, retry_delay=0
        ) >> EmptyOperator(task_id="after")
    result = run_dag(dag)
    ti = result.run.task_instances["flaky"]
    assert ti.state is TI.FAILED
    assert ti.try_number == 2
    assert ti.error == "ValueError: boom 2"
    assert [t.state for t in ti.tries] == [TI.UP_FOR_RETRY, TI.FAILED]
    assert result.state("after") is TI.UPSTREAM_FAILED
    assert result.run.state is DagRunState.FAILED


def test_task_failed_no_retry_skips_the_remaining_retries(run_dag):
    flaky = _failing_times(10, TaskFailedNoRetry)
    with DAG("no_retry", schedule=None) as dag:
        PythonOperator(task_id="flaky", python_callable=flaky, retries=3, retry_delay=0)
    result = run_dag(dag)
    ti = result.run.task_instances["flaky"]
    assert ti.state is TI.FAILED
    assert ti.try_number == 1
    assert ti.error == "TaskFailedNoRetry: boom 1"
    assert "Failing without retrying (TaskFailedNoRetry)" in "\n".join(result.log("flaky"))


def test_task_skipped_ends_the_task_skipped_without_retrying(run_dag):
    flaky = _failing_times(10, TaskSkipped)
    with DAG("skip", schedule=None) as dag:
        PythonOperator(task_id="flaky", python_callable=flaky, retries=3, retry_delay=0)
    result = run_dag(dag)
    ti = result.run.task_instances["flaky"]
    assert ti.state is TI.SKIPPED
    assert ti.try_number == 1
    assert result.run.state is DagRunState.SUCCESS


def test_retry_delay_is_skipped_by_default(run_dag):
    flaky = _failing_times(1)
    with DAG("no_wait", schedule=None) as dag:
        PythonOperator(
            task_id="flaky", python_callable=flaky, retries=1, retry_delay=timedelta(hours=1)
        )
    started = time.monotonic()
    result = run_dag(dag)
    assert time.monotonic() - started < 5
    assert result.state("flaky") is TI.SUCCESS
    assert result.run.task_instances["flaky"].try_number == 2


def _gaps(ti) -> list[float]:
    """Seconds between the end of each try and the start of the next."""
    return [
        (later.start_date - earlier.end_date).total_seconds()
        for earlier, later in itertools.pairwise(ti.tries)
    ]


def test_wait_retry_delay_honours_the_delay(run_dag):
    flaky = _failing_times(1)
    with DAG("wait", schedule=None) as dag:
        PythonOperator(
            task_id="flaky",
            python_callable=flaky,
            retries=1,
            retry_delay=timedelta(seconds=0.3),
        )
    result = run_dag(dag, wait_retry_delay=True)
    ti = result.run.task_instances["flaky"]
    assert ti.state is TI.SUCCESS
    [gap] = _gaps(ti)
    assert 0.29 <= gap < 2


def test_wait_retry_delay_with_exponential_backoff_and_a_cap(run_dag):
    flaky = _failing_times(3)
    with DAG("backoff", schedule=None) as dag:
        PythonOperator(
            task_id="flaky",
            python_callable=flaky,
            retries=3,
            retry_delay=timedelta(seconds=0.1),
            retry_exponential_backoff=True,
            max_retry_delay=timedelta(seconds=0.25),
        )
    result = run_dag(dag, wait_retry_delay=True)
    ti = result.run.task_instances["flaky"]
    assert ti.state is TI.SUCCESS
    gaps = _gaps(ti)
    assert len(gaps) == 3
    # 0.1 s, then 0.2 s, then 0.4 s capped at 0.25 s
    assert 0.09 <= gaps[0] < 0.19
    assert gaps[1] >= 0.19
    assert 0.24 <= gaps[2] < 0.39


def test_other_tasks_keep_running_while_a_task_waits_for_its_retry(run_dag):
    flaky = _failing_times(1)
    with DAG("overlap", schedule=None) as dag:
        PythonOperator(
            task_id="flaky", python_callable=flaky, retries=1, retry_delay=timedelta(seconds=0.3)
        )
        PythonOperator(task_id="quick", python_callable=lambda: "done")
    result = run_dag(dag, wait_retry_delay=True)
    flaky_ti, quick_ti = (result.run.task_instances[t] for t in ("flaky", "quick"))
    assert quick_ti.state is TI.SUCCESS
    assert quick_ti.end_date < flaky_ti.tries[1].start_date


def test_retries_come_from_default_args(run_dag):
    flaky = _failing_times(1)
    with DAG("defaults", schedule=None, default_args={"retries": 1, "retry_delay": 0}) as dag:
        PythonOperator(task_id="flaky", python_callable=flaky)
    result = run_dag(dag)
    assert result.state("flaky") is TI.SUCCESS
    assert result.run.task_instances["flaky"].try_number == 2


def test_xcoms_of_a_failed_try_are_dropped_before_the_retry(run_dag):
    def pushes_then_fails(ti):
        if ti.try_number == 1:
            ti.xcom_push("partial", "half done")
            raise RuntimeError("first try breaks")
        return "complete"

    with DAG("xcom_retry", schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=pushes_then_fails, retries=1, retry_delay=0)
    result = run_dag(dag)
    assert result.state("t") is TI.SUCCESS
    assert result.run.xcom("t", key="partial") is None
    assert result.run.xcom("t") == "complete"


def test_a_timed_out_try_is_retried(run_dag):
    def slow_first(ti):
        if ti.try_number == 1:
            time.sleep(0.5)
        return ti.try_number

    with DAG("timeout_retry", schedule=None) as dag:
        PythonOperator(
            task_id="t",
            python_callable=slow_first,
            retries=1,
            retry_delay=0,
            execution_timeout=timedelta(seconds=0.1),
        )
    result = run_dag(dag)
    ti = result.run.task_instances["t"]
    assert ti.state is TI.SUCCESS
    assert ti.tries[0].state is TI.UP_FOR_RETRY
    assert "TaskTimeout" in ti.tries[0].error
    assert result.run.xcom("t") == 2
