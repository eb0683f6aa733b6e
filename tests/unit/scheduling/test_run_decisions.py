from datetime import UTC, datetime, timedelta

from downwind.scheduling.run_decisions import (
    RunSnapshot,
    TaskShape,
    decide_task_states,
    run_outcome,
)
from downwind.sdk.trigger_rule import TriggerRule
from downwind.states import DagRunState, TaskInstanceState

TI = TaskInstanceState
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def chain(*ids, rule=TriggerRule.ALL_SUCCESS):
    shapes = {}
    for i, task_id in enumerate(ids):
        shapes[task_id] = TaskShape(upstream=[ids[i - 1]] if i else [], trigger_rule=rule)
    return list(ids), shapes


def test_roots_are_scheduled_and_the_rest_waits():
    order, shapes = chain("a", "b", "c")
    changes = decide_task_states(order, shapes, RunSnapshot({"a": None, "b": None, "c": None}), NOW)
    assert changes == {"a": TI.SCHEDULED}


def test_success_schedules_the_next_task():
    order, shapes = chain("a", "b", "c")
    states = {"a": TI.SUCCESS, "b": None, "c": None}
    assert decide_task_states(order, shapes, RunSnapshot(states), NOW) == {"b": TI.SCHEDULED}


def test_a_failure_cascades_upstream_failed_in_one_pass():
    order, shapes = chain(*[f"t{i}" for i in range(2000)])
    states = {task_id: None for task_id in order}
    states["t0"] = TI.FAILED
    changes = decide_task_states(order, shapes, RunSnapshot(states), NOW)
    assert len(changes) == 1999
    assert set(changes.values()) == {TI.UPSTREAM_FAILED}


def test_a_skip_cascades_and_a_join_with_none_failed_min_one_success_runs():
    shapes = {
        "branch": TaskShape([]),
        "left": TaskShape(["branch"]),
        "right": TaskShape(["branch"]),
        "after_right": TaskShape(["right"]),
        "join": TaskShape(["left", "after_right"], TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS),
    }
    order = ["branch", "left", "right", "after_right", "join"]
    states = {
        "branch": TI.SUCCESS,
        "left": TI.SUCCESS,
        "right": TI.SKIPPED,
        "after_right": None,
        "join": None,
    }
    changes = decide_task_states(order, shapes, RunSnapshot(states), NOW)
    assert changes == {"after_right": TI.SKIPPED, "join": TI.SCHEDULED}


def test_a_retry_is_scheduled_only_when_its_time_has_come():
    order, shapes = chain("a")
    later = RunSnapshot({"a": TI.UP_FOR_RETRY}, next_retry_at={"a": NOW + timedelta(seconds=5)})
    assert decide_task_states(order, shapes, later, NOW) == {}
    due = RunSnapshot({"a": TI.UP_FOR_RETRY}, next_retry_at={"a": NOW})
    assert decide_task_states(order, shapes, due, NOW) == {"a": TI.SCHEDULED}


def test_depends_on_past_waits_for_the_previous_runs_success():
    shapes = {"a": TaskShape([], depends_on_past=True)}
    first = RunSnapshot({"a": None}, has_previous_run=False)
    assert decide_task_states(["a"], shapes, first, NOW) == {"a": TI.SCHEDULED}
    blocked = RunSnapshot({"a": None}, past_states={"a": TI.FAILED}, has_previous_run=True)
    assert decide_task_states(["a"], shapes, blocked, NOW) == {}
    allowed = RunSnapshot({"a": None}, past_states={"a": TI.SUCCESS}, has_previous_run=True)
    assert decide_task_states(["a"], shapes, allowed, NOW) == {"a": TI.SCHEDULED}


def test_tasks_already_in_flight_are_left_alone():
    order, shapes = chain("a", "b")
    states = {"a": TI.RUNNING, "b": None}
    assert decide_task_states(order, shapes, RunSnapshot(states), NOW) == {}


def test_run_outcome_follows_the_leaves():
    assert run_outcome({"a": TI.SUCCESS, "b": TI.RUNNING}, ["b"]) is None
    assert run_outcome({"a": TI.SUCCESS, "b": TI.SKIPPED}, ["b"]) is DagRunState.SUCCESS
    assert run_outcome({"a": TI.FAILED, "b": TI.UPSTREAM_FAILED}, ["b"]) is DagRunState.FAILED
    # a cleanup leaf with all_done that succeeded makes the run succeed, as in Airflow
    assert run_outcome({"a": TI.FAILED, "cleanup": TI.SUCCESS}, ["cleanup"]) is DagRunState.SUCCESS
    assert run_outcome({"a": TI.UP_FOR_RETRY}, ["a"]) is None
