"""One run of a DAG (``dag_run``): its run id, type, logical date, data interval, conf, state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import ID_LEN, STATE_LEN, Base
from downwind.metastore.types import SerdeJson, UtcDateTime, utcnow
from downwind.states import DagRunState

__all__ = ["RUN_TYPES", "DagRun"]

#: the values of ``dag_run.run_type``
RUN_TYPES = ("scheduled", "manual", "backfill")


class DagRun(Base):
    __tablename__ = "dag_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE")
    )
    #: unique per DAG, e.g. ``scheduled__2026-01-01T00:00:00+00:00``
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    #: one of :data:`RUN_TYPES`
    run_type: Mapped[str] = mapped_column(String(STATE_LEN))
    logical_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    data_interval_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    data_interval_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the run may start from this moment on (end of its data interval for scheduled runs)
    run_after: Mapped[datetime] = mapped_column(UtcDateTime)
    conf: Mapped[Any] = mapped_column(SerdeJson, nullable=True)
    #: a :class:`~downwind.states.DagRunState` value
    state: Mapped[str] = mapped_column(String(STATE_LEN), default=DagRunState.QUEUED.value)
    queued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    start_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    dag_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dag_version.id", ondelete="SET NULL")
    )
    #: who created it: scheduler, cli, api, ui, test, backfill
    triggered_by: Mapped[str | None] = mapped_column(String(STATE_LEN))
    backfill_id: Mapped[int | None] = mapped_column(ForeignKey("backfill.id", ondelete="SET NULL"))
    #: how many times the run was cleared
    clear_number: Mapped[int] = mapped_column(Integer, default=0)
    last_scheduling_decision: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("dag_id", "run_id"),
        Index("ix_dag_run_dag_id_state", "dag_id", "state"),
        Index("ix_dag_run_dag_id_logical_date", "dag_id", "logical_date"),
        # "Which runs are queued or running, oldest first?" across every DAG.
        Index("ix_dag_run_state_run_after", "state", "run_after"),
    )

    def __repr__(self) -> str:
        return f"<DagRun {self.dag_id!r} {self.run_id!r} {self.state}>"
