"""Executors: they run task tries somewhere and relay what the tries say.

``sequential`` (one try at a time, for debugging) and ``local`` (warm worker processes
on this machine, one child process per try). The interface is in :mod:`.base`; see
docs/executors.md.
"""

from __future__ import annotations

from typing import Any

from downwind.executors.base import (
    BaseExecutor,
    ExecutorError,
    ExecutorEvent,
    RuntimeHandler,
    TaskWorkload,
)

__all__ = [
    "BaseExecutor",
    "ExecutorError",
    "ExecutorEvent",
    "RuntimeHandler",
    "TaskWorkload",
    "create_executor",
]


def create_executor(name: str, **options: Any) -> BaseExecutor:
    """The executor called ``name`` (``[core] executor``), built with ``options``
    (the keyword arguments of :class:`~downwind.executors.local.LocalExecutor`)."""
    if name == "local":
        from downwind.executors.local import LocalExecutor

        return LocalExecutor(**options)
    if name == "sequential":
        from downwind.executors.sequential import SequentialExecutor

        return SequentialExecutor(**options)
    raise ExecutorError(f"unknown executor {name!r}: expected local or sequential")
