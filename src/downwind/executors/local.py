"""The local executor: warm worker processes on this machine, one child process per try.

Process model::

    scheduler process (this executor: one selector over every pipe below)
      ├── worker 1  (started once; downwind, the runner and parsed DAG files in memory)
      │     └── task process (os.fork per try: own session and process group, log file)
      └── worker 2 ...

The workers are started from a ``forkserver`` (default) or ``spawn`` multiprocessing
context, never by forking the scheduler (which holds database connections and
threads). Channels:

- executor ↔ worker: one duplex pipe per worker, for control: ``run`` (with a file
  descriptor attached), ``kill``, ``stop``; ``ready``, ``heartbeat``, ``exited``. See
  :mod:`downwind.runner.worker`.
- executor ↔ task process: a socketpair made per try. The executor keeps one end and
  hands the other to the worker with ``run``; the forked child talks on it directly
  (the runtime-client requests of :mod:`downwind.runtime.pipe`). One hop each way, and
  the worker stays idle while its child runs (a process that writes to its memory
  while a forked child lives pays for copying each page it touches).

Everything runs on the scheduler's thread: :meth:`LocalExecutor.sync` waits on the
pipes (and on the workers' process sentinels, so that a worker's death is seen at
once), calls the :class:`~downwind.executors.base.RuntimeHandler` for each request in
the order the try sent them, answers the task, and returns the lifecycle events.
Because a try's end is seen by two channels (its ``finish`` on its own socket, its
exit on the worker's pipe), the executor reads everything left on the try's socket
before it decides, on ``exited``, whether the try finished or crashed.
"""

from __future__ import annotations

import contextlib
import heapq
import importlib.machinery
import itertools
import logging
import multiprocessing
import os
import select
import selectors
import signal
import socket
import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from downwind.executors.base import (
    BaseExecutor,
    ExecutorError,
    ExecutorEvent,
    RuntimeHandler,
    TaskWorkload,
)
from downwind.runner import worker as wire
from downwind.runner.log_paths import append_log_line
from downwind.runner.process_tree import signal_session
from downwind.runner.worker import WorkerOptions, describe_exit, worker_main
from downwind.runtime.client import StartInfo, TaskInstanceKey
from downwind.runtime.pipe import CALLS, TELLS
from downwind.states import TaskInstanceState

__all__ = ["LocalExecutor"]

log = logging.getLogger("downwind.executor")

_START_METHODS = ("forkserver", "spawn")
#: A worker that dies this many times in a row before it says "ready" means workers
#: cannot start at all (a broken install); the executor stops trying and raises.
_MAX_EARLY_DEATHS = 3
#: At most this many messages are handled per sync, so events reach the scheduler
#: even under a flood of messages.
_MAX_MESSAGES_PER_SYNC = 5000
#: At least this many tries may wait queued for a worker (see ``queue_ahead``).
_MIN_QUEUE_AHEAD = 16


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class _WorkerSlot:
    """The executor's view of one worker process and of the try it runs."""

    process: Any  # multiprocessing.process.BaseProcess
    conn: Connection
    fd_socket: socket.socket  # ``conn``'s socket, to attach file descriptors
    ready: bool = False
    dead: bool = False
    stopping: bool = False
    # the try (all None/False when idle)
    workload: TaskWorkload | None = None
    channel: Connection | None = None
    child_pid: int | None = None
    started: bool = False
    finished: bool = False
    start_error: str | None = None
    #: when its last try ended (``time.monotonic``), to retire workers idle too long
    idle_since: float = field(default_factory=time.monotonic)

    @property
    def busy(self) -> bool:
        return self.workload is not None


@dataclass(order=True)
class _Pending:
    sort_key: tuple[int, int]
    workload: TaskWorkload = field(compare=False)


class LocalExecutor(BaseExecutor):
    """Runs task tries in ``parallelism`` warm worker processes on this machine.

    Options (constructor arguments; the scheduler fills them from the configuration):

    - ``parallelism``: tries running at once (one worker process each); as many
      workers as CPUs start warm, more start when that many tries run at once and stop
      again after ``idle_worker_timeout`` idle seconds.
    - ``dags_folder`` / ``plugins_folder``: put on the workers' ``sys.path`` (with the
      ``plugins/`` folder beside the dags folder) so DAG files can import helpers.
    - ``heartbeat_interval``: seconds between heartbeats of a running try.
    - ``kill_grace``: seconds between SIGTERM and SIGKILL when a try is stopped.
    - ``timeout_grace``: seconds a try may overrun its ``execution_timeout`` before its
      worker kills it (the task's own timeout normally stops it first).
    - ``dag_load_timeout``: seconds a worker waits for a DAG file to import.
    - ``start_method``: ``forkserver`` (default: workers forked from a small server
      that has imported downwind, fast and memory-sharing) or ``spawn``.
    - ``environ``: the workers' environment (default: this process's, when ``start``
      is called).
    """

    def __init__(
        self,
        parallelism: int = 2,
        *,
        dags_folder: str | os.PathLike[str] | None = None,
        plugins_folder: str | os.PathLike[str] | None = None,
        heartbeat_interval: float = 5.0,
        kill_grace: float = 5.0,
        timeout_grace: float = 10.0,
        dag_load_timeout: float = 30.0,
        start_method: str = "forkserver",
        environ: Mapping[str, str] | None = None,
        idle_worker_timeout: float = 30.0,
    ) -> None:
        if parallelism < 1:
            raise ExecutorError(f"parallelism must be at least 1, got {parallelism}")
        if start_method not in _START_METHODS:
            raise ExecutorError(
                f"start_method must be one of {', '.join(_START_METHODS)}, got {start_method!r}"
            )
        for name, value in (
            ("heartbeat_interval", heartbeat_interval),
            ("kill_grace", kill_grace),
            ("timeout_grace", timeout_grace),
            ("dag_load_timeout", dag_load_timeout),
        ):
            if value <= 0:
                raise ExecutorError(f"{name} must be positive, got {value}")
        self.parallelism = parallelism
        #: workers started up front; more start on demand, up to ``parallelism``, and stop
        #: again after ``idle_worker_timeout`` idle seconds
        self.warm_workers = min(parallelism, max(2, os.cpu_count() or 2))
        #: how many tries may wait here for a free worker
        self.queue_ahead = max(parallelism, _MIN_QUEUE_AHEAD)
        self.idle_worker_timeout = idle_worker_timeout
        self.dags_folder = None if dags_folder is None else Path(dags_folder)
        self.plugins_folder = None if plugins_folder is None else Path(plugins_folder)
        self.heartbeat_interval = heartbeat_interval
        self.kill_grace = kill_grace
        self.timeout_grace = timeout_grace
        self.dag_load_timeout = dag_load_timeout
        self.start_method = start_method
        self.environ = None if environ is None else dict(environ)
        self._handler: RuntimeHandler | None = None
        self._options: WorkerOptions | None = None
        self._context: Any = None
        self._selector: selectors.BaseSelector | None = None
        self._workers: list[_WorkerSlot] = []
        self._graveyard: list[_WorkerSlot] = []  # dead workers, closed at the next sync
        self._pending: list[_Pending] = []
        self._order = itertools.count()
        self._running: set[TaskInstanceKey] = set()
        self._events: list[ExecutorEvent] = []
        self._early_deaths = 0
        self._last_death = ""
        self._ending = False
        self._wake_r, self._wake_w = -1, -1

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, handler: RuntimeHandler) -> None:
        if self._handler is not None:
            raise ExecutorError("the executor is already started")
        self._handler = handler
        self._ending = False
        self._early_deaths = 0
        self._options = WorkerOptions(
            environ=dict(os.environ) if self.environ is None else self.environ,
            sys_path=tuple(sys.path),
            cwd=os.getcwd(),
            import_folders=tuple(str(p) for p in self._import_folders()),
            heartbeat_interval=self.heartbeat_interval,
            kill_grace=self.kill_grace,
            timeout_grace=self.timeout_grace,
            dag_load_timeout=self.dag_load_timeout,
        )
        self._context = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            # Workers fork from a server that has imported the runner: a new worker
            # costs a fork, and the workers share the pages of what the server imported.
            self._context.set_forkserver_preload(
                ["downwind.executors.forkserver_setup", "downwind.runner.worker"]
            )
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, (None, "wake"))
        for _ in range(self.warm_workers):
            self._workers.append(self._start_worker())

    def _import_folders(self) -> list[Path]:
        if self.dags_folder is None:
            return [self.plugins_folder] if self.plugins_folder is not None else []
        from downwind.sdk.discovery import import_path_folders

        return import_path_folders(self.dags_folder, self.plugins_folder)

    def _start_worker(self) -> _WorkerSlot:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            args=(theirs, self._options),
            name="downwind-worker",
            daemon=True,
        )
        with _main_module_hidden():
            process.start()
        theirs.close()
        slot = _WorkerSlot(
            process=process, conn=ours, fd_socket=socket.socket(fileno=os.dup(ours.fileno()))
        )
        assert self._selector is not None
        self._selector.register(ours, selectors.EVENT_READ, (slot, "conn"))
        self._selector.register(process.sentinel, selectors.EVENT_READ, (slot, "sentinel"))
        return slot

    @property
    def worker_pids(self) -> list[int]:
        """The process ids of the live workers (for monitoring)."""
        return [w.process.pid for w in self._workers if not w.dead]

    # -- the scheduler's calls -------------------------------------------------------

    def queue_workload(self, workload: TaskWorkload) -> None:
        if self._handler is None:
            raise ExecutorError("start the executor before queueing work")
        if self._ending:
            raise ExecutorError("the executor is ending: it takes no new work")
        if workload.key in self._running:
            raise ExecutorError(f"{_describe(workload.key)} is already queued or running")
        self._running.add(workload.key)
        heapq.heappush(self._pending, _Pending((-workload.priority, next(self._order)), workload))
        self._dispatch()

    @property
    def open_slots(self) -> int:
        # More tries may wait queued here than run, so a worker that frees up starts the
        # next one at once, without a scheduler pass, and one pass queues many.
        return max(self.parallelism + self.queue_ahead - len(self._running), 0)

    @property
    def wants_work(self) -> bool:
        return len(self._pending) < self.parallelism and self.open_slots > 0

    @property
    def running(self) -> set[TaskInstanceKey]:
        return set(self._running)

    def kill(self, key: TaskInstanceKey, reason: str) -> None:
        for index, pending in enumerate(self._pending):
            if pending.workload.key == key:
                self._pending.pop(index)
                heapq.heapify(self._pending)
                self._crashed(pending.workload, f"killed before it started: {reason}")
                return
        for slot in self._workers:
            if slot.workload is not None and slot.workload.key == key and not slot.finished:
                self._send(slot, (wire.KILL, reason))
                return

    def wakeup(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    def sync(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        if self._handler is None:
            raise ExecutorError("start the executor before calling sync")
        self._bury()
        self._retire_idle_workers()
        self._ensure_workers()
        self._dispatch()
        handled = 0
        ready = self._select(0 if self._events else max(timeout, 0))
        while ready and handled < _MAX_MESSAGES_PER_SYNC:
            for slot, what in ready:
                handled += self._handle_ready(slot, what)
            self._dispatch()
            ready = self._select(0)
        events, self._events = self._events, []
        return events

    def end(self, timeout: float | None = None) -> None:
        if self._handler is None:
            return
        self._ending = True
        deadline = None if timeout is None else time.monotonic() + timeout
        self._drain_until(lambda: not self._running and not self._busy(), deadline)
        if self._running or self._busy():
            for key in list(self._running):
                self.kill(key, "the executor is ending")
            self._drain_until(lambda: not self._busy(), time.monotonic() + self.kill_grace + 2)
        for slot in self._workers:
            self._send(slot, (wire.STOP,))
        for slot in self._workers:
            slot.process.join(self.kill_grace + 1)
        self.terminate()

    def terminate(self) -> None:
        for slot in self._workers:
            if slot.busy and slot.child_pid is not None:
                _kill_group(slot.child_pid)
            if slot.process.is_alive():
                slot.process.kill()
        for slot in list(self._workers):
            slot.process.join(5)
            self._close(slot)
        self._workers = []
        self._bury()
        self._pending = []
        self._running.clear()
        self._events = []
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        self._handler = None

    # -- waiting -----------------------------------------------------------------------

    def _select(self, timeout: float) -> list[tuple[_WorkerSlot | None, str]]:
        """What is ready: ``(slot, "conn" | "sentinel" | "child")`` or ``(None, "wake")``."""
        assert self._selector is not None
        return [key.data for key, _ in self._selector.select(timeout)]

    def _handle_ready(self, slot: _WorkerSlot | None, what: str) -> int:
        if slot is None:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_r, 512):
                    pass
            return 0
        if slot.dead:  # died earlier in this round
            return 0
        if what == "child":
            return self._drain_child(slot)
        handled = self._drain_worker(slot)
        if what == "sentinel" and not slot.dead:
            self._worker_died(slot)
        return handled

    def _drain_until(self, done: Callable[[], bool], deadline: float | None) -> None:
        while not done():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            self.sync(0.1 if left is None else min(left, 0.1))

    def _busy(self) -> bool:
        return any(slot.busy for slot in self._workers)

    # -- handing work out --------------------------------------------------------------

    def _dispatch(self) -> None:
        while self._pending:
            slot = next((w for w in self._workers if not (w.busy or w.dead or w.stopping)), None)
            if slot is None and len(self._workers) < self.parallelism:
                slot = self._start_worker()  # more work than warm workers: grow
                self._workers.append(slot)
            if slot is None:
                return
            workload = heapq.heappop(self._pending).workload
            if not self._hand_over(slot, workload):
                # Never delivered (the worker is dying): it waits for another worker.
                heapq.heappush(
                    self._pending, _Pending((-workload.priority, next(self._order)), workload)
                )

    def _retire_idle_workers(self) -> None:
        """Stop workers beyond the warm ones that have been idle for
        ``idle_worker_timeout`` seconds, so a burst of work does not keep ``parallelism``
        processes alive for good."""
        if self._pending:
            return
        extra = len([w for w in self._workers if not (w.dead or w.stopping)]) - self.warm_workers
        now = time.monotonic()
        for slot in self._workers:
            if extra <= 0:
                return
            if slot.busy or slot.dead or slot.stopping:
                continue
            if now - slot.idle_since >= self.idle_worker_timeout:
                slot.stopping = True
                self._send(slot, (wire.STOP,))
                extra -= 1

    def _hand_over(self, slot: _WorkerSlot, workload: TaskWorkload) -> bool:
        ours, theirs = socket.socketpair()
        channel = Connection(ours.detach())
        try:
            slot.conn.send((wire.RUN, workload.key, workload.dag_fileloc, workload.log_path))
            socket.send_fds(slot.fd_socket, [b"F"], [theirs.fileno()])
        except OSError:
            channel.close()
            slot.stopping = True  # its sentinel will say it died
            if slot.process.is_alive():
                slot.process.kill()
            return False
        finally:
            theirs.close()
        slot.workload = workload
        slot.channel = channel
        slot.child_pid = None
        slot.started = slot.finished = False
        slot.start_error = None
        slot.idle_since = time.monotonic()
        assert self._selector is not None
        self._selector.register(channel, selectors.EVENT_READ, (slot, "child"))
        return True

    def _send(self, slot: _WorkerSlot, message: tuple[Any, ...]) -> None:
        if slot.dead:
            return
        try:
            slot.conn.send(message)
        except OSError:
            if slot.process.is_alive():
                slot.process.kill()

    # -- what the worker says ----------------------------------------------------------

    def _drain_worker(self, slot: _WorkerSlot) -> int:
        handled = 0
        while not slot.dead:
            try:
                if not _readable(slot.conn):
                    break
                message = slot.conn.recv()
            except (EOFError, OSError):
                # The worker is gone (or closed its pipe, which it never does).
                if slot.process.is_alive():
                    slot.process.kill()
                    slot.process.join(1)
                self._worker_died(slot)
                break
            handled += 1
            self._on_worker_message(slot, message)
        return handled

    def _on_worker_message(self, slot: _WorkerSlot, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == wire.READY:
            slot.ready = True
            self._early_deaths = 0
        elif kind == wire.HEARTBEAT:
            if slot.workload is not None and slot.started and not slot.finished:
                self._tell(slot.workload.key, "heartbeat", ())
        elif kind == wire.EXITED:
            _, code, kill_reason = message
            self._try_exited(slot, code, kill_reason)
        else:
            log.warning("worker %s sent an unknown message %r", slot.process.pid, kind)

    def _try_exited(self, slot: _WorkerSlot, code: int, kill_reason: str | None) -> None:
        workload = slot.workload
        if workload is None:
            return
        self._drain_child(slot, to_the_end=True)
        if not slot.finished:
            how = describe_exit(code, oom_hint=kill_reason is None)
            if slot.start_error is not None:
                reason = f"the try could not start: {slot.start_error}"
            elif kill_reason is not None:
                reason = f"the task process was stopped ({kill_reason}): {how}"
            elif code >= 0:
                reason = f"the task process exited ({how}) before its try reported an outcome"
            else:
                reason = f"the task process was {how} before its try reported an outcome"
            append_log_line(workload.log_path, reason)
            self._crashed(workload, reason)
        self._release(slot)

    def _worker_died(self, slot: _WorkerSlot) -> None:
        slot.dead = True
        slot.process.join(1)
        code = slot.process.exitcode
        how = describe_exit(code) if code is not None else "unknown status"
        workload = slot.workload
        if workload is not None:
            self._drain_child(slot, to_the_end=True)
            if slot.child_pid is not None:
                _kill_group(slot.child_pid)  # it dies with its worker (Linux); be sure
            if not slot.finished:
                reason = f"its worker process ({slot.process.pid}) died: {how}"
                append_log_line(workload.log_path, f"The task process was lost: {reason}")
                self._crashed(workload, reason)
            self._release(slot)
        elif not (slot.stopping or self._ending):
            log.warning("worker process %s died while idle (%s)", slot.process.pid, how)
        if not slot.ready and not slot.stopping:
            self._early_deaths += 1
        self._close(slot)
        self._workers.remove(slot)
        self._graveyard.append(slot)
        self._last_death = how
        self._ensure_workers()

    def _ensure_workers(self) -> None:
        """Start workers until there are ``warm_workers`` of them (replacing dead ones)."""
        if self._handler is None or (self._ending and not self._pending):
            return
        while len(self._workers) < self.warm_workers:
            if self._early_deaths >= _MAX_EARLY_DEATHS:
                raise ExecutorError(
                    f"worker processes die as they start ({self._last_death}, "
                    f"{self._early_deaths} times in a row): see the scheduler's stderr for "
                    "their error"
                )
            try:
                self._workers.append(self._start_worker())
            except OSError as err:  # out of processes or memory: try again next sync
                log.error("cannot start a worker process: %s", err)
                return

    def _release(self, slot: _WorkerSlot) -> None:
        """The worker is free again."""
        self._close_channel(slot)
        slot.workload = None
        slot.child_pid = None
        slot.started = slot.finished = False
        slot.start_error = None

    def _close_channel(self, slot: _WorkerSlot) -> None:
        if slot.channel is None:
            return
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(slot.channel)
        slot.channel.close()
        slot.channel = None

    def _close(self, slot: _WorkerSlot) -> None:
        self._close_channel(slot)
        if self._selector is not None:
            for item in (slot.conn, slot.process.sentinel):
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.unregister(item)
        slot.conn.close()
        slot.fd_socket.close()

    def _bury(self) -> None:
        for slot in self._graveyard:
            with contextlib.suppress(ValueError):
                slot.process.close()
        self._graveyard.clear()

    # -- what the try says -------------------------------------------------------------

    def _drain_child(self, slot: _WorkerSlot, *, to_the_end: bool = False) -> int:
        """Handle the messages waiting on the try's socket. When its socket is closed
        (the try's process is gone), stop listening to it; ``exited`` follows."""
        handled = 0
        channel = slot.channel
        while channel is not None and slot.channel is channel:
            try:
                if not _readable(channel):
                    break
                message = channel.recv()
            except (EOFError, OSError):
                self._close_channel(slot)
                break
            handled += 1
            self._on_try_message(slot, message)
            if handled >= _MAX_MESSAGES_PER_SYNC and not to_the_end:
                break
        return handled

    def _on_try_message(self, slot: _WorkerSlot, message: tuple[Any, ...]) -> None:
        workload = slot.workload
        assert workload is not None
        op, seq, args = message
        if op in CALLS:
            try:
                value = self._call(slot, workload, op, args)
            except Exception as err:
                if op == "start":
                    slot.start_error = _error_text(err)
                self._reply(slot, seq, False, _error_text(err))
            else:
                self._reply(slot, seq, True, value)
        elif op == "finish":
            if not slot.started:
                log.warning("finish before start from %s: ignored", _describe(workload.key))
                return
            outcome = args[0]
            slot.finished = True
            self._running.discard(workload.key)
            self._tell(workload.key, "finish", args)
            self._events.append(
                ExecutorEvent(
                    workload.key,
                    "finished",
                    outcome.state,
                    _now(),
                    workload.try_number,
                    outcome.error,
                )
            )
        elif op in TELLS:
            if slot.started and not slot.finished:
                self._tell(workload.key, op, args)
        else:
            log.warning("unknown request %r from %s", op, _describe(workload.key))

    def _reply(self, slot: _WorkerSlot, seq: int, ok: bool, value: Any) -> None:
        if slot.channel is None:
            return
        try:
            slot.channel.send((seq, ok, value))
        except OSError:  # the try's process is gone; "exited" follows
            self._close_channel(slot)

    def _call(self, slot: _WorkerSlot, workload: TaskWorkload, op: str, args: tuple) -> Any:
        handler = self._handler
        assert handler is not None
        key = workload.key
        if op == "start":
            if slot.started:
                raise ExecutorError("start was already called for this try")
            pid, hostname = args
            slot.child_pid = pid
            info = handler.start(key, workload.try_number, pid, hostname)
            if not isinstance(info, StartInfo):
                raise ExecutorError(f"handler.start returned {type(info).__name__}, not StartInfo")
            slot.started = True
            self._events.append(
                ExecutorEvent(
                    key, "started", TaskInstanceState.RUNNING, _now(), workload.try_number
                )
            )
            return info
        if not slot.started:
            raise ExecutorError(f"{op} before start")
        if op == "pull_xcom":
            dag_id, run_id, task_id, xcom_key, map_index = args
            return handler.pull_xcom(
                key,
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                xcom_key=xcom_key,
                map_index=map_index,
            )
        if op == "get_variable":
            return handler.get_variable(key, args[0])
        if op == "get_connection":
            return handler.get_connection(key, args[0])
        raise ExecutorError(f"unknown request {op!r}")

    def _tell(self, key: TaskInstanceKey, op: str, args: tuple) -> None:
        handler = self._handler
        assert handler is not None
        try:
            if op == "heartbeat":
                handler.heartbeat(key)
            elif op == "push_xcom":
                handler.push_xcom(key, args[0], args[1])
            elif op == "set_variable":
                handler.set_variable(key, args[0], args[1])
            elif op == "set_rendered_fields":
                handler.set_rendered_fields(key, args[0])
            elif op == "skip_tasks":
                handler.skip_tasks(key, args[0])
            elif op == "finish":
                handler.finish(key, args[0])
        except Exception:
            log.exception("the runtime handler failed on %s from %s", op, _describe(key))

    def _crashed(self, workload: TaskWorkload, reason: str) -> None:
        handler = self._handler
        assert handler is not None
        self._running.discard(workload.key)
        try:
            handler.crashed(workload.key, reason)
        except Exception:
            log.exception("the runtime handler failed on crashed for %s", _describe(workload.key))
        self._events.append(
            ExecutorEvent(workload.key, "crashed", None, _now(), workload.try_number, reason)
        )


def _readable(conn: Connection) -> bool:
    """Whether ``conn`` has data (or EOF) now; cheaper than ``conn.poll()``, which
    builds a selector on every call."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _kill_group(pgid: int) -> None:
    """SIGKILL a try's process and everything it started (its whole session)."""
    signal_session(pgid, signal.SIGKILL)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a worker without the parent's ``__main__``.

    multiprocessing re-runs the parent's main script in every process it starts (which
    would import the CLI, or whatever script embeds the executor, into each worker,
    and requires an ``if __name__ == "__main__"`` guard in it). Workers need none of
    it: their entry point is importable by name. While the worker is being started,
    ``__main__`` is a stand-in that multiprocessing leaves alone.
    """
    main = sys.modules.get("__main__")
    stand_in = types.ModuleType("__main__")
    stand_in.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    sys.modules["__main__"] = stand_in
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _describe(key: TaskInstanceKey) -> str:
    text = f"{key.dag_id}.{key.task_id} (run {key.run_id}"
    return text + (f", map index {key.map_index})" if key.map_index >= 0 else ")")


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
