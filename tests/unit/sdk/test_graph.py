"""Graph checks: cycles are named, deep DAGs need no recursion, topological order."""

from __future__ import annotations

import sys

import pytest

from downwind import DAG, chain
from downwind.exceptions import DagCycleError, DagDefinitionError
from downwind.operators.empty import EmptyOperator
from downwind.sdk.graph import check_acyclic, find_cycle, topological_order

pytestmark = pytest.mark.usefixtures("downwind_home")


def test_two_task_cycle_is_named():
    with DAG("loop") as dag:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> b >> a
    with pytest.raises(DagCycleError) as info:
        dag.check_cycle()
    assert str(info.value) == "DAG 'loop' has a cycle: a -> b -> a"
    assert isinstance(info.value, DagDefinitionError)


def test_validate_rejects_a_cycle_and_names_only_the_tasks_in_it():
    with DAG("longer") as dag:
        start, a, b, c, end = (EmptyOperator(task_id=x) for x in ["start", "a", "b", "c", "end"])
        start >> a >> b >> c >> end
        c >> a
    with pytest.raises(DagCycleError, match=r"^DAG 'longer' has a cycle: a -> b -> c -> a$"):
        dag.validate()


def test_topological_sort_of_a_cyclic_dag_names_the_cycle():
    with DAG("loop") as dag:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> b >> a
    with pytest.raises(DagCycleError, match="contain a cycle: a -> b -> a"):
        dag.topological_sort()


def test_dag_test_refuses_a_cyclic_dag_before_running_anything(capsys):
    with DAG("loop") as dag:
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
        a >> b >> c >> b
    with pytest.raises(DagCycleError, match="DAG 'loop' has a cycle: b -> c -> b"):
        dag.test()
    assert "success" not in capsys.readouterr().out


def test_acyclic_dag_validates():
    with DAG("fine") as dag:
        a, b, c, d = (EmptyOperator(task_id=x) for x in "abcd")
        a >> [b, c] >> d
    dag.validate()
    dag.check_cycle()


def test_validate_reports_a_dependency_on_a_task_outside_the_dag():
    with DAG("partial") as dag:
        a = EmptyOperator(task_id="a")
    loose, other = EmptyOperator(task_id="loose"), EmptyOperator(task_id="other")
    loose >> other
    dag.add_task(loose)
    with pytest.raises(DagDefinitionError) as info:
        dag.validate()
    assert str(info.value) == "task 'loose' depends on tasks outside DAG 'partial': other"
    assert a.dag is dag


def test_a_5000_task_chain_is_checked_and_ordered_without_recursion_errors():
    limit = sys.getrecursionlimit()
    assert limit < 5000  # the check would not prove anything otherwise
    with DAG("deep") as dag:
        tasks = [EmptyOperator(task_id=f"t{i}") for i in range(5000)]
        chain(*tasks)
    dag.validate()
    assert [t.task_id for t in dag.topological_sort()] == [f"t{i}" for i in range(5000)]
    tasks[-1] >> tasks[0]
    with pytest.raises(DagCycleError) as info:
        dag.check_cycle()
    message = str(info.value)
    assert message.startswith("DAG 'deep' has a cycle: t0 -> t1 -> t2 -> ")
    assert message.endswith(" -> t4999 -> t0")
    assert message.count(" -> ") == 5000


def test_topological_order_puts_each_task_after_its_upstream_tasks():
    with DAG("order") as dag:
        # created in an order that is not a valid run order
        d, c, b, a, e = (EmptyOperator(task_id=x) for x in "dcbae")
        a >> b >> d
        a >> c >> d
        e >> b
    order = [t.task_id for t in dag.topological_sort()]
    assert sorted(order) == ["a", "b", "c", "d", "e"]
    for task in dag.tasks:
        for upstream in task.upstream_task_ids:
            assert order.index(upstream) < order.index(task.task_id)


def test_topological_order_is_stable_by_insertion_for_independent_tasks():
    assert topological_order(["z", "a", "m"], {}) == ["z", "a", "m"]
    assert topological_order(["c", "b", "a"], {"c": ["a"], "b": ["a"]}) == ["a", "c", "b"]


def test_find_cycle_on_plain_mappings():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"x": ["y"], "y": ["z"], "z": ["y"]}) == ["y", "z", "y"]
    assert find_cycle({}) is None


def test_check_acyclic_message():
    with pytest.raises(DagCycleError, match=r"^DAG 'd' has a cycle: p -> q -> p$"):
        check_acyclic("d", {"p": {"q"}, "q": {"p"}})
