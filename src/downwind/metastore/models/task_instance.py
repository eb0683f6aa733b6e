"""Task instances (``task_instance``) and the earlier tries of each (``task_instance_history``).

A task instance is keyed by ``(dag_id, run_id, task_id, map_index)``, with ``map_index``
-1 for an unmapped task, and also carries a UUID ``id`` (the one the API exposes). Its
row always describes the current (latest) try; when a try is retried or the instance is
cleared, the finished try is first copied to ``task_instance_history``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.ids import new_uuid7
from downwind.metastore.models.base import ID_LEN, STATE_LEN, Base
from downwind.metastore.models.pool import DEFAULT_POOL_NAME
from downwind.metastore.types import SerdeJson, UtcDateTime, utcnow
from downwind.runtime.client import TaskInstanceKey

__all__ = ["TaskInstance", "TaskInstanceHistory"]

UUID_LEN = 36


class _TaskInstanceFields:
    """The columns a task instance and each of its recorded tries have in common."""

    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    #: a :class:`~downwind.states.TaskInstanceState` value; NULL is "no state yet"
    state: Mapped[str | None] = mapped_column(String(STATE_LEN))
    #: the try this row describes (0: never tried yet)
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    #: the last try number allowed before failing for good
    max_tries: Mapped[int] = mapped_column(Integer, default=0)
    hostname: Mapped[str | None] = mapped_column(String(1000))
    pid: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[str] = mapped_column(String(ID_LEN), default=DEFAULT_POOL_NAME)
    pool_slots: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str | None] = mapped_column(String(ID_LEN))
    priority_weight: Mapped[int] = mapped_column(Integer, default=1)
    #: class name of the task's operator, e.g. ``BashOperator``
    operator: Mapped[str | None] = mapped_column(String(1000))
    queued_dttm: Mapped[datetime | None] = mapped_column(UtcDateTime)
    start_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: seconds between start and end of the try
    duration: Mapped[float | None] = mapped_column(Float)
    #: when an up_for_retry / up_for_reschedule instance may be scheduled again
    next_retry_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the job (scheduler) that queued it, to adopt or reset it when that job dies
    queued_by_job_id: Mapped[int | None] = mapped_column(Integer)
    #: the executor's own id of the try (e.g. a Celery task id)
    external_executor_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    #: the task's templated fields as rendered for this try
    rendered_fields: Mapped[Any] = mapped_column(SerdeJson, nullable=True)
    dag_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dag_version.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class TaskInstance(_TaskInstanceFields, Base):
    __tablename__ = "task_instance"

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True, default=new_uuid7)

    __table_args__ = (
        # The task-instance key; its index also serves lookups by (dag_id, run_id).
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index"),
        ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            ondelete="CASCADE",
        ),
        Index("ix_task_instance_state", "state"),
        # Counting a DAG's running instances against max_active_tasks.
        Index("ix_task_instance_dag_id_state", "dag_id", "state"),
    )

    @property
    def key(self) -> TaskInstanceKey:
        """``(dag_id, run_id, task_id, map_index)``, as the runtime client names it."""
        return TaskInstanceKey(self.dag_id, self.run_id, self.task_id, self.map_index)

    def __repr__(self) -> str:
        index = "" if self.map_index == -1 else f"[{self.map_index}]"
        return (
            f"<TaskInstance {self.dag_id!r} {self.run_id!r} {self.task_id!r}{index} "
            f"try {self.try_number} {self.state}>"
        )


class TaskInstanceHistory(_TaskInstanceFields, Base):
    """One earlier try of a task instance, as it stood when the try ended."""

    __tablename__ = "task_instance_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: ``task_instance.id`` of the instance at the time of this try
    task_instance_id: Mapped[str] = mapped_column(String(UUID_LEN))

    __table_args__ = (
        UniqueConstraint(
            "dag_id",
            "run_id",
            "task_id",
            "map_index",
            "try_number",
            name="uq_task_instance_history_key_try_number",
        ),
        ForeignKeyConstraint(
            ["dag_id", "run_id", "task_id", "map_index"],
            [
                "task_instance.dag_id",
                "task_instance.run_id",
                "task_instance.task_id",
                "task_instance.map_index",
            ],
            ondelete="CASCADE",
        ),
        Index("ix_task_instance_history_task_instance_id", "task_instance_id"),
    )

    def __repr__(self) -> str:
        return (
            f"<TaskInstanceHistory {self.dag_id!r} {self.run_id!r} {self.task_id!r} "
            f"try {self.try_number} {self.state}>"
        )
