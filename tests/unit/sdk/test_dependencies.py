"""Dependencies: ``>>`` / ``<<`` with tasks, XComArgs and lists, ``chain``, ``cross_downstream``."""

from __future__ import annotations

import pytest

from downwind import DAG, chain, cross_downstream, task
from downwind.exceptions import DagDefinitionError
from downwind.operators.empty import EmptyOperator

pytestmark = pytest.mark.usefixtures("downwind_home")


def edges(dag: DAG) -> set[tuple[str, str]]:
    """Every ``(upstream, downstream)`` pair, checked to be recorded on both ends."""
    found = {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}
    mirrored = {(u, t.task_id) for t in dag.tasks for u in t.upstream_task_ids}
    assert found == mirrored
    return found


def make(dag_id: str, ids: str) -> tuple[DAG, list[EmptyOperator]]:
    dag = DAG(dag_id)
    return dag, [EmptyOperator(task_id=x, dag=dag) for x in ids]


def test_rshift_and_lshift_between_tasks():
    dag, (a, b, c) = make("shift", "abc")
    result = a >> b
    assert result is b
    assert c << b is b
    assert edges(dag) == {("a", "b"), ("b", "c")}


def test_a_chain_of_rshifts():
    dag, (a, b, c, d) = make("line", "abcd")
    a >> b >> c >> d
    assert edges(dag) == {("a", "b"), ("b", "c"), ("c", "d")}


def test_list_on_the_right():
    dag, (a, b, c) = make("fanout", "abc")
    assert a >> [b, c] == [b, c]
    assert edges(dag) == {("a", "b"), ("a", "c")}


def test_list_on_the_left():
    dag, (a, b, c) = make("fanin", "abc")
    assert ([a, b] >> c) is c
    assert edges(dag) == {("a", "c"), ("b", "c")}


def test_lists_on_both_sides_of_a_task():
    dag, (a, b, c, d, e) = make("diamond", "abcde")
    [a, b] >> c >> [d, e]
    assert edges(dag) == {("a", "c"), ("b", "c"), ("c", "d"), ("c", "e")}


def test_lshift_with_lists_on_either_side():
    dag, (a, b, c, d) = make("lshift", "abcd")
    assert (d << [b, c]) == [b, c]
    assert ([b, c] << a) is a
    assert edges(dag) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}


def test_tuples_and_sets_work_like_lists():
    dag, (a, b, c, d) = make("tuples", "abcd")
    a >> (b, c)
    {b, c} >> d
    assert edges(dag) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}


def test_set_upstream_and_set_downstream():
    dag, (a, b, c) = make("setters", "abc")
    b.set_upstream(a)
    b.set_downstream([c])
    assert edges(dag) == {("a", "b"), ("b", "c")}


def test_setting_the_same_dependency_twice_is_harmless():
    dag, (a, b) = make("twice", "ab")
    a >> b
    a >> b
    assert edges(dag) == {("a", "b")}


def test_a_task_cannot_depend_on_itself():
    _, (a,) = make("self", "a")
    with pytest.raises(DagDefinitionError, match="task 'a' cannot depend on itself"):
        a >> a


def test_relationships_across_two_dags_are_an_error():
    _, (a,) = make("first", "a")
    _, (b,) = make("second", "b")
    with pytest.raises(DagDefinitionError) as info:
        a >> b
    assert str(info.value) == (
        "tried to set relationships between tasks in more than one DAG: "
        "'a' (first) and 'b' (second)"
    )
    assert a.downstream_task_ids == set() and b.upstream_task_ids == set()


def test_a_task_without_dag_joins_the_dag_of_its_relative():
    dag, (a,) = make("adopt", "a")
    loose = EmptyOperator(task_id="loose")
    a >> loose
    assert loose.dag is dag
    assert dag.task_ids == ["a", "loose"]


@pytest.mark.parametrize("other", ["b", 3, None, [1]])
def test_shifting_onto_something_that_is_not_a_task_is_an_error(other):
    _, (a,) = make("junk", "a")
    with pytest.raises(DagDefinitionError, match=r"cannot set a dependency on .*expected a task"):
        a >> other


def test_xcom_args_take_part_in_shifts():
    with DAG("xcomargs") as dag:

        @task
        def produce():
            return 1

        first = produce()
        second = produce()
        last = EmptyOperator(task_id="last")
        head = EmptyOperator(task_id="head")
        head >> first >> last
        [second] >> last
    assert edges(dag) == {("head", "produce"), ("produce", "last"), ("produce__1", "last")}


# chain ---------------------------------------------------------------------------------


def test_chain_of_tasks():
    dag, (a, b, c) = make("chain", "abc")
    chain(a, b, c)
    assert edges(dag) == {("a", "b"), ("b", "c")}


def test_chain_with_a_list_between_tasks():
    dag, (a, b, c, d) = make("chainlist", "abcd")
    chain(a, [b, c], d)
    assert edges(dag) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}


def test_chain_links_adjacent_lists_pairwise():
    dag, (a, b, c, d, e, f) = make("pairwise", "abcdef")
    chain(a, [b, c], [d, e], f)
    assert edges(dag) == {
        ("a", "b"),
        ("a", "c"),
        ("b", "d"),
        ("c", "e"),
        ("d", "f"),
        ("e", "f"),
    }


def test_chain_of_lists_of_different_lengths_is_an_error():
    _, (a, b, c, d, e) = make("mismatch", "abcde")
    with pytest.raises(DagDefinitionError) as info:
        chain(a, [b, c], [d, e, a])
    assert str(info.value) == "chain() cannot link lists of different lengths (2 and 3)"


def test_chain_with_xcom_args():
    with DAG("chainxcom") as dag:

        @task
        def step():
            return None

        chain(step(), step(), [step(), step()])
    assert edges(dag) == {
        ("step", "step__1"),
        ("step__1", "step__2"),
        ("step__1", "step__3"),
    }


def test_chain_of_one_or_no_element_does_nothing():
    dag, (a,) = make("single", "a")
    chain(a)
    chain()
    assert edges(dag) == set()


def test_chain_rejects_what_is_not_a_task():
    _, (a,) = make("chainjunk", "a")
    with pytest.raises(DagDefinitionError, match="cannot chain 'x': expected a task"):
        chain("x", a)


# cross_downstream ----------------------------------------------------------------------


def test_cross_downstream_links_every_pair():
    dag, (a, b, c, d, e) = make("cross", "abcde")
    cross_downstream([a, b], [c, d, e])
    assert edges(dag) == {(up, down) for up in "ab" for down in "cde"}


def test_cross_downstream_onto_a_single_task():
    dag, (a, b, c) = make("cross1", "abc")
    cross_downstream([a, b], c)
    assert edges(dag) == {("a", "c"), ("b", "c")}
