"""Errors of the use cases (services), each a :class:`~downwind.exceptions.DownwindException`.

The CLI prints any of them as one ``error: ...`` line; the API maps the kinds to status
codes: ``LookupError`` subclasses to 404, :class:`InvalidInput` to 400, the conflicts
(:class:`DagRunAlreadyExists`, :class:`AlreadyExists`, :class:`PoolInUse`, :class:`DagInUse`
and :class:`~downwind.exceptions.IllegalStateTransition`) to 409.
"""

from __future__ import annotations

from downwind.exceptions import DownwindException

__all__ = [
    "AlreadyExists",
    "DagInUse",
    "DagRunAlreadyExists",
    "DagRunInUse",
    "DagRunNotFound",
    "DagVersionNotFound",
    "EventLogNotFound",
    "ImportErrorNotFound",
    "InvalidInput",
    "PoolInUse",
    "PoolNotFound",
    "TaskInstanceNotFound",
    "UserNotFound",
    "XComNotFound",
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


class UserNotFound(DownwindException, LookupError):
    """No user has this username."""


class DagInUse(DownwindException):
    """The DAG cannot be deleted: some of its task instances are queued or running."""


class DagVersionNotFound(DownwindException, LookupError):
    """The DAG has no stored version with this number."""


class ImportErrorNotFound(DownwindException, LookupError):
    """No import error has this id (the file may load again since)."""


class EventLogNotFound(DownwindException, LookupError):
    """No audit-log entry has this id."""


class DagRunInUse(DagInUse):
    """The DAG run cannot be deleted: some of its task instances are queued or running."""


class XComNotFound(DownwindException, LookupError):
    """The task instance pushed no XCom with this key (and map index)."""
