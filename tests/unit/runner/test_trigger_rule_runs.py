"""Trigger rules end to end: whole runs with failing, succeeding and skipped tasks."""

from __future__ import annotations

import pytest

from downwind.exceptions import TaskSkipped
from downwind.operators.empty import EmptyOperator
from downwind.operators.python import PythonOperator
from downwind.sdk.dag import DAG
from downwind.states import DagRunState
from downwind.states import TaskInstanceState as TI


def _fail():
    raise RuntimeError("upstream broke")


def _skip():
    raise TaskSkipped("nothing to do")


def _task(task_id: str, outcome: str = "ok", **kwargs) -> PythonOperator:
    action = {"ok": lambda: task_id, "fail": _fail, "skip": _skip}[outcome]
    return PythonOperator(task_id=task_id, python_callable=action, **kwargs)


def test_all_done_cleanup_runs_after_a_failure(run_dag):
    with DAG("cleanup", schedule=None) as dag:
        work = _task("work", "fail")
        report = _task("report")
        cleanup = _task("cleanup", trigger_rule="all_done")
        work >> report >> cleanup
    result = run_dag(dag)
    assert result.states() == {
        "work": "failed",
        "report": "upstream_failed",
        "cleanup": "success",
    }
    # As in Airflow, the run's state comes from its leaves: the cleanup succeeded.
    assert result.run.state is DagRunState.SUCCESS


def test_a_failure_beside_a_successful_leaf_fails_the_run(run_dag):
    with DAG("two_leaves", schedule=None) as dag:
        _task("ok")
        _task("broken", "fail")
    result = run_dag(dag)
    assert result.run.state is DagRunState.FAILED
    assert "FAILED" in result.text.splitlines()[-1]


def test_one_failed_runs_as_soon_as_one_upstream_fails(run_dag):
    with DAG("alert", schedule=None) as dag:
        [_task("a"), _task("b", "fail"), _task("c")] >> _task("alert", trigger_rule="one_failed")
    result = run_dag(dag)
    assert result.state("alert") is TI.SUCCESS


def test_one_failed_is_skipped_when_nothing_failed(run_dag):
    with DAG("no_alert", schedule=None) as dag:
        [_task("a"), _task("b")] >> _task("alert", trigger_rule="one_failed")
    result = run_dag(dag)
    assert result.state("alert") is TI.SKIPPED
    assert result.run.state is DagRunState.SUCCESS


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (("fail", "fail"), TI.SUCCESS),
        (("fail", "ok"), TI.SKIPPED),
        (("fail", "skip"), TI.SKIPPED),
    ],
)
def test_all_failed(run_dag, outcomes, expected):
    with DAG("all_failed", schedule=None) as dag:
        [_task("a", outcomes[0]), _task("b", outcomes[1])] >> _task(
            "on_total_failure", trigger_rule="all_failed"
        )
    result = run_dag(dag)
    assert result.state("on_total_failure") is expected


def test_all_failed_counts_upstream_failed_as_failed(run_dag):
    with DAG("all_failed_chain", schedule=None) as dag:
        first = _task("first", "fail")
        second = _task("second")
        first >> second >> _task("rescue", trigger_rule="all_failed")
    result = run_dag(dag)
    assert result.state("second") is TI.UPSTREAM_FAILED
    assert result.state("rescue") is TI.SUCCESS


def test_always_runs_whatever_happens_upstream(run_dag):
    with DAG("always", schedule=None) as dag:
        _task("a", "fail") >> _task("b") >> _task("last", trigger_rule="always")
    result = run_dag(dag)
    assert result.states() == {"a": "failed", "b": "upstream_failed", "last": "success"}


def test_upstream_failed_propagates_down_a_chain(run_dag):
    with DAG("chain", schedule=None) as dag:
        _task("a", "fail") >> _task("b") >> EmptyOperator(task_id="c") >> _task("d")
    result = run_dag(dag)
    assert result.states() == {
        "a": "failed",
        "b": "upstream_failed",
        "c": "upstream_failed",
        "d": "upstream_failed",
    }
    assert result.run.state is DagRunState.FAILED
    assert [result.run.task_instances[t].try_number for t in "abcd"] == [1, 0, 0, 0]


def test_task_skipped_exception_skips_the_task_and_its_all_success_downstream(run_dag):
    with DAG("skip", schedule=None) as dag:
        _task("a", "skip") >> _task("b") >> _task("c", trigger_rule="none_skipped")
    result = run_dag(dag)
    assert result.states() == {"a": "skipped", "b": "skipped", "c": "skipped"}
    assert any("Task skipped: nothing to do" in line for line in result.log("a"))
