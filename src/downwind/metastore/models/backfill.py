"""Backfills (``backfill``): a requested range of logical dates to run for one DAG.

The scheduler creates the backfill's runs (``dag_run.backfill_id``) a few at a time, so a
backfill can be followed, paused and cancelled without starving scheduled runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import ID_LEN, STATE_LEN, Base
from downwind.metastore.types import SerdeJson, UtcDateTime, utcnow

__all__ = ["REPROCESS_BEHAVIORS", "Backfill"]

#: which existing runs a backfill runs again: none, failed ones, or every completed one
REPROCESS_BEHAVIORS = ("none", "failed", "completed")


class Backfill(Base):
    __tablename__ = "backfill"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"), index=True
    )
    from_date: Mapped[datetime] = mapped_column(UtcDateTime)
    to_date: Mapped[datetime] = mapped_column(UtcDateTime)
    dag_run_conf: Mapped[Any] = mapped_column(SerdeJson, nullable=True)
    #: one of :data:`REPROCESS_BEHAVIORS`
    reprocess_behavior: Mapped[str] = mapped_column(String(STATE_LEN), default="none")
    max_active_runs: Mapped[int] = mapped_column(Integer, default=10)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    #: queued, running, success, failed, cancelled
    state: Mapped[str] = mapped_column(String(STATE_LEN), default="queued")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Backfill {self.id} {self.dag_id!r} {self.state}>"
