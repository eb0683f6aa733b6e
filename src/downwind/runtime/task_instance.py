"""``ti`` in a task's context: its identity and XCom access, through the runtime client."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from downwind.runtime.client import RuntimeClient, StartInfo, TaskInstanceKey

if TYPE_CHECKING:
    from downwind.sdk.baseoperator import BaseOperator

XCOM_RETURN_KEY = "return_value"


class RuntimeTaskInstance:
    """The running task instance as task code sees it (Airflow's ``ti``)."""

    def __init__(self, task: BaseOperator, client: RuntimeClient, start: StartInfo) -> None:
        self.task = task
        self._client = client
        self.dag_id = client.key.dag_id
        self.run_id = client.key.run_id
        self.task_id = client.key.task_id
        self.map_index = client.key.map_index
        self.try_number = start.try_number
        self.max_tries = start.max_tries
        self.logical_date = start.run.logical_date

    @property
    def key(self) -> TaskInstanceKey:
        return self._client.key

    def xcom_push(self, key: str, value: Any) -> None:
        """Store ``value`` for downstream tasks under ``key``."""
        self._client.push_xcom(key, value)

    def skip_tasks(self, task_ids: Iterable[str]) -> None:
        """Mark these tasks of this run ``skipped`` (what branching operators do)."""
        self._client.skip_tasks(list(task_ids))

    def xcom_pull(
        self,
        task_ids: str | Iterable[str] | None = None,
        key: str = XCOM_RETURN_KEY,
        dag_id: str | None = None,
        map_indexes: int | None = None,
        include_prior_dates: bool = False,
        run_id: str | None = None,
        *,
        default: Any = None,
    ) -> Any:
        """The XCom ``key`` of ``task_ids`` in this run (a list when ``task_ids`` is a list).

        ``task_ids`` defaults to this task. A missing XCom is ``default`` (``None``).
        """
        del include_prior_dates  # accepted for Airflow compatibility
        ids = self.task_id if task_ids is None else task_ids
        pull = self._client.pull_xcom
        common = {
            "key": key,
            "dag_id": dag_id or self.dag_id,
            "run_id": run_id or self.run_id,
            "map_index": map_indexes,
        }

        def one(task_id: str) -> Any:
            value = pull(task_id=task_id, **common)
            return default if value is None else value

        if isinstance(ids, str):
            return one(ids)
        return [one(tid) for tid in ids]

    def __repr__(self) -> str:
        return (
            f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} "
            f"map_index={self.map_index} try={self.try_number}>"
        )
