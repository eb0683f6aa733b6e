"""Errors of the use cases (services), each a :class:`~downwind.exceptions.DownwindException`.

The CLI prints any of them as one ``error: ...`` line; the API maps the kinds to status
codes: ``LookupError`` subclasses to 404, :class:`InvalidInput` to 400, the conflicts
(:class:`DagRunAlreadyExists`, :class:`AlreadyExists`, :class:`PoolInUse` and
:class:`~downwind.exceptions.IllegalStateTransition`) to 409.
"""

from __future__ import annotations

from downwind.exceptions import DownwindException

__all__ = [
    "AlreadyExists",
    "DagRunAlreadyExists",
    "DagRunNotFound",
    "InvalidInput",
    "PoolInUse",
    "PoolNotFound",
    "TaskInstanceNotFound",
]


class InvalidInput(DownwindException, ValueError):
    """A value given to a use case is malformed (bad run id, negative slots, bad URI...)."""


class AlreadyExists(DownwindException):
    """Something with this name already exists (e.g. a connection id)."""


class DagRunAlreadyExists(AlreadyExists):
    """The DAG already has a run with this run id."""


class DagRunNotFound(DownwindException, LookupError):
    """The DAG has no run with this run id."""


class TaskInstanceNotFound(DownwindException, LookupError):
    """The run has no task instance with this task id (and map index)."""


class PoolNotFound(DownwindException, LookupError):
    """No pool has this name."""


class PoolInUse(DownwindException):
    """The pool cannot be deleted: unfinished task instances wait or run in it."""
