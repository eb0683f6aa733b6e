"""In-memory runtime clients, for runs inside one process (``dags test``, ``dag.test()``).

XCom values still go through the one serializer, so a value that would fail in a real
deployment fails here too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any

from downwind.runtime import serde
from downwind.runtime.client import StartInfo, TaskInstanceKey, TaskOutcome
from downwind.runtime.connection import Connection, connection_from_env
from downwind.runtime.variables import variable_from_env


class InMemoryStore:
    """XComs, variables and connections shared by the clients of in-process runs."""

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        connections: Mapping[str, Connection] | None = None,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.variables: dict[str, str] = dict(variables or {})
        self.connections: dict[str, Connection] = dict(connections or {})
        self.xcoms: dict[tuple[str, str, str, int, str], str] = {}
        self.rendered_fields: dict[TaskInstanceKey, dict[str, str]] = {}
        self._lock = threading.Lock()

    def push_xcom(self, ti: TaskInstanceKey, key: str, value: Any) -> None:
        text = serde.dumps(value)
        with self._lock:
            self.xcoms[(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, key)] = text

    def pull_xcom(
        self, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int | None
    ) -> Any:
        text = self.xcoms.get(
            (dag_id, run_id, task_id, -1 if map_index is None else map_index, key)
        )
        return None if text is None else serde.loads(text)

    def clear_xcoms(self, ti: TaskInstanceKey) -> None:
        """Forget a task instance's XComs (before it is tried again)."""
        prefix = (ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
        with self._lock:
            for xcom_key in [k for k in self.xcoms if k[:4] == prefix]:
                del self.xcoms[xcom_key]

    def get_variable(self, key: str) -> str | None:
        value = variable_from_env(key, self.environ)
        return value if value is not None else self.variables.get(key)

    def get_connection(self, conn_id: str) -> Connection | None:
        conn = connection_from_env(conn_id, self.environ)
        return conn if conn is not None else self.connections.get(conn_id)


class InMemoryClient:
    """The runtime client of one task try running in this process."""

    def __init__(
        self,
        key: TaskInstanceKey,
        store: InMemoryStore,
        start_info: StartInfo,
        *,
        on_skip: Callable[[Collection[str]], None] | None = None,
    ) -> None:
        self.key = key
        self.store = store
        self._start_info = start_info
        self._on_skip = on_skip
        self.outcome: TaskOutcome | None = None

    def start(self) -> StartInfo:
        self.store.clear_xcoms(self.key)
        return self._start_info

    def heartbeat(self) -> None:
        """Nothing to do: the supervisor is this process."""

    def push_xcom(self, key: str, value: Any) -> None:
        self.store.push_xcom(self.key, key, value)

    def pull_xcom(
        self, *, task_id: str, key: str, dag_id: str, run_id: str, map_index: int | None
    ) -> Any:
        return self.store.pull_xcom(
            dag_id=dag_id, run_id=run_id, task_id=task_id, key=key, map_index=map_index
        )

    def get_variable(self, key: str) -> str | None:
        return self.store.get_variable(key)

    def set_variable(self, key: str, value: str) -> None:
        self.store.variables[key] = value

    def get_connection(self, conn_id: str) -> Connection | None:
        return self.store.get_connection(conn_id)

    def set_rendered_fields(self, fields: dict[str, str]) -> None:
        self.store.rendered_fields[self.key] = fields

    def skip_tasks(self, task_ids: Collection[str]) -> None:
        if self._on_skip is not None:
            self._on_skip(task_ids)

    def finish(self, outcome: TaskOutcome) -> None:
        self.outcome = outcome
