"""A runtime handler that keeps everything in memory: for tests, benchmarks and debugging.

It answers the executor's tries from an :class:`~downwind.runtime.memory.InMemoryStore`
(XComs, variables, connections) and the DAG runs it was given, and records every call,
so a test can drive a real executor without a metastore.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from downwind.runtime.client import DagRunInfo, StartInfo, TaskInstanceKey, TaskOutcome
from downwind.runtime.memory import InMemoryStore

__all__ = ["InMemoryRuntimeHandler", "StartRecord"]


@dataclass(frozen=True, slots=True)
class StartRecord:
    """What a try's ``start`` said about its process."""

    try_number: int
    pid: int
    hostname: str
    at: float


class InMemoryRuntimeHandler:
    """A :class:`~downwind.executors.base.RuntimeHandler` over in-memory dicts.

    ``runs`` are the DAG runs tries may belong to (a try of another run is refused at
    ``start``); ``max_tries`` gives each key its retries (default 0). Everything is
    recorded: ``calls`` (name, key, arguments) in order, ``starts``, ``outcomes``,
    ``crashes``, ``heartbeats``, ``rendered_fields``, ``skipped``; ``times`` holds
    ``time.perf_counter()`` at each ``start`` and ``finish`` (for benchmarks).
    """

    def __init__(
        self,
        store: InMemoryStore | None = None,
        *,
        runs: Iterable[DagRunInfo] = (),
        max_tries: int | Mapping[TaskInstanceKey, int] = 0,
    ) -> None:
        self.store = store if store is not None else InMemoryStore(environ={})
        self.runs: dict[tuple[str, str], DagRunInfo] = {(r.dag_id, r.run_id): r for r in runs}
        self.max_tries = max_tries
        self.calls: list[tuple[str, TaskInstanceKey, tuple[Any, ...]]] = []
        self.starts: dict[TaskInstanceKey, StartRecord] = {}
        self.outcomes: dict[TaskInstanceKey, TaskOutcome] = {}
        self.crashes: dict[TaskInstanceKey, str] = {}
        self.heartbeats: dict[TaskInstanceKey, int] = {}
        self.rendered_fields: dict[TaskInstanceKey, dict[str, str]] = {}
        self.skipped: dict[TaskInstanceKey, list[str]] = {}
        self.times: dict[tuple[str, TaskInstanceKey], float] = {}

    def add_run(self, info: DagRunInfo) -> None:
        self.runs[(info.dag_id, info.run_id)] = info

    def _record(self, name: str, key: TaskInstanceKey, *args: Any) -> None:
        self.calls.append((name, key, args))

    # -- the RuntimeHandler interface ---------------------------------------------------

    def start(self, key: TaskInstanceKey, try_number: int, pid: int, hostname: str) -> StartInfo:
        self._record("start", key, try_number, pid, hostname)
        run = self.runs.get((key.dag_id, key.run_id))
        if run is None:
            raise LookupError(f"no DAG run {key.run_id!r} of DAG {key.dag_id!r}")
        self.store.clear_xcoms(key)
        self.starts[key] = StartRecord(try_number, pid, hostname, time.time())
        self.outcomes.pop(key, None)
        self.crashes.pop(key, None)
        self.times[("start", key)] = time.perf_counter()
        max_tries = (
            self.max_tries if isinstance(self.max_tries, int) else self.max_tries.get(key, 0)
        )
        return StartInfo(run=run, try_number=try_number, max_tries=max_tries)

    def heartbeat(self, key: TaskInstanceKey) -> None:
        self._record("heartbeat", key)
        self.heartbeats[key] = self.heartbeats.get(key, 0) + 1

    def push_xcom(self, key: TaskInstanceKey, xcom_key: str, value_text: str) -> None:
        self._record("push_xcom", key, xcom_key, value_text)
        self.store.xcoms[(key.dag_id, key.run_id, key.task_id, key.map_index, xcom_key)] = (
            value_text
        )

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
        self._record("pull_xcom", key, dag_id, run_id, task_id, xcom_key, map_index)
        index = -1 if map_index is None else map_index
        return self.store.xcoms.get((dag_id, run_id, task_id, index, xcom_key))

    def get_variable(self, key: TaskInstanceKey, name: str) -> str | None:
        self._record("get_variable", key, name)
        return self.store.variables.get(name)

    def set_variable(self, key: TaskInstanceKey, name: str, value: str) -> None:
        self._record("set_variable", key, name, value)
        self.store.variables[name] = value

    def get_connection(self, key: TaskInstanceKey, conn_id: str) -> dict[str, Any] | None:
        self._record("get_connection", key, conn_id)
        conn = self.store.connections.get(conn_id)
        return None if conn is None else conn.to_dict()

    def set_rendered_fields(self, key: TaskInstanceKey, fields: dict[str, str]) -> None:
        self._record("set_rendered_fields", key, fields)
        self.rendered_fields[key] = dict(fields)

    def skip_tasks(self, key: TaskInstanceKey, task_ids: Collection[str]) -> None:
        self._record("skip_tasks", key, list(task_ids))
        self.skipped.setdefault(key, []).extend(task_ids)

    def finish(self, key: TaskInstanceKey, outcome: TaskOutcome) -> None:
        self.times[("finish", key)] = time.perf_counter()
        self._record("finish", key, outcome)
        self.outcomes[key] = outcome

    def flush(self) -> None:
        """Nothing to do: every call is applied at once."""

    def crashed(self, key: TaskInstanceKey, reason: str) -> None:
        self._record("crashed", key, reason)
        self.crashes[key] = reason
