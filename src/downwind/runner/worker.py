"""A warm worker of the local executor: it runs task tries, one at a time, each in a
child process it forks.

The worker is started once (by the executor, from a forkserver or a fresh interpreter)
and keeps downwind, the runner and the DAG files it has loaded in memory, so a try
costs a ``fork`` and no imports. For each ``run`` message it loads the try's DAG file
(cached by path, reloaded when the file's mtime, size or inode changes), forks, and
supervises the child:

- the child talks to the executor directly, over the socket that came with ``run``
  (see :mod:`downwind.runtime.pipe`); the worker stays idle meanwhile, which matters:
  every page a process writes while its forked child is alive gets copied;
- it sends a heartbeat every ``heartbeat_interval`` seconds while the try runs;
- it stops the child's process group on ``kill`` (SIGTERM, then SIGKILL after
  ``kill_grace``) and when the try overruns its ``execution_timeout`` by
  ``timeout_grace`` (the task's own timeout normally fires first, inside the child);
  each stop is written to the try's log;
- when the child exits it kills what is left of the child's process group, reaps the
  child and reports ``exited`` with its exit code (negative: the signal that killed it).

If the executor goes away (its end of the pipe closes) or the worker gets SIGTERM, the
worker stops its child and exits. Ctrl-C in the scheduler's terminal is left to the
scheduler.

Messages (small pickled tuples) from the executor: ``("run", key, dag_fileloc,
log_path)`` followed by one file descriptor (``socket.send_fds``: the child's end of its
channel to the executor), ``("kill", reason)``, ``("stop",)``. To the executor:
``("ready", pid)``, ``("heartbeat",)``, ``("exited", exit_code, kill_reason)``.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from downwind.runner.child import prepare_worker_output, run_child
from downwind.runner.log_paths import append_log_line
from downwind.runner.process_tree import become_subreaper, kill_leftovers, signal_session

if TYPE_CHECKING:
    from downwind.runtime.client import TaskInstanceKey
    from downwind.sdk.baseoperator import BaseOperator
    from downwind.sdk.dag import DAG

__all__ = [
    "EXITED",
    "HEARTBEAT",
    "KILL",
    "READY",
    "RUN",
    "STOP",
    "DagFileCache",
    "WorkerOptions",
    "describe_exit",
    "worker_main",
]

log = logging.getLogger("downwind.worker")

# executor -> worker
RUN = "run"
KILL = "kill"
STOP = "stop"
# worker -> executor
READY = "ready"
HEARTBEAT = "heartbeat"
EXITED = "exited"

_PR_SET_PDEATHSIG = 1
_POLL_WITHOUT_PIDFD = 0.05


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs; picklable, given to each worker when it starts."""

    environ: Mapping[str, str] = field(default_factory=dict)
    sys_path: tuple[str, ...] = ()
    cwd: str | None = None
    import_folders: tuple[str, ...] = ()
    heartbeat_interval: float = 5.0
    kill_grace: float = 5.0
    timeout_grace: float = 10.0
    dag_load_timeout: float = 30.0


# -- the DAG file cache --------------------------------------------------------------


@dataclass
class _Loaded:
    stamp: tuple[int, int, int]
    dags: dict[str, DAG]
    error: str | None


class _LoadTimeout(Exception):
    pass


class DagFileCache:
    """Parsed DAG files by path, reloaded when a file changes (mtime, size or inode)."""

    def __init__(self, load_timeout: float = 30.0) -> None:
        self.load_timeout = load_timeout
        self._files: dict[str, _Loaded] = {}
        self.loads = 0

    def task(
        self, path: str, key: TaskInstanceKey
    ) -> tuple[BaseOperator | None, tuple[str, str] | None]:
        """The task of ``key`` in the DAG file at ``path``, or ``(None, (message,
        details))`` saying why it cannot be had."""
        try:
            stat = os.stat(path)
        except OSError as err:
            self._files.pop(path, None)
            return None, (f"cannot read DAG file {path}: {err.strerror or err}", "")
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        loaded = self._files.get(path)
        if loaded is None or loaded.stamp != stamp:
            loaded = self._load(path, stamp)
        if loaded.error is not None:
            last = loaded.error.strip().splitlines()[-1] if loaded.error.strip() else "?"
            return None, (f"DAG file {path} failed to import: {last}", loaded.error)
        dag = loaded.dags.get(key.dag_id)
        if dag is None:
            found = ", ".join(sorted(loaded.dags)) or "none"
            return None, (f"DAG '{key.dag_id}' not found in {path} (DAGs there: {found})", "")
        task = dag.task_dict.get(key.task_id)
        if task is None:
            return None, (f"task '{key.task_id}' not found in DAG '{key.dag_id}' ({path})", "")
        return task, None

    def _load(self, path: str, stamp: tuple[int, int, int]) -> _Loaded:
        from downwind.sdk.discovery import load_dag_file
        from downwind.sdk.templating import template_env

        self.loads += 1
        self._files.pop(path, None)
        gc.unfreeze()  # the previous version of the file may be collected now
        timed_out = False
        try:
            with _time_limit(self.load_timeout):
                dags, error = load_dag_file(Path(path))
        except _LoadTimeout:
            dags, error, timed_out = [], None, True
        if error is not None and "_LoadTimeout" in error:
            timed_out = True
        if timed_out:
            error = f"importing the file took longer than {self.load_timeout:g} s\n"
        for dag in dags:
            with contextlib.suppress(Exception):
                template_env(dag)  # built once here rather than in every child
        loaded = _Loaded(stamp, {dag.dag_id: dag for dag in dags}, error)
        if not timed_out:  # a slow import may go better next time
            self._files[path] = loaded
        gc.collect()
        gc.freeze()  # children do not copy the pages of what the worker holds
        return loaded


class _time_limit:
    """Raise :class:`_LoadTimeout` in this (main) thread after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        def expire(signum: int, frame: Any) -> None:
            raise _LoadTimeout(f"import took longer than {self.seconds:g} s")

        self._previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)


# -- exit statuses -------------------------------------------------------------------


def describe_exit(code: int, *, oom_hint: bool = True) -> str:
    """``exit code 3`` or ``killed by signal 9 (SIGKILL)`` for a process's exit code
    (negative for a signal, as :func:`os.waitstatus_to_exitcode` gives it). An
    unexplained SIGKILL gets a hint that it may have been the kernel's OOM killer."""
    if code >= 0:
        return f"exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        return f"killed by signal {-code}"
    hint = ""
    if name == "SIGKILL" and oom_hint:
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL)"
    return f"killed by signal {-code} ({name}){hint}"


# -- the worker ----------------------------------------------------------------------


@dataclass
class _Child:
    pid: int
    pidfd: int | None
    log_path: str
    hard_deadline: float | None
    kill_reason: str | None = None
    kill_deadline: float | None = None
    next_heartbeat: float = 0.0


class _Stop(Exception):
    pass


class _Worker:
    def __init__(self, conn: Connection, options: WorkerOptions) -> None:
        self.conn = conn
        # The same socket as ``conn``, for the file descriptors that come with "run".
        self.fd_socket = socket.socket(fileno=os.dup(conn.fileno()))
        self.options = options
        self.cache = DagFileCache(options.dag_load_timeout)
        self.child: _Child | None = None
        self.stopping = False
        self.hostname = socket.gethostname()
        self.selector = selectors.DefaultSelector()
        self.selector.register(conn, selectors.EVENT_READ, "executor")
        #: whether what a try leaves running is adopted by this worker (Linux)
        self.subreaper = become_subreaper()

    def serve(self) -> None:
        self.conn.send((READY, os.getpid()))
        try:
            while not (self.stopping and self.child is None):
                self._step()
        except (_Stop, EOFError, BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self._stop_child("the worker is stopping")

    def _step(self) -> None:
        child = self.child
        ready = {key.data for key, _ in self.selector.select(self._timeout())}
        if "executor" in ready:
            self._from_executor(self.conn.recv())
        if child is not None and child is self.child:
            if "exit" in ready or (child.pidfd is None and _exited(child.pid)):
                self._child_exited(child)
            else:
                self._timers(child)

    def _timeout(self) -> float | None:
        child = self.child
        if child is None:
            return None
        deadlines = [child.next_heartbeat]
        deadlines += [d for d in (child.kill_deadline, child.hard_deadline) if d is not None]
        timeout = max(min(deadlines) - time.monotonic(), 0.0)
        return timeout if child.pidfd is not None else min(timeout, _POLL_WITHOUT_PIDFD)

    # -- messages from the executor --------------------------------------------------

    def _from_executor(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == RUN:
            _, key, fileloc, log_path = message
            _, fds, _, _ = socket.recv_fds(self.fd_socket, 1, 1)
            if len(fds) != 1:
                raise RuntimeError(f"worker: 'run' came with {len(fds)} file descriptors")
            self._run(key, fileloc, log_path, fds[0])
        elif kind == KILL:
            if self.child is not None:
                self._kill(self.child, message[1])
        elif kind == STOP:
            self.stopping = True
        else:
            raise RuntimeError(f"worker: unknown message {kind!r}")

    def _run(self, key: TaskInstanceKey, fileloc: str, log_path: str, channel_fd: int) -> None:
        if self.child is not None:  # the executor never does this; fail loudly
            raise RuntimeError(f"worker {os.getpid()} got a try while another one runs")
        task, error = self.cache.task(fileloc, key)
        timeout = getattr(task, "execution_timeout", None)
        worker_pid = os.getpid()
        sys.stdout.flush()  # nothing of the worker's may end up in the try's log
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the try's process
            try:
                self.conn.close()
                self.fd_socket.close()
                run_child(
                    key=key,
                    task=task,
                    load_error=error,
                    log_path=log_path,
                    channel=Connection(channel_fd),
                    hostname=self.hostname,
                    parent_pid=worker_pid,
                )
            finally:
                os._exit(70)
        os.close(channel_fd)
        now = time.monotonic()
        hard = None
        if isinstance(timeout, timedelta):
            hard = now + timeout.total_seconds() + self.options.timeout_grace
        self.child = _Child(
            pid=pid,
            pidfd=_pidfd(pid),
            log_path=log_path,
            hard_deadline=hard,
            next_heartbeat=now + self.options.heartbeat_interval,
        )
        if self.child.pidfd is not None:
            self.selector.register(self.child.pidfd, selectors.EVENT_READ, "exit")

    # -- the child -------------------------------------------------------------------

    def _timers(self, child: _Child) -> None:
        now = time.monotonic()
        if child.kill_deadline is not None and now >= child.kill_deadline:
            child.kill_deadline = None
            _signal_group(child.pid, signal.SIGKILL)
        if child.hard_deadline is not None and now >= child.hard_deadline:
            child.hard_deadline = None
            self._kill(
                child,
                f"the task ran more than {self.options.timeout_grace:g} s past its "
                "execution_timeout without stopping",
            )
        if now >= child.next_heartbeat:
            child.next_heartbeat = now + self.options.heartbeat_interval
            self.conn.send((HEARTBEAT,))

    def _kill(self, child: _Child, reason: str) -> None:
        if child.kill_reason is not None:
            return
        child.kill_reason = reason
        append_log_line(
            child.log_path, f"Stopping the task process group: {reason}", level="WARNING"
        )
        _signal_group(child.pid, signal.SIGTERM)
        child.kill_deadline = time.monotonic() + self.options.kill_grace

    def _child_exited(self, child: _Child) -> None:
        # The zombie still holds its pid, so the group id cannot have been reused.
        if self.subreaper:
            kill_leftovers(child.pid, keep=child.pid)
        else:
            _signal_group(child.pid, signal.SIGKILL)
        code = _reap(child.pid)
        self._forget(child)
        self.conn.send((EXITED, code, child.kill_reason))

    def _forget(self, child: _Child) -> None:
        if child.pidfd is not None:
            self.selector.unregister(child.pidfd)
            os.close(child.pidfd)
        self.child = None

    def _stop_child(self, reason: str) -> None:
        """Stop the running try for good (the worker is exiting)."""
        child = self.child
        if child is None:
            return
        with contextlib.suppress(Exception):
            append_log_line(child.log_path, f"Stopping the task process group: {reason}")
        _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.options.kill_grace
        while time.monotonic() < deadline and not _exited(child.pid):
            time.sleep(0.01)
        _signal_group(child.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child.pid, 0)
        self._forget(child)


def worker_main(conn: Connection, options: WorkerOptions) -> None:
    """The worker process's entry point (a ``multiprocessing.Process`` target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def on_sigterm(signum: int, frame: Any) -> None:
        # A SIGTERM sent to the whole process group (a service manager stopping the
        # scheduler) is for the scheduler, which stops its workers itself; only the one
        # that says our parent is gone (PDEATHSIG) stops us here.
        if os.getppid() == parent:
            return
        raise _Stop()

    signal.signal(signal.SIGTERM, on_sigterm)
    _die_with_parent()
    _prepare(options)
    _Worker(conn, options).serve()


def _prepare(options: WorkerOptions) -> None:
    """Take the executor's environment, import path and folder, and warm up imports."""
    if options.environ:
        os.environ.clear()
        os.environ.update(options.environ)
    if options.sys_path:
        sys.path[:] = list(options.sys_path)
    if options.cwd:
        with contextlib.suppress(OSError):
            os.chdir(options.cwd)
    from downwind.config import reset_config_cache
    from downwind.sdk.discovery import ensure_on_sys_path

    reset_config_cache()
    ensure_on_sys_path(*(Path(p) for p in options.import_folders))
    prepare_worker_output()
    _warm_up()
    gc.collect()
    gc.freeze()


def _warm_up() -> None:
    """Import what a try imports lazily, so no child pays for it."""
    import jinja2
    import jinja2.ext
    import jinja2.nativetypes  # noqa: F401

    import downwind.operators.bash
    import downwind.operators.empty
    import downwind.operators.python
    import downwind.runner.context
    import downwind.sdk.discovery  # noqa: F401


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when its parent (the executor's process, or the
    forkserver that dies with it) is gone, even if the pipe's end lingers somewhere."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _signal_group(pgid: int, signum: int) -> None:
    """Signal a try's process and everything it started (its whole session)."""
    signal_session(pgid, signum)
    # Not a group leader yet (killed before its setsid): signal the process itself.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pgid, signum)


def _exited(pid: int, *, reap: bool = False) -> bool:
    """Whether ``pid`` (our child) has exited; without reaping it unless ``reap``."""
    flags = os.WEXITED | os.WNOHANG
    if not reap:
        flags |= os.WNOWAIT
    try:
        result = os.waitid(os.P_PID, pid, flags)
    except ChildProcessError:
        return True
    return result is not None


def _reap(pid: int) -> int:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return -signal.SIGKILL
    return os.waitstatus_to_exitcode(status)
