"""The audit log (``log``): one row per user action (trigger, clear, mark, pause, edit...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import ID_LEN, Base
from downwind.metastore.types import SerdeJson, UtcDateTime, utcnow

__all__ = ["AuditLog"]


class AuditLog(Base):
    """One audited event. It has no foreign keys on purpose: the record of an action
    outlives the DAG, run or task it was about."""

    __tablename__ = "log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dttm: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: what happened, e.g. ``trigger``, ``clear``, ``variable.edit``
    event: Mapped[str] = mapped_column(String(60))
    #: the user who did it
    owner: Mapped[str | None] = mapped_column(String(500))
    dag_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    task_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    map_index: Mapped[int | None] = mapped_column(Integer)
    try_number: Mapped[int | None] = mapped_column(Integer)
    logical_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: details of the action (arguments, old and new values...)
    extra: Mapped[Any] = mapped_column(SerdeJson, nullable=True)

    __table_args__ = (
        Index("ix_log_dttm", "dttm"),
        Index("ix_log_dag_id_dttm", "dag_id", "dttm"),
    )

    def __repr__(self) -> str:
        return f"<AuditLog {self.id} {self.event!r} by {self.owner!r}>"
