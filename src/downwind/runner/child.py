"""The process of one task try: forked by a warm worker, it runs the try and exits.

What it does, in order: leads a new session (its own process group, so the try and
everything it starts can be stopped together, and a Ctrl-C in the scheduler's terminal
does not reach it); asks the kernel to kill it if its worker dies; sends its stdout,
stderr and logging to the try's log file; runs :func:`run_task_try` with a
:class:`~downwind.runtime.pipe.PipeRuntimeClient`; exits without running the worker's
exit handlers.

SIGTERM (how the executor stops a try) runs the operator's ``on_kill`` (which stops a
bash command's own process group) and fails the try with :class:`TaskTerminated`, so
the try still reports an outcome; the worker sends SIGKILL if it does not end in time.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, NoReturn

from downwind.exceptions import TaskLoadError, TaskTerminated
from downwind.runner.log_capture import RedactingStream
from downwind.runner.log_paths import TaskLogFormatter
from downwind.runner.task_runner import failure_outcome, run_task_try, running_task
from downwind.runtime.pipe import PipeRuntimeClient

if TYPE_CHECKING:
    from types import FrameType

    from downwind.runtime.client import TaskInstanceKey
    from downwind.sdk.baseoperator import BaseOperator

__all__ = [
    "EXIT_ERROR",
    "prepare_worker_output",
    "run_child",
]

log = logging.getLogger("downwind.task")

EXIT_ERROR = 70
"""Exit status of a task process that broke before its try reported an outcome."""

_PR_SET_PDEATHSIG = 1


def run_child(
    *,
    key: TaskInstanceKey,
    task: BaseOperator | None,
    load_error: tuple[str, str] | None,
    log_path: str,
    channel: Connection,
    hostname: str,
    parent_pid: int,
) -> NoReturn:
    """Run one try in this freshly forked process; never returns.

    ``task`` is the task to run, or ``None`` with ``load_error`` = (message, details)
    saying why it could not be loaded (unloadable DAG file, unknown DAG or task id):
    the try then starts, logs the details and fails with :class:`TaskLoadError` through
    the runner's one failure rule (so it is retried while tries remain).
    """
    code = EXIT_ERROR
    try:
        os.setsid()
        _die_with_parent(parent_pid)
        _redirect_output(log_path)
        client = PipeRuntimeClient(key, channel, hostname=hostname)
        _install_signal_handlers(task, client)
        log.info("Task process %d on %s (worker %d)", os.getpid(), hostname, parent_pid)
        if task is None:
            _fail_unloadable(client, load_error or ("the task could not be loaded", ""))
        else:
            run_task_try(task, client)
        code = 0
    except BaseException as err:  # the runner itself broke, or the supervisor refused
        with contextlib.suppress(BaseException):
            log.error(
                "The task process stopped before its try reported an outcome: %s\n%s",
                err,
                "".join(traceback.format_exception(err)).rstrip(),
            )
    finally:
        with contextlib.suppress(BaseException):
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def prepare_worker_output() -> None:
    """Set up, once in the worker, the streams and log handler its children write with.

    ``sys.stdout``/``sys.stderr`` become line-buffered streams on fd 1 and 2 that mask
    secrets (:class:`~downwind.runner.log_capture.RedactingStream`), and the root logger
    gets one handler in the task log format on ``sys.stderr``. A child then only points
    fd 1 and 2 at its log file (a few system calls): building these objects
    in every child would cost more than the rest of a no-op try, because each page a
    forked child writes to is copied.
    """
    global _ROOT_HANDLER
    sys.stdout.flush()
    sys.stderr.flush()
    sys.stdout = _masked_stream(1)  # type: ignore[assignment]
    sys.stderr = _masked_stream(2)  # type: ignore[assignment]
    _ROOT_HANDLER = logging.StreamHandler(sys.stderr)
    _ROOT_HANDLER.setFormatter(TaskLogFormatter())
    root = logging.getLogger()
    root.handlers = [_ROOT_HANDLER]
    root.setLevel(logging.INFO)
    _prctl()


_ROOT_HANDLER: logging.Handler | None = None
_PRCTL: Any = None


def _masked_stream(fd: int) -> RedactingStream:
    return RedactingStream(
        open(fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
    )


def _prctl() -> Any:
    """libc's ``prctl`` (Linux), looked up once: loading libc costs a child ~0.4 ms."""
    global _PRCTL
    if _PRCTL is None and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
    return _PRCTL


def _die_with_parent(parent_pid: int) -> None:
    """Linux: SIGKILL this process when its worker dies, so no try outlives its worker
    unsupervised (the executor reports the try as crashed and starts a new worker)."""
    prctl = _prctl()
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the worker died before the request took effect
        os._exit(EXIT_ERROR)


def _redirect_output(log_path: str) -> None:
    """fd 0 reads /dev/null; fd 1 and 2 (hence ``sys.stdout``, ``sys.stderr`` and the
    root logger) append to the try's log file (a try run again after a crash of the
    scheduler keeps what the first one said)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    try:
        fd = os.open(log_path, flags, 0o644)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        fd = os.open(log_path, flags, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(devnull)
    root = logging.getLogger()
    if _ROOT_HANDLER is None:  # not prepared by a worker: do it now
        prepare_worker_output()
    elif root.handlers != [_ROOT_HANDLER]:  # a DAG file configured logging at import
        root.handlers = [_ROOT_HANDLER]
        root.setLevel(logging.INFO)


def _install_signal_handlers(task: BaseOperator | None, client: PipeRuntimeClient) -> None:
    terminated = False

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        nonlocal terminated
        if client.finishing:  # the outcome is sent: just go
            with contextlib.suppress(BaseException):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(0)
        if terminated:  # a second SIGTERM while the first one is being handled
            return
        terminated = True
        log.warning("Received SIGTERM: stopping the task")
        running = running_task() or task
        if running is not None:
            try:
                running.on_kill()
            except Exception:
                log.exception("on_kill raised an error")
        raise TaskTerminated("the task process received SIGTERM (stopped by its executor)")

    signal.signal(signal.SIGTERM, on_sigterm)
    # The worker ignores Ctrl-C; the task and the commands it starts get the default.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _fail_unloadable(client: PipeRuntimeClient, error: tuple[str, str]) -> None:
    message, details = error
    start = client.start()
    if details:
        log.error("%s:\n%s", message, details.rstrip())
    client.finish(failure_outcome(TaskLoadError(message), start.try_number, start.max_tries))
