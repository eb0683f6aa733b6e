"""What changes in one DAG run, given the states of its task instances and ``now``.

Pure functions the scheduler calls on each active run: which task instances become
``scheduled`` (ready to be queued), ``skipped`` or ``upstream_failed`` under their
trigger rules, which waiting retries are due, and whether the run is finished.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from downwind.scheduling.trigger_rules import Decision, UpstreamStates, decide
from downwind.sdk.trigger_rule import TriggerRule
from downwind.states import TASK_FAILED_STATES, TASK_FINISHED, DagRunState, TaskInstanceState

TI = TaskInstanceState
_WAITING = frozenset({TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE})
#: a previous run's task instance in one of these lets a ``depends_on_past`` task run
_PAST_OK = frozenset({TI.SUCCESS, TI.SKIPPED})


@dataclass(frozen=True, slots=True)
class TaskShape:
    """What the decision needs to know of a task (from the serialized DAG)."""

    upstream: Collection[str]
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    depends_on_past: bool = False


@dataclass(slots=True)
class RunSnapshot:
    """The task instances of one run (unmapped: one per task id)."""

    states: Mapping[str, TaskInstanceState | None]
    #: when each ``up_for_retry`` / ``up_for_reschedule`` instance may run again
    next_retry_at: Mapping[str, datetime | None] = field(default_factory=dict)
    #: for ``depends_on_past`` tasks: their state in the previous run (absent: none)
    past_states: Mapping[str, TaskInstanceState | None] = field(default_factory=dict)
    #: is there a previous run at all (the first run ignores depends_on_past)
    has_previous_run: bool = False


def decide_task_states(
    order: Iterable[str],
    shapes: Mapping[str, TaskShape],
    run: RunSnapshot,
    now: datetime,
) -> dict[str, TaskInstanceState]:
    """The new state of every task instance that should change now.

    ``order`` is a topological order of the task ids, so a decision that cascades
    (a failure making a chain of downstream tasks ``upstream_failed``) is made in a
    single pass: linear in the number of tasks and edges.
    """
    current: dict[str, TaskInstanceState | None] = dict(run.states)
    changes: dict[str, TaskInstanceState] = {}
    for task_id in order:
        state = current.get(task_id)
        if state in _WAITING:
            due = run.next_retry_at.get(task_id)
            if due is None or due <= now:
                changes[task_id] = current[task_id] = TI.SCHEDULED
            continue
        if state is not None:
            continue
        shape = shapes[task_id]
        up = UpstreamStates(total=len(shape.upstream))
        for parent in shape.upstream:
            parent_state = current.get(parent)
            if parent_state in TASK_FINISHED:
                up.add(parent_state)
        decision = decide(shape.trigger_rule, up)
        if decision is Decision.RUN:
            if _blocked_by_past(task_id, shape, run):
                continue
            changes[task_id] = current[task_id] = TI.SCHEDULED
        elif decision is Decision.SKIP:
            changes[task_id] = current[task_id] = TI.SKIPPED
        elif decision is Decision.UPSTREAM_FAILED:
            changes[task_id] = current[task_id] = TI.UPSTREAM_FAILED
    return changes


def _blocked_by_past(task_id: str, shape: TaskShape, run: RunSnapshot) -> bool:
    """``depends_on_past``: the previous run's instance must have succeeded (or skipped)."""
    return (
        shape.depends_on_past
        and run.has_previous_run
        and run.past_states.get(task_id) not in _PAST_OK
    )


def run_outcome(
    states: Mapping[str, TaskInstanceState | None], leaves: Iterable[str]
) -> DagRunState | None:
    """``success``/``failed`` once every task instance is finished, else ``None``.

    A finished run failed if any of its leaf tasks failed or is ``upstream_failed``
    (Apache Airflow's rule: a cleanup leaf with ``all_done`` can make it succeed).
    """
    if any(state not in TASK_FINISHED for state in states.values()):
        return None
    if any(states.get(leaf) in TASK_FAILED_STATES for leaf in leaves):
        return DagRunState.FAILED
    return DagRunState.SUCCESS
