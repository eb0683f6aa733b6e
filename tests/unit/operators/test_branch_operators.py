"""BranchPythonOperator, ShortCircuitOperator and EmptyOperator, and how skips propagate."""

from __future__ import annotations

from downwind.operators.empty import DummyOperator, EmptyOperator
from downwind.operators.python import BranchPythonOperator, ShortCircuitOperator
from downwind.sdk.dag import DAG
from downwind.states import DagRunState
from downwind.states import TaskInstanceState as TI


def _branch_dag(choice, join_rule: str = "none_failed_min_one_success") -> DAG:
    """branch -> (a -> a2 | b | c) -> join."""
    with DAG("branching", schedule=None) as dag:
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: choice)
        a, b, c = (EmptyOperator(task_id=t) for t in ("a", "b", "c"))
        a2 = EmptyOperator(task_id="a2")
        join = EmptyOperator(task_id="join", trigger_rule=join_rule)
        branch >> [a, b, c]
        a >> a2
        [a2, b, c] >> join
    return dag


def test_branch_returning_one_id_runs_it_and_skips_the_others(run_dag):
    result = run_dag(_branch_dag("b"))
    assert result.states() == {
        "branch": "success",
        "a": "skipped",
        "b": "success",
        "c": "skipped",
        "a2": "skipped",  # all_success below a skipped task: skipped too
        "join": "success",  # none_failed_min_one_success: b succeeded
    }
    assert result.run.xcom("branch") == "b"
    assert result.run.state is DagRunState.SUCCESS
    assert "Following branch ['b']; skipping ['a', 'c']" in "\n".join(result.log("branch"))


def test_branch_returning_a_list_runs_each_of_them(run_dag):
    result = run_dag(_branch_dag(["a", "c"]))
    assert result.state("a") is TI.SUCCESS
    assert result.state("a2") is TI.SUCCESS
    assert result.state("c") is TI.SUCCESS
    assert result.state("b") is TI.SKIPPED
    assert result.state("join") is TI.SUCCESS


def test_branch_returning_none_skips_every_direct_downstream_task(run_dag):
    result = run_dag(_branch_dag(None))
    assert [result.state(t) for t in ("a", "b", "c", "a2")] == [TI.SKIPPED] * 4
    # every upstream of the join is skipped: none_failed_min_one_success skips it
    assert result.state("join") is TI.SKIPPED
    assert result.run.state is DagRunState.SUCCESS


def test_join_with_the_default_all_success_is_skipped_after_a_branch(run_dag):
    result = run_dag(_branch_dag("b", join_rule="all_success"))
    assert result.state("b") is TI.SUCCESS
    assert result.state("join") is TI.SKIPPED


def test_join_with_none_failed_runs_after_a_branch(run_dag):
    result = run_dag(_branch_dag("c", join_rule="none_failed"))
    assert result.state("join") is TI.SUCCESS


def test_branch_to_a_task_that_is_not_downstream_fails_clearly(run_dag):
    result = run_dag(_branch_dag("join"))
    ti = result.run.task_instances["branch"]
    assert ti.state is TI.FAILED
    assert "not directly downstream of 'branch': join" in ti.error
    assert "(downstream: a, b, c)" in ti.error
    assert result.state("a") is TI.UPSTREAM_FAILED
    assert result.state("join") is TI.UPSTREAM_FAILED
    assert result.run.state is DagRunState.FAILED


def test_branch_to_an_unknown_task_id_fails_naming_it(run_dag):
    result = run_dag(_branch_dag(["a", "typo"]))
    ti = result.run.task_instances["branch"]
    assert ti.state is TI.FAILED
    assert "typo" in ti.error
    assert result.state("a") is TI.UPSTREAM_FAILED


def _short_circuit_dag(value, ignore_downstream_trigger_rules: bool) -> DAG:
    """check -> direct -> (after_all_success, after_all_done)."""
    with DAG("short_circuit", schedule=None) as dag:
        check = ShortCircuitOperator(
            task_id="check",
            python_callable=lambda: value,
            ignore_downstream_trigger_rules=ignore_downstream_trigger_rules,
        )
        direct = EmptyOperator(task_id="direct")
        check >> direct
        direct >> EmptyOperator(task_id="after_all_success")
        direct >> EmptyOperator(task_id="after_all_done", trigger_rule="all_done")
    return dag


def test_short_circuit_with_a_truthy_value_lets_everything_run(run_dag):
    result = run_dag(_short_circuit_dag({"rows": 3}, ignore_downstream_trigger_rules=True))
    assert set(result.states().values()) == {"success"}
    assert result.run.xcom("check") == {"rows": 3}


def test_short_circuit_with_a_falsy_value_skips_everything_downstream(run_dag):
    result = run_dag(_short_circuit_dag(0, ignore_downstream_trigger_rules=True))
    assert result.states() == {
        "check": "success",
        "direct": "skipped",
        "after_all_success": "skipped",
        "after_all_done": "skipped",  # trigger rules ignored
    }
    assert result.run.state is DagRunState.SUCCESS


def test_short_circuit_respecting_trigger_rules_skips_only_direct_downstream(run_dag):
    result = run_dag(_short_circuit_dag([], ignore_downstream_trigger_rules=False))
    assert result.states() == {
        "check": "success",
        "direct": "skipped",
        "after_all_success": "skipped",  # through its trigger rule
        "after_all_done": "success",  # all_done: a skipped upstream is done
    }


def test_empty_operator_succeeds_without_an_xcom(run_dag):
    with DAG("empty", schedule=None) as dag:
        EmptyOperator(task_id="start") >> DummyOperator(task_id="end")
    result = run_dag(dag)
    assert result.states() == {"start": "success", "end": "success"}
    assert result.run.xcom("start") is None
    assert DummyOperator is EmptyOperator
