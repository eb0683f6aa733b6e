"""The state machine: which actor may make which move, and the terminal sets."""

from __future__ import annotations

import pytest

from downwind.exceptions import IllegalStateTransition
from downwind.states import (
    DAG_RUN_FINISHED,
    TASK_FAILED_STATES,
    TASK_FINISHED,
    USER_MARKABLE,
    Actor,
    DagRunState,
    check_dag_run_transition,
    check_task_transition,
)
from downwind.states import TaskInstanceState as TI

S, R, U = Actor.SCHEDULER, Actor.RUNNER, Actor.USER
DR = DagRunState


@pytest.mark.parametrize(
    ("old", "new", "actor"),
    [
        # the normal life of a task instance
        (None, TI.SCHEDULED, S),
        (TI.SCHEDULED, TI.QUEUED, S),
        (TI.QUEUED, TI.RUNNING, R),
        (TI.RUNNING, TI.SUCCESS, R),
        (TI.RUNNING, TI.FAILED, R),
        (TI.RUNNING, TI.SKIPPED, R),
        (TI.RUNNING, TI.UP_FOR_RETRY, R),
        (TI.RUNNING, TI.UP_FOR_RESCHEDULE, R),
        (TI.UP_FOR_RETRY, TI.SCHEDULED, S),
        (TI.UP_FOR_RESCHEDULE, TI.SCHEDULED, S),
        # trigger rules and branches
        (None, TI.UPSTREAM_FAILED, S),
        (None, TI.SKIPPED, S),
        (None, TI.SKIPPED, R),
        (None, TI.REMOVED, S),
        # a zombie whose worker died
        (TI.RUNNING, TI.FAILED, S),
        (TI.RUNNING, TI.UP_FOR_RETRY, S),
        (TI.QUEUED, TI.SCHEDULED, S),
        # staying put is always fine
        (TI.RUNNING, TI.RUNNING, R),
        (None, None, S),
    ],
)
def test_allowed_task_transitions(old, new, actor):
    check_task_transition(old, new, actor)


@pytest.mark.parametrize(
    ("old", "new", "actor"),
    [
        (None, TI.RUNNING, R),  # must be scheduled and queued first
        (None, TI.SUCCESS, R),
        (TI.SCHEDULED, TI.RUNNING, R),
        (TI.QUEUED, TI.RUNNING, S),  # only the runner starts a try
        (TI.RUNNING, TI.SUCCESS, S),  # only the runner reports success
        (TI.SUCCESS, TI.RUNNING, R),  # finished is finished until cleared
        (TI.SUCCESS, TI.FAILED, S),
        (TI.FAILED, TI.SCHEDULED, S),
        (TI.SKIPPED, TI.SCHEDULED, S),
        (TI.UPSTREAM_FAILED, TI.SCHEDULED, S),
        (TI.UP_FOR_RETRY, TI.RUNNING, R),
        (TI.SCHEDULED, TI.QUEUED, R),
        (TI.RUNNING, TI.UPSTREAM_FAILED, S),
        (TI.SUCCESS, None, S),  # clearing is a user action
        (TI.FAILED, None, R),
    ],
)
def test_refused_task_transitions(old, new, actor):
    with pytest.raises(IllegalStateTransition) as info:
        check_task_transition(old, new, actor)
    message = str(info.value)
    assert f"{actor} may not move a task instance from {old or 'none'} to {new or 'none'}" in (
        message
    )


@pytest.mark.parametrize("old", [None, *(s for s in TI if s is not TI.RUNNING)])
@pytest.mark.parametrize("new", sorted(USER_MARKABLE))
def test_a_user_may_mark_any_state_but_running(old, new):
    check_task_transition(old, new, U)


@pytest.mark.parametrize("new", sorted(USER_MARKABLE))
def test_a_user_may_not_mark_a_running_task(new):
    with pytest.raises(IllegalStateTransition, match="stop it first"):
        check_task_transition(TI.RUNNING, new, U)


@pytest.mark.parametrize("old", list(TI))
def test_a_user_may_clear_any_state(old):
    check_task_transition(old, None, U)


@pytest.mark.parametrize("new", [TI.RUNNING, TI.QUEUED, TI.SCHEDULED, TI.UP_FOR_RETRY])
def test_a_user_may_not_set_working_states(new):
    with pytest.raises(
        IllegalStateTransition, match=f"a user may not set a task instance to {new}"
    ):
        check_task_transition(TI.FAILED, new, U)


def test_user_markable_states():
    assert {TI.SUCCESS, TI.FAILED, TI.SKIPPED} == USER_MARKABLE


def test_states_given_as_strings_are_checked_the_same():
    check_task_transition("queued", "running", "runner")
    with pytest.raises(IllegalStateTransition, match="stop it first"):
        check_task_transition("running", "success", Actor.USER)
    with pytest.raises(IllegalStateTransition, match="unknown task instance state 'done'"):
        check_task_transition("running", "done", Actor.RUNNER)
    with pytest.raises(IllegalStateTransition, match="unknown DAG run state 'paused'"):
        check_dag_run_transition("running", "paused", Actor.SCHEDULER)


@pytest.mark.parametrize(
    ("old", "new", "actor"),
    [
        (DR.QUEUED, DR.RUNNING, S),
        (DR.RUNNING, DR.SUCCESS, S),
        (DR.RUNNING, DR.FAILED, S),
        (DR.QUEUED, DR.FAILED, S),
        (DR.SUCCESS, DR.QUEUED, U),  # cleared
        (DR.FAILED, DR.QUEUED, U),
        (DR.RUNNING, DR.SUCCESS, U),  # marked
        (DR.QUEUED, DR.FAILED, U),
        (DR.SUCCESS, DR.FAILED, U),
        (DR.FAILED, DR.SUCCESS, U),
    ],
)
def test_allowed_dag_run_transitions(old, new, actor):
    check_dag_run_transition(old, new, actor)


@pytest.mark.parametrize(
    ("old", "new", "actor"),
    [
        (DR.SUCCESS, DR.RUNNING, S),
        (DR.FAILED, DR.SUCCESS, S),
        (DR.QUEUED, DR.SUCCESS, S),
        (DR.QUEUED, DR.RUNNING, U),  # only the scheduler starts a run
        (DR.RUNNING, DR.SUCCESS, R),
    ],
)
def test_refused_dag_run_transitions(old, new, actor):
    with pytest.raises(IllegalStateTransition, match=f"may not move a DAG run from {old} to {new}"):
        check_dag_run_transition(old, new, actor)


def test_terminal_sets():
    assert {TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED} == TASK_FINISHED
    assert {TI.FAILED, TI.UPSTREAM_FAILED} == TASK_FAILED_STATES
    assert {DR.SUCCESS, DR.FAILED} == DAG_RUN_FINISHED
    assert TI.UP_FOR_RETRY not in TASK_FINISHED
