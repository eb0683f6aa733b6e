"""The runtime-client interface: everything a running task says or asks goes through it.

A task try never opens a metastore session. It reports its state, XComs and rendered
fields and asks for variables, connections and other tasks' XComs through one
:class:`RuntimeClient` bound to its task-instance key. Implementations: in memory
(``dags test``), a pipe to the local executor's parent, and HTTP for remote workers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from downwind.states import TaskInstanceState

if TYPE_CHECKING:
    from downwind.runtime.connection import Connection


@dataclass(frozen=True, slots=True)
class TaskInstanceKey:
    """Identifies one task instance; ``map_index`` is -1 for unmapped tasks."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1


@dataclass(frozen=True, slots=True)
class DagRunInfo:
    """What a task needs to know about the DAG run it belongs to."""

    dag_id: str
    run_id: str
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    run_type: str = "manual"
    conf: dict[str, Any] = field(default_factory=dict)
    start_date: datetime | None = None
    prev_data_interval_start_success: datetime | None = None
    prev_data_interval_end_success: datetime | None = None


@dataclass(frozen=True, slots=True)
class StartInfo:
    """The answer to :meth:`RuntimeClient.start`: the run and this try's numbers."""

    run: DagRunInfo
    try_number: int
    max_tries: int


@dataclass(slots=True)
class TaskOutcome:
    """How a task try ended, as reported by the runner."""

    state: TaskInstanceState
    error: str | None = None
    #: when ``state`` is up_for_reschedule: when to poke again
    reschedule_at: datetime | None = None


class RuntimeClient(Protocol):
    """The narrow channel between one task try and whatever supervises it."""

    key: TaskInstanceKey

    def start(self) -> StartInfo:
        """Tell the supervisor the try is running; get the run it belongs to."""
        ...

    def heartbeat(self) -> None: ...

    def push_xcom(self, key: str, value: Any) -> None:
        """Store ``value`` (through the one serializer) under ``key`` for this task."""
        ...

    def pull_xcom(
        self, *, task_id: str, key: str, dag_id: str, run_id: str, map_index: int | None
    ) -> Any:
        """Another task's XCom value, or ``None`` if it has none."""
        ...

    def get_variable(self, key: str) -> str | None: ...

    def set_variable(self, key: str, value: str) -> None: ...

    def get_connection(self, conn_id: str) -> Connection | None: ...

    def set_rendered_fields(self, fields: dict[str, str]) -> None: ...

    def skip_tasks(self, task_ids: Collection[str]) -> None:
        """Mark these tasks of the same run skipped (branching, short-circuit)."""
        ...

    def finish(self, outcome: TaskOutcome) -> None:
        """Report how the try ended. The last call a runner makes."""
        ...
