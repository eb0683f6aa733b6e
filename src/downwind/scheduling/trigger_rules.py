"""Whether a task may run, given its trigger rule and the states of its upstream tasks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from downwind.sdk.trigger_rule import TriggerRule
from downwind.states import TaskInstanceState


class Decision(StrEnum):
    RUN = "run"
    WAIT = "wait"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


@dataclass(slots=True)
class UpstreamStates:
    """Counts of a task's upstream task instances by finished state."""

    total: int
    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0
    removed: int = 0

    @property
    def done(self) -> int:
        return self.success + self.skipped + self.failed + self.upstream_failed + self.removed

    def add(self, state: TaskInstanceState | str) -> None:
        """Count one more upstream task instance that finished in ``state``."""
        state = TaskInstanceState(state)
        if state is TaskInstanceState.SUCCESS:
            self.success += 1
        elif state is TaskInstanceState.SKIPPED:
            self.skipped += 1
        elif state is TaskInstanceState.FAILED:
            self.failed += 1
        elif state is TaskInstanceState.UPSTREAM_FAILED:
            self.upstream_failed += 1
        elif state is TaskInstanceState.REMOVED:
            self.removed += 1


def decide(rule: TriggerRule, up: UpstreamStates) -> Decision:
    """What to do with a task that has no state yet (Apache Airflow's semantics).

    A task without upstream tasks always runs. Rules decide as early as they can: under
    ``all_success`` one failed upstream makes the task ``upstream_failed`` at once.
    Removed upstream tasks count as done and are otherwise ignored.
    """
    try:
        rule = TriggerRule(rule)
    except ValueError:
        raise ValueError(f"unknown trigger rule {rule!r}") from None
    if up.total == 0 or rule is TriggerRule.ALWAYS:
        return Decision.RUN
    failed = up.failed + up.upstream_failed
    all_done = up.done >= up.total
    relevant = up.total - up.removed
    match rule:
        case TriggerRule.ALL_SUCCESS:
            if failed:
                return Decision.UPSTREAM_FAILED
            if up.skipped:
                return Decision.SKIP
            return Decision.RUN if all_done else Decision.WAIT
        case TriggerRule.ALL_FAILED:
            if up.success or up.skipped:
                return Decision.SKIP
            return Decision.RUN if all_done else Decision.WAIT
        case TriggerRule.ALL_DONE:
            return Decision.RUN if all_done else Decision.WAIT
        case TriggerRule.ALL_SKIPPED:
            if up.success or failed:
                return Decision.SKIP
            return Decision.RUN if all_done else Decision.WAIT
        case TriggerRule.ONE_SUCCESS:
            if up.success:
                return Decision.RUN
            if all_done:
                return Decision.SKIP if up.skipped == relevant else Decision.UPSTREAM_FAILED
            return Decision.WAIT
        case TriggerRule.ONE_FAILED:
            if failed:
                return Decision.RUN
            return Decision.SKIP if all_done else Decision.WAIT
        case TriggerRule.ONE_DONE:
            # As in Airflow, an upstream_failed upstream did not run, so it is not "done".
            if up.success or up.failed:
                return Decision.RUN
            return Decision.SKIP if all_done else Decision.WAIT
        case TriggerRule.NONE_FAILED:
            if failed:
                return Decision.UPSTREAM_FAILED
            return Decision.RUN if all_done else Decision.WAIT
        case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            if failed:
                return Decision.UPSTREAM_FAILED
            if not all_done:
                return Decision.WAIT
            return Decision.SKIP if up.skipped == relevant else Decision.RUN
        case TriggerRule.NONE_SKIPPED:
            if up.skipped:
                return Decision.SKIP
            return Decision.RUN if all_done else Decision.WAIT
    raise ValueError(f"unknown trigger rule {rule!r}")
