"""Route what tasks running in threads print and log to their own task log.

``dags test`` runs tasks in threads of one process. While a capture is active,
``sys.stdout``/``sys.stderr`` and the root logger dispatch each line to the task that
the writing thread is running (``emit(task_id, line)``); lines from other threads go
where they went before. The running task is held in a context variable, so a helper
thread started with a copy of the task's context (the execution-timeout watchdog)
writes to the same task log.

Every line a task writes passes through :func:`~downwind.runtime.masking.redact` on its
way out, so registered secrets (connection passwords, sensitive variables) show as
``***``: here for in-process runs, and through :class:`RedactingStream` in a task
process of the local executor.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

from downwind.runtime.masking import redact

__all__ = ["RedactingStream", "TaskLogCapture"]

Emit = Callable[[str, str], None]


class RedactingStream:
    """A text stream that writes whole lines to ``original`` with secrets masked.

    Text is held until its line ends (a secret written in several pieces, as ``print``
    does with its arguments, is still found); :meth:`flush` writes what is held.
    """

    def __init__(self, original: TextIO) -> None:
        self._original = original
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            head, newline, tail = (self._partial + text).rpartition("\n")
            self._partial = tail
            if newline:
                self._original.write(redact(head + newline))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            if self._partial:
                self._original.write(redact(self._partial))
                self._partial = ""
        self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class _Routes:
    """The task of the current context and each task's unfinished last line."""

    def __init__(self) -> None:
        self.task_id: ContextVar[str | None] = ContextVar("downwind_log_task", default=None)
        self._partial: dict[str, str] = {}
        self._lock = threading.Lock()

    def split(self, task_id: str, text: str) -> list[str]:
        """Add ``text`` to ``task_id``'s buffer; return the complete lines it finished."""
        with self._lock:
            *lines, self._partial[task_id] = (self._partial.get(task_id, "") + text).split("\n")
        return lines

    def rest(self, task_id: str) -> str:
        """Take the unfinished last line of ``task_id``."""
        with self._lock:
            return self._partial.pop(task_id, "")


class _RoutingStream:
    """A text stream that sends complete lines of task threads to ``emit``."""

    def __init__(self, original: TextIO, routes: _Routes, emit: Emit) -> None:
        self._original = original
        self._routes = routes
        self._emit = emit

    def write(self, text: str) -> int:
        task_id = self._routes.task_id.get()
        if task_id is None:
            return self._original.write(text)
        for line in self._routes.split(task_id, text):
            self._emit(task_id, line)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._routes.task_id.get() is None:
            self._original.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class _TaskLogHandler(logging.Handler):
    """Sends the records of task threads to their task log, and those of other threads
    to the root logger's previous handlers, at its previous level."""

    def __init__(
        self,
        routes: _Routes,
        emit: Emit,
        previous_handlers: list[logging.Handler],
        previous_level: int,
    ) -> None:
        super().__init__(logging.NOTSET)
        self._routes = routes
        self._emit = emit
        self._previous_handlers = previous_handlers
        self._previous_level = previous_level

    def handle(self, record: logging.LogRecord) -> bool:
        task_id = self._routes.task_id.get()
        if task_id is not None:
            return super().handle(record)
        if record.levelno < self._previous_level:
            return False
        handlers = self._previous_handlers or [logging.lastResort]
        for handler in handlers:
            if handler is not None and record.levelno >= handler.level:
                handler.handle(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            task_id = self._routes.task_id.get()
            if task_id is None or record.levelno < logging.INFO:
                return
            clock = time.strftime("%H:%M:%S", time.localtime(record.created))
            message = f"[{clock}] {record.levelname} - {record.getMessage()}"
            if record.exc_info and record.exc_info[1] is not None:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            for line in message.split("\n"):
                self._emit(task_id, line)
        except Exception:
            self.handleError(record)


class TaskLogCapture:
    """Install the routing while the ``with`` block runs."""

    def __init__(self, emit: Emit) -> None:
        self._emit: Emit = lambda task_id, line: emit(task_id, redact(line))
        self._routes = _Routes()
        self._saved: tuple[Any, ...] = ()

    def __enter__(self) -> TaskLogCapture:
        root = logging.getLogger()
        self._saved = (sys.stdout, sys.stderr, root.handlers[:], root.level)
        sys.stdout = _RoutingStream(sys.stdout, self._routes, self._emit)  # type: ignore[assignment]
        sys.stderr = _RoutingStream(sys.stderr, self._routes, self._emit)  # type: ignore[assignment]
        previous_level = root.level
        root.handlers = [_TaskLogHandler(self._routes, self._emit, self._saved[2], previous_level)]
        root.setLevel(min(logging.INFO, previous_level))
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        sys.stdout, sys.stderr, root.handlers, level = self._saved
        root.setLevel(level)

    @contextmanager
    def task(self, task_id: str) -> Iterator[None]:
        """Route this thread's output to ``task_id`` while the block runs."""
        token = self._routes.task_id.set(task_id)
        try:
            yield
        finally:
            self._routes.task_id.reset(token)
            rest = self._routes.rest(task_id)
            if rest:
                self._emit(task_id, rest)
