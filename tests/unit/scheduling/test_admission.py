from datetime import UTC, datetime, timedelta

from downwind.scheduling.admission import Candidate, Limits, admit

DAY = datetime(2026, 1, 1, tzinfo=UTC)


def candidate(task_id, *, dag_id="d", pool="default_pool", weight=1, day=0, slots=1):
    return Candidate(
        key=(dag_id, task_id, day),
        dag_id=dag_id,
        task_id=task_id,
        pool=pool,
        priority_weight=weight,
        logical_date=DAY + timedelta(days=day),
        pool_slots=slots,
    )


def ids(admission):
    return [c.task_id for c in admission.admitted]


def test_higher_priority_first_then_older_runs_then_task_id():
    result = admit(
        [
            candidate("b", day=1),
            candidate("a", day=1),
            candidate("c", day=0),
            candidate("urgent", weight=10, day=2),
        ],
        Limits(executor_slots=10, pool_slots={"default_pool": 10}),
    )
    assert ids(result) == ["urgent", "c", "a", "b"]


def test_executor_slots_bound_the_batch():
    result = admit(
        [candidate(f"t{i}") for i in range(5)],
        Limits(executor_slots=2, pool_slots={"default_pool": 10}),
    )
    assert ids(result) == ["t0", "t1"]


def test_a_full_pool_holds_its_tasks_but_not_other_pools():
    result = admit(
        [
            candidate("p1", pool="small", weight=5),
            candidate("p2", pool="small", weight=5),
            candidate("other"),
        ],
        Limits(executor_slots=10, pool_slots={"small": 1, "default_pool": 3}),
    )
    assert ids(result) == ["p1", "other"]


def test_a_big_task_that_does_not_fit_does_not_block_smaller_ones():
    result = admit(
        [candidate("big", slots=3, weight=9), candidate("small")],
        Limits(executor_slots=10, pool_slots={"default_pool": 2}),
    )
    assert ids(result) == ["small"]


def test_max_active_tasks_per_dag_and_per_task_limits():
    result = admit(
        [
            candidate("a", dag_id="x"),
            candidate("b", dag_id="x"),
            candidate("c", dag_id="y"),
            candidate("m", dag_id="y", day=1),
            candidate("m", dag_id="y", day=2),
        ],
        Limits(
            executor_slots=10,
            pool_slots={"default_pool": 10},
            dag_slots={"x": 1},
            task_slots={("y", "m"): 1},
        ),
    )
    assert [(c.dag_id, c.task_id) for c in result.admitted] == [("x", "a"), ("y", "c"), ("y", "m")]


def test_an_unknown_pool_is_reported_not_admitted():
    result = admit(
        [candidate("lost", pool="nope"), candidate("ok")],
        Limits(executor_slots=10, pool_slots={"default_pool": 1}),
    )
    assert ids(result) == ["ok"]
    assert [c.task_id for c in result.unknown_pool] == ["lost"]


def test_nothing_admitted_without_executor_slots():
    result = admit([candidate("a")], Limits(executor_slots=0, pool_slots={"default_pool": 5}))
    assert result.admitted == []
