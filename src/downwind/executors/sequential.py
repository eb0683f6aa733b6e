"""The sequential executor: one try at a time, for debugging.

The local executor's machinery with a single worker: each try still runs in its own
process with its own log file, but never two at once, so their output and effects are
easy to follow.
"""

from __future__ import annotations

from typing import Any

from downwind.executors.local import LocalExecutor

__all__ = ["SequentialExecutor"]


class SequentialExecutor(LocalExecutor):
    """A :class:`LocalExecutor` with one worker; takes the same keyword options."""

    def __init__(self, **options: Any) -> None:
        options.pop("parallelism", None)
        super().__init__(1, **options)
