"""The executor interface: what the scheduler hands over, and what it gets back.

The scheduler queues :class:`TaskWorkload` s; the executor runs each try somewhere and
relays everything the try says through a :class:`RuntimeHandler` (the supervisor side
of the runtime client, implemented by the scheduler on the metastore), called on the
scheduler's thread inside :meth:`BaseExecutor.sync`, which also returns the tries'
lifecycle as :class:`ExecutorEvent` s so the scheduler can react at once.

The contract, for every workload queued:

- the handler sees ``start`` (once the try's process asks to run; if ``start`` raises,
  the try does not run), then any number of heartbeats, XCom, variable and rendered-field
  calls, then exactly one of ``finish`` (the try reported how it ended) or ``crashed``
  (it ended without saying: its process died, was killed, or never got to start);
- a workload removed by ``kill`` before it was handed to a worker gets ``crashed`` too,
  without ``start``;
- ``sync`` returns one ``started`` event after a successful ``start`` and one
  ``finished`` or ``crashed`` event at the end, in that order for a given key;
- the executor never runs two tries of one key at once: queueing a key that is still
  queued or running raises :class:`ExecutorError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from downwind.exceptions import DownwindException
from downwind.runtime.client import StartInfo, TaskInstanceKey, TaskOutcome
from downwind.states import TaskInstanceState

__all__ = [
    "BaseExecutor",
    "EventKind",
    "ExecutorError",
    "ExecutorEvent",
    "RuntimeHandler",
    "TaskWorkload",
]

EventKind = Literal["started", "finished", "crashed"]


class ExecutorError(DownwindException):
    """The executor was used wrongly (queueing a running key, using it before ``start``)
    or cannot go on (its workers keep dying as they start)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskWorkload:
    """One task try to run: what the scheduler hands to an executor.

    ``dag_fileloc`` is the DAG file the worker imports (the DAG's ``fileloc``);
    ``log_path`` the file that receives the try's output (see
    :func:`downwind.runner.log_paths.task_log_path`). Higher ``priority`` runs first
    when workloads wait for a free worker; ``queue`` is for executors with several
    queues (celery) and ignored by the local ones.
    """

    key: TaskInstanceKey
    ti_id: str
    try_number: int
    dag_fileloc: str
    log_path: str
    queue: str = "default"
    priority: int = 1


@dataclass(frozen=True, slots=True)
class ExecutorEvent:
    """A step in a try's life, as returned by :meth:`BaseExecutor.sync`.

    ``state`` is the try's reported state for ``finished`` (success, failed,
    up_for_retry, skipped, up_for_reschedule), ``running`` for ``started`` and ``None``
    for ``crashed`` (the handler decides between retry and failure). ``reason`` is the
    crash reason, or the error a failed try reported.
    """

    key: TaskInstanceKey
    kind: EventKind
    state: TaskInstanceState | None
    at: datetime
    try_number: int = 0
    reason: str | None = None


class RuntimeHandler(Protocol):
    """The supervisor side of the runtime client: applies what running tries say.

    Called by the executor on the thread that calls :meth:`BaseExecutor.sync`, one
    call at a time, in the order each try sent them. ``key`` names the task instance;
    the executor has already matched the message to its try. An exception raised by a
    method that answers (``start``, ``pull_xcom``, ``get_variable``, ``get_connection``)
    is sent back to the task as a ``RuntimeClientError`` with its message; one raised by
    another method is logged and does not stop the executor.
    """

    def start(self, key: TaskInstanceKey, try_number: int, pid: int, hostname: str) -> StartInfo:
        """The try's process is up and asks to run; raise to refuse (it then exits and
        the handler gets ``crashed``)."""
        ...

    def heartbeat(self, key: TaskInstanceKey) -> None:
        """The try's process is alive (every ``heartbeat_interval`` seconds)."""
        ...

    def push_xcom(self, key: TaskInstanceKey, xcom_key: str, value_text: str) -> None:
        """Store an XCom of this try; ``value_text`` is already serialized with
        :mod:`downwind.runtime.serde`."""
        ...

    def pull_xcom(
        self,
        key: TaskInstanceKey,
        *,
        dag_id: str,
        run_id: str,
        task_id: str,
        xcom_key: str,
        map_index: int | None,
    ) -> str | None:
        """Another task's serialized XCom value, or ``None``. ``map_index`` is as the task
        code gave it (``None``: not said; the in-memory store reads it as -1)."""
        ...

    def get_variable(self, key: TaskInstanceKey, name: str) -> str | None: ...

    def set_variable(self, key: TaskInstanceKey, name: str, value: str) -> None: ...

    def get_connection(self, key: TaskInstanceKey, conn_id: str) -> dict[str, Any] | None:
        """The connection as ``Connection.to_dict()`` gives it, or ``None``."""
        ...

    def set_rendered_fields(self, key: TaskInstanceKey, fields: dict[str, str]) -> None: ...

    def skip_tasks(self, key: TaskInstanceKey, task_ids: Collection[str]) -> None:
        """Mark these tasks of the try's DAG run skipped (branching)."""
        ...

    def finish(self, key: TaskInstanceKey, outcome: TaskOutcome) -> None:
        """The try ended and says how. The last call for this try."""
        ...

    def flush(self) -> None:
        """Apply what the calls so far may have kept for later (a handler may batch the
        calls that need no answer until then). The handler's owner (the scheduler) calls
        it before it reads what the tries changed; executors never need to."""
        ...

    def crashed(self, key: TaskInstanceKey, reason: str) -> None:
        """The try ended without reporting an outcome (its process was killed by a
        signal, e.g. SIGKILL or the OOM killer, exited early, or its worker died);
        ``reason`` names the signal or exit code. The last call for this try."""
        ...


class BaseExecutor(ABC):
    """What every executor offers the scheduler."""

    @abstractmethod
    def start(self, handler: RuntimeHandler) -> None:
        """Start the executor's processes; ``handler`` receives what tries say."""

    @abstractmethod
    def queue_workload(self, workload: TaskWorkload) -> None:
        """Run this try as soon as a slot is free (by ``priority``, then FIFO)."""

    @property
    @abstractmethod
    def open_slots(self) -> int:
        """How many more workloads may be queued before they have to wait."""

    @property
    def wants_work(self) -> bool:
        """Whether a worker may soon sit idle for want of queued work. While it is
        false, the scheduler may gather several tries' ends into one pass."""
        return self.open_slots > 0

    @property
    @abstractmethod
    def running(self) -> set[TaskInstanceKey]:
        """Keys queued or running that have not finished or crashed yet."""

    @abstractmethod
    def sync(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        """Wait at most ``timeout`` seconds for the first message from the tries, then
        handle everything that is ready (calling the handler) and return the events."""

    @abstractmethod
    def kill(self, key: TaskInstanceKey, reason: str) -> None:
        """Stop a queued or running try (its whole process group): SIGTERM, then SIGKILL
        after a grace period. Its end arrives later through ``sync`` as usual."""

    @abstractmethod
    def end(self, timeout: float | None = None) -> None:
        """Graceful stop: wait (at most ``timeout`` seconds) for the queued and running
        tries, handling their messages, then stop the workers; tries still running at
        the deadline are killed."""

    @abstractmethod
    def terminate(self) -> None:
        """Stop at once: kill every running try and worker. The handler is not called
        (the scheduler's restart finds those tries and resets them)."""

    def wakeup(self) -> None:  # noqa: B027  (optional for executors without a wait)
        """Make a ``sync`` that is waiting (in another thread) return now."""
