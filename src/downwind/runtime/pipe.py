"""The runtime client of a task try running in its own process: it talks over a pipe.

The task process (forked by a local-executor worker) sends each call of the
:class:`~downwind.runtime.client.RuntimeClient` interface as a small pickled tuple on a
:class:`multiprocessing.connection.Connection`: a socketpair made for this try, whose
other end the executor reads in the scheduler process. The wire format, defined here
because both the task side and the supervisor side use it:

- request: ``(op, seq, args)``. ``op`` is one of :data:`CALLS` (the task waits for the
  answer) or :data:`TELLS` (fire and forget: the task goes on at once; the channel keeps
  the order, so a later call sees the effect of an earlier tell). ``seq`` numbers the
  calls (``None`` for tells); ``args`` is a tuple of plain values.
- reply to a call: ``(seq, ok, value)``; when ``ok`` is false, ``value`` is the error
  message, raised here as :class:`RuntimeClientError`.

XCom values are serialized here, in the task process, with :mod:`downwind.runtime.serde`:
a value that cannot be stored fails the task with its type named, and the supervisor
only ever sees text. Variables and connections set in the task process's environment
(``DOWNWIND_VAR_<KEY>``, ``DOWNWIND_CONN_<ID>``) win over the supervisor's answer, as in
the in-memory client.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
from collections.abc import Collection
from typing import Any, Protocol

from downwind.exceptions import DownwindException
from downwind.runtime import serde
from downwind.runtime.client import StartInfo, TaskInstanceKey, TaskOutcome
from downwind.runtime.connection import Connection, connection_from_env
from downwind.runtime.variables import variable_from_env

__all__ = ["CALLS", "TELLS", "Channel", "PipeRuntimeClient", "RuntimeClientError"]

CALLS = frozenset({"start", "pull_xcom", "get_variable", "get_connection"})
"""Requests that wait for an answer."""
TELLS = frozenset(
    {"heartbeat", "push_xcom", "set_variable", "set_rendered_fields", "skip_tasks", "finish"}
)
"""Requests without an answer."""

# A signal handler that raises (execution_timeout's SIGALRM, the executor's SIGTERM)
# must not cut a message in half: the rest of the stream would be garbage.
_DEFERRED_SIGNALS = {signal.SIGALRM, signal.SIGTERM, signal.SIGINT}


class Channel(Protocol):
    """What the client needs of its connection (``multiprocessing.connection.Connection``)."""

    def send(self, obj: Any) -> None: ...

    def recv(self) -> Any: ...

    def poll(self, timeout: float | None = 0.0) -> bool: ...


class RuntimeClientError(DownwindException):
    """The supervisor could not answer a request (its message says why)."""


class PipeRuntimeClient:
    """The runtime client of a task try in a child process, over ``channel``.

    ``pid`` and ``hostname`` (by default this process's) are reported by :meth:`start`.
    After :meth:`finish` the client sends nothing more.
    """

    def __init__(
        self,
        key: TaskInstanceKey,
        channel: Channel,
        *,
        pid: int | None = None,
        hostname: str | None = None,
    ) -> None:
        self.key = key
        self._channel = channel
        self._pid = os.getpid() if pid is None else pid
        self._hostname = socket.gethostname() if hostname is None else hostname
        self._seq = 0
        self._lock = threading.Lock()  # task code may use the client from several threads
        self.start_info: StartInfo | None = None
        #: set just before the outcome is sent (a signal handler must not fail the try
        #: any more from then on), and the outcome once it is sent
        self.finishing = False
        self.outcome: TaskOutcome | None = None

    # -- the RuntimeClient interface ---------------------------------------------------

    def start(self) -> StartInfo:
        info = self._call("start", self._pid, self._hostname)
        if not isinstance(info, StartInfo):
            raise RuntimeClientError(f"start: expected StartInfo, got {type(info).__name__}")
        self.start_info = info
        return info

    def heartbeat(self) -> None:
        self._tell("heartbeat")

    def push_xcom(self, key: str, value: Any) -> None:
        self._tell("push_xcom", key, serde.dumps(value))

    def pull_xcom(
        self, *, task_id: str, key: str, dag_id: str, run_id: str, map_index: int | None
    ) -> Any:
        text = self._call("pull_xcom", dag_id, run_id, task_id, key, map_index)
        return None if text is None else serde.loads(text)

    def get_variable(self, key: str) -> str | None:
        value = variable_from_env(key)
        return value if value is not None else self._call("get_variable", key)

    def set_variable(self, key: str, value: str) -> None:
        self._tell("set_variable", key, value)

    def get_connection(self, conn_id: str) -> Connection | None:
        conn = connection_from_env(conn_id)
        if conn is not None:
            return conn
        data = self._call("get_connection", conn_id)
        return None if data is None else Connection.from_dict(conn_id, data)

    def set_rendered_fields(self, fields: dict[str, str]) -> None:
        self._tell("set_rendered_fields", dict(fields))

    def skip_tasks(self, task_ids: Collection[str]) -> None:
        self._tell("skip_tasks", list(task_ids))

    def finish(self, outcome: TaskOutcome) -> None:
        self.finishing = True
        self._tell("finish", outcome)
        self.outcome = outcome

    # -- the wire ----------------------------------------------------------------------

    def _call(self, op: str, *args: Any) -> Any:
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._send((op, seq, args))
            while True:
                # Wait with signals free (a timeout may interrupt a slow answer), then
                # take the whole message at once.
                try:
                    self._wait_readable()
                    with _signals_deferred():
                        reply_seq, ok, value = self._channel.recv()
                except (EOFError, OSError) as err:
                    raise RuntimeClientError(f"{op}: the supervisor went away ({err!r})") from None
                if reply_seq != seq:  # the answer to a call a signal interrupted earlier
                    continue
                if not ok:
                    raise RuntimeClientError(f"{op} failed: {value}")
                return value

    def _wait_readable(self) -> None:
        fileno = getattr(self._channel, "fileno", None)
        if fileno is None:
            self._channel.poll(None)
            return
        poller = select.poll()
        poller.register(fileno(), select.POLLIN)
        poller.poll()

    def _tell(self, op: str, *args: Any) -> None:
        with self._lock:
            self._send((op, None, args))

    def _send(self, message: tuple[Any, ...]) -> None:
        if self.outcome is not None:
            raise RuntimeClientError(f"{message[0]}: the try has already reported its outcome")
        try:
            with _signals_deferred():
                self._channel.send(message)
        except OSError as err:
            raise RuntimeClientError(f"{message[0]}: the supervisor went away ({err!r})") from None


class _signals_deferred:
    """Block the signals whose handlers raise while a message is written or read."""

    def __enter__(self) -> None:
        self._previous = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED_SIGNALS)

    def __exit__(self, *exc: object) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self._previous)
