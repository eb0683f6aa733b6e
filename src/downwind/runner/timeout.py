"""Stopping a task that runs past its ``execution_timeout``.

In a process's main thread a SIGALRM interrupts even a blocking call. In any other
thread (``dags test`` runs tasks in threads) no signal can reach the task, so its code
runs in a helper thread that the calling thread watches: when the time is up the timeout
is raised asynchronously in the helper at its next Python instruction (which stops a
busy loop), the operator's ``on_kill`` runs (which stops a subprocess and its whole
process group), and the caller raises :class:`TaskTimeout` at once, even if the helper
is blocked in a call that cannot be interrupted (a long ``time.sleep``): the try ends
on time and the abandoned helper stops at its next instruction.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import logging
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from downwind.exceptions import TaskTimeout

T = TypeVar("T")
log = logging.getLogger("downwind.task")

#: How long a timed-out helper thread gets to stop after it was interrupted.
_GRACE_SECONDS = 0.2


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
    # The helper runs in a copy of this thread's context, so the task's runtime client
    # and its log routing (context variables) follow it.
    context = contextvars.copy_context()
    outcome: dict[str, Any] = {}
    lock = threading.Lock()

    def target() -> None:
        try:
            try:
                result = context.run(fn)
            except BaseException as err:  # re-raised in the calling thread
                outcome["error"] = err
            else:
                outcome["result"] = result
            finally:
                with lock:
                    outcome["done"] = True
        except TaskTimeout:  # the interrupt arrived as the code was finishing anyway
            pass

    helper = threading.Thread(
        target=target, name=f"{threading.current_thread().name}-task", daemon=True
    )
    helper.start()
    helper.join(seconds)
    with lock:
        timed_out = "done" not in outcome
        if timed_out and helper.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(helper.ident), ctypes.py_object(TaskTimeout)
            )
    if not timed_out:
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]
    _safe(on_kill)
    helper.join(_GRACE_SECONDS)
    if helper.is_alive():
        log.warning(
            "the task's code is blocked in a call that cannot be interrupted; it is left to "
            "stop in the background"
        )
    raise TaskTimeout(message)


def _safe(fn: Callable[[], Any]) -> None:
    # A failing on_kill must not hide the timeout.
    with contextlib.suppress(Exception):
        fn()
