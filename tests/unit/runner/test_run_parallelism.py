"""Independent tasks of an in-process run overlap; dependent ones wait for each other."""

from __future__ import annotations

import itertools
import time

from downwind.config import reset_config_cache
from downwind.operators.empty import EmptyOperator
from downwind.operators.python import PythonOperator
from downwind.sdk.dag import DAG


def _sleepy_dag(seconds: float) -> DAG:
    with DAG("parallel", schedule=None) as dag:
        left = PythonOperator(task_id="left", python_callable=lambda: time.sleep(seconds))
        right = PythonOperator(task_id="right", python_callable=lambda: time.sleep(seconds))
        [left, right] >> EmptyOperator(task_id="join")
    return dag


def _overlap(a, b) -> bool:
    return a.start_date < b.end_date and b.start_date < a.end_date


def test_independent_tasks_run_at_the_same_time(run_dag):
    result = run_dag(_sleepy_dag(0.5))
    left, right, join = (result.run.task_instances[t] for t in ("left", "right", "join"))
    assert _overlap(left, right)
    assert (result.run.end_date - result.run.start_date).total_seconds() < 0.9
    # the join starts only once both have finished
    assert join.start_date >= max(left.end_date, right.end_date)


def test_max_workers_one_runs_tasks_one_after_the_other(run_dag):
    result = run_dag(_sleepy_dag(0.1), max_workers=1)
    left, right = (result.run.task_instances[t] for t in ("left", "right"))
    assert not _overlap(left, right)


def test_core_parallelism_is_the_default_number_of_workers(run_dag, monkeypatch):
    monkeypatch.setenv("DOWNWIND__CORE__PARALLELISM", "1")
    reset_config_cache()
    result = run_dag(_sleepy_dag(0.1))
    left, right = (result.run.task_instances[t] for t in ("left", "right"))
    assert not _overlap(left, right)


def test_a_chain_runs_in_order(run_dag):
    with DAG("ordered", schedule=None) as dag:
        tasks = [PythonOperator(task_id=f"t{i}", python_callable=lambda: None) for i in range(5)]
        for up, down in itertools.pairwise(tasks):
            up >> down
    result = run_dag(dag)
    records = [result.run.task_instances[f"t{i}"] for i in range(5)]
    for earlier, later in itertools.pairwise(records):
        assert earlier.end_date <= later.start_date
