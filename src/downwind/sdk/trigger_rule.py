"""Trigger rules: when a task may run given the states of its upstream tasks."""

from __future__ import annotations

from enum import StrEnum

from downwind.exceptions import DagDefinitionError


class TriggerRule(StrEnum):
    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"


def parse_trigger_rule(value: str | TriggerRule, task_id: str) -> TriggerRule:
    """The :class:`TriggerRule` named by ``value``, or a clear error naming the task."""
    try:
        return TriggerRule(value)
    except ValueError:
        valid = ", ".join(rule.value for rule in TriggerRule)
        raise DagDefinitionError(
            f"task '{task_id}': unknown trigger rule {value!r}; valid rules: {valid}"
        ) from None
