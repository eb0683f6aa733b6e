"""Stopping a task that runs past its ``execution_timeout``.

In a process's main thread a SIGALRM interrupts even a blocking call; in any other
thread (``dags test`` runs tasks in threads) the timeout is raised asynchronously in
that thread at its next Python instruction. Either way the operator's ``on_kill`` runs
first, so a subprocess (and its whole process group) is stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from downwind.exceptions import TaskTimeout

T = TypeVar("T")


def call_with_timeout(
    fn: Callable[[], T], timeout: timedelta | None, on_kill: Callable[[], Any]
) -> T:
    """Call ``fn``; after ``timeout`` call ``on_kill`` and raise :class:`TaskTimeout`."""
    if timeout is None:
        return fn()
    seconds = max(timeout.total_seconds(), 0.001)
    message = f"task timed out after {timeout} (execution_timeout)"
    if threading.current_thread() is threading.main_thread():
        return _with_alarm(fn, seconds, on_kill, message)
    return _with_watchdog(fn, seconds, on_kill, message)


def _with_alarm(fn: Callable[[], T], seconds: float, on_kill: Callable[[], Any], message: str) -> T:
    def handler(signum: int, frame: Any) -> None:
        _safe(on_kill)
        raise TaskTimeout(message)

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _with_watchdog(
    fn: Callable[[], T], seconds: float, on_kill: Callable[[], Any], message: str
) -> T:
    lock = threading.Lock()
    state = {"finished": False, "fired": False}
    target = threading.get_ident()

    def fire() -> None:
        with lock:
            if state["finished"]:
                return
            state["fired"] = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(target), ctypes.py_object(TaskTimeout)
            )
        _safe(on_kill)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        try:
            return fn()
        finally:
            with lock:
                state["finished"] = True
            timer.cancel()
    except TaskTimeout:
        if state["fired"]:
            raise TaskTimeout(message) from None
        raise


def _safe(fn: Callable[[], Any]) -> None:
    # A failing on_kill must not hide the timeout.
    with contextlib.suppress(Exception):
        fn()
