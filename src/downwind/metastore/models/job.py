"""Jobs (``job``): long-running processes (scheduler, DAG processor, worker) and their
heartbeats, so that a dead one is noticed and its work adopted or reset."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import STATE_LEN, Base
from downwind.metastore.types import UtcDateTime

__all__ = ["Job"]


class Job(Base):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: scheduler, dag_processor, worker...
    job_type: Mapped[str] = mapped_column(String(30))
    #: running, success, failed
    state: Mapped[str | None] = mapped_column(String(STATE_LEN))
    hostname: Mapped[str | None] = mapped_column(String(500))
    pid: Mapped[int | None] = mapped_column(Integer)
    start_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    latest_heartbeat: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        # "Which schedulers are alive?": running jobs of a type by their last heartbeat.
        Index("ix_job_job_type_state_latest_heartbeat", "job_type", "state", "latest_heartbeat"),
    )

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.job_type} {self.state}>"
