"""Route what tasks running in threads print and log to their own task log.

``dags test`` runs tasks in threads of one process. While a capture is active,
``sys.stdout``/``sys.stderr`` and the root logger dispatch each line to the task that
the writing thread is running (``emit(task_id, line)``); lines from other threads go
where they went before.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

Emit = Callable[[str, str], None]


class _Local(threading.local):
    task_id: str | None = None
    partial: str = ""


class _RoutingStream:
    """A text stream that sends complete lines of task threads to ``emit``."""

    def __init__(self, original: TextIO, local: _Local, emit: Emit) -> None:
        self._original = original
        self._local = local
        self._emit = emit

    def write(self, text: str) -> int:
        task_id = self._local.task_id
        if task_id is None:
            return self._original.write(text)
        buffered = self._local.partial + text
        *lines, self._local.partial = buffered.split("\n")
        for line in lines:
            self._emit(task_id, line)
        return len(text)

    def flush(self) -> None:
        if self._local.task_id is None:
            self._original.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class _TaskLogHandler(logging.Handler):
    def __init__(self, local: _Local, emit: Emit, fallback: TextIO) -> None:
        super().__init__(logging.INFO)
        self._local = local
        self._emit = emit
        self._fallback = fallback

    def emit(self, record: logging.LogRecord) -> None:
        try:
            clock = time.strftime("%H:%M:%S", time.localtime(record.created))
            message = f"[{clock}] {record.levelname} - {record.getMessage()}"
            if record.exc_info and record.exc_info[1] is not None:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            task_id = self._local.task_id
            if task_id is None:
                if record.levelno >= logging.WARNING:
                    self._fallback.write(message + "\n")
                return
            for line in message.split("\n"):
                self._emit(task_id, line)
        except Exception:
            self.handleError(record)


class TaskLogCapture:
    """Install the routing while the ``with`` block runs."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._local = _Local()
        self._saved: tuple[Any, ...] = ()

    def __enter__(self) -> TaskLogCapture:
        root = logging.getLogger()
        self._saved = (sys.stdout, sys.stderr, root.handlers[:], root.level)
        sys.stdout = _RoutingStream(sys.stdout, self._local, self._emit)  # type: ignore[assignment]
        sys.stderr = _RoutingStream(sys.stderr, self._local, self._emit)  # type: ignore[assignment]
        root.handlers = [_TaskLogHandler(self._local, self._emit, self._saved[1])]
        root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        sys.stdout, sys.stderr, root.handlers, level = self._saved
        root.setLevel(level)

    @contextmanager
    def task(self, task_id: str) -> Iterator[None]:
        """Route this thread's output to ``task_id`` while the block runs."""
        self._local.task_id = task_id
        try:
            yield
        finally:
            if self._local.partial:
                self._emit(task_id, self._local.partial)
            self._local.partial = ""
            self._local.task_id = None
