"""Run and task-instance states, their terminal sets, and THE table of allowed transitions.

Every writer of a state goes through :func:`check_dag_run_transition` or
:func:`check_task_transition`, which raise :class:`IllegalStateTransition` on a move
the table does not allow. ``None`` is the "no state yet" of a task instance (NULL in
the metastore, ``null`` in the API, "none" in the UI).
"""

from __future__ import annotations

from enum import StrEnum

from downwind.exceptions import IllegalStateTransition


class DagRunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class TaskInstanceState(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    REMOVED = "removed"


class Actor(StrEnum):
    """Who makes a transition."""

    SCHEDULER = "scheduler"
    RUNNER = "runner"
    USER = "user"


TI = TaskInstanceState

#: States after which a task instance does nothing more until cleared.
TASK_FINISHED: frozenset[TaskInstanceState] = frozenset(
    {TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UPSTREAM_FAILED, TI.REMOVED}
)
#: States a task instance is in while it is being worked on (queued or on a worker).
TASK_ACTIVE: frozenset[TaskInstanceState] = frozenset({TI.QUEUED, TI.RUNNING})
#: Finished states that count as "failed" for trigger rules.
TASK_FAILED_STATES: frozenset[TaskInstanceState] = frozenset({TI.FAILED, TI.UPSTREAM_FAILED})
#: States a user may mark a task instance with (besides clearing it to no state).
USER_MARKABLE: frozenset[TaskInstanceState] = frozenset({TI.SUCCESS, TI.FAILED, TI.SKIPPED})
DAG_RUN_FINISHED: frozenset[DagRunState] = frozenset({DagRunState.SUCCESS, DagRunState.FAILED})

_S, _R, _U = Actor.SCHEDULER, Actor.RUNNER, Actor.USER

#: (from, to) -> actors allowed to make that move. ``None`` is "no state".
_TASK_TRANSITIONS: dict[
    tuple[TaskInstanceState | None, TaskInstanceState | None], frozenset[Actor]
] = {
    (None, TI.SCHEDULED): frozenset({_S}),
    (None, TI.UPSTREAM_FAILED): frozenset({_S}),
    (None, TI.SKIPPED): frozenset({_S, _R}),  # trigger rules; a branch skipping a task
    (None, TI.REMOVED): frozenset({_S}),
    (TI.SCHEDULED, TI.QUEUED): frozenset({_S}),
    (TI.SCHEDULED, TI.SKIPPED): frozenset({_S, _R}),
    (TI.SCHEDULED, TI.UPSTREAM_FAILED): frozenset({_S}),
    (TI.SCHEDULED, None): frozenset({_S}),  # a queued slot could not be used
    (TI.QUEUED, TI.RUNNING): frozenset({_R}),
    (TI.QUEUED, TI.SCHEDULED): frozenset({_S}),  # executor lost it before it started
    (TI.QUEUED, TI.FAILED): frozenset({_S}),  # could not be started, no tries left
    (TI.QUEUED, TI.UP_FOR_RETRY): frozenset({_S}),
    (TI.RUNNING, TI.SUCCESS): frozenset({_R}),
    (TI.RUNNING, TI.FAILED): frozenset({_R, _S}),  # scheduler: a zombie with no tries left
    (TI.RUNNING, TI.UP_FOR_RETRY): frozenset({_R, _S}),
    (TI.RUNNING, TI.UP_FOR_RESCHEDULE): frozenset({_R}),
    (TI.RUNNING, TI.SKIPPED): frozenset({_R}),
    (TI.UP_FOR_RETRY, TI.SCHEDULED): frozenset({_S}),
    (TI.UP_FOR_RESCHEDULE, TI.SCHEDULED): frozenset({_S}),
    (TI.UP_FOR_RETRY, TI.UPSTREAM_FAILED): frozenset({_S}),
    (TI.UP_FOR_RETRY, TI.FAILED): frozenset({_S}),  # run timed out while waiting
    (TI.UP_FOR_RESCHEDULE, TI.FAILED): frozenset({_S}),
    (TI.REMOVED, None): frozenset({_S}),  # the task came back into the DAG
}


def _task_state(value: TaskInstanceState | str | None) -> TaskInstanceState | None:
    if value is None:
        return None
    try:
        return TaskInstanceState(value)
    except ValueError:
        raise IllegalStateTransition(f"unknown task instance state {value!r}") from None


def _run_state(value: DagRunState | str) -> DagRunState:
    try:
        return DagRunState(value)
    except ValueError:
        raise IllegalStateTransition(f"unknown DAG run state {value!r}") from None


def check_task_transition(
    old: TaskInstanceState | str | None, new: TaskInstanceState | str | None, actor: Actor
) -> None:
    """Raise :class:`IllegalStateTransition` unless ``actor`` may move a task instance
    from ``old`` to ``new``.

    A user's mark success/failed/skipped may change any state but ``running`` (a running
    task is stopped first); a user's clear resets any state to no state. ``old`` and
    ``new`` may be given as strings (``"success"``); an unknown one is refused.
    """
    old, new = _task_state(old), _task_state(new)
    actor = Actor(actor)
    if old == new:
        return
    if actor is Actor.USER:
        if new is None:
            return
        if new not in USER_MARKABLE:
            raise IllegalStateTransition(
                f"a user may not set a task instance to {new}: mark it "
                f"{', '.join(sorted(USER_MARKABLE))}, or clear it"
            )
        if old is not TI.RUNNING:
            return
        raise IllegalStateTransition(
            f"cannot mark a running task instance {new}: stop it first (it is running)"
        )
    allowed = _TASK_TRANSITIONS.get((old, new))
    if allowed is None or actor not in allowed:
        raise IllegalStateTransition(
            f"{actor} may not move a task instance from {old or 'none'} to {new or 'none'}"
        )


_RUN_TRANSITIONS: dict[tuple[DagRunState, DagRunState], frozenset[Actor]] = {
    (DagRunState.QUEUED, DagRunState.RUNNING): frozenset({_S}),
    (DagRunState.RUNNING, DagRunState.SUCCESS): frozenset({_S}),
    (DagRunState.RUNNING, DagRunState.FAILED): frozenset({_S}),
    (DagRunState.QUEUED, DagRunState.FAILED): frozenset({_S}),  # e.g. dagrun_timeout
    (DagRunState.SUCCESS, DagRunState.QUEUED): frozenset({_S, _U}),  # cleared
    (DagRunState.FAILED, DagRunState.QUEUED): frozenset({_S, _U}),
    (DagRunState.RUNNING, DagRunState.QUEUED): frozenset({_S, _U}),
}


def check_dag_run_transition(old: DagRunState | str, new: DagRunState | str, actor: Actor) -> None:
    """Raise :class:`IllegalStateTransition` unless ``actor`` may move a DAG run from
    ``old`` to ``new``. A user may mark any run success or failed."""
    old, new = _run_state(old), _run_state(new)
    actor = Actor(actor)
    if old == new:
        return
    if actor is Actor.USER and new in DAG_RUN_FINISHED:
        return
    allowed = _RUN_TRANSITIONS.get((old, new))
    if allowed is None or actor not in allowed:
        raise IllegalStateTransition(f"{actor} may not move a DAG run from {old} to {new}")
