"""A DAG as the metastore knows it (``dag``) and its tags (``dag_tag``).

One row per DAG id ever seen by the DAG processor. The structure itself lives in
:class:`~downwind.metastore.models.dag_version.DagVersion`; this row holds what the
scheduler and the UI need without loading it: paused/active, where it comes from, limits,
and when its next run is due.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from downwind.metastore.models.base import ID_LEN, Base
from downwind.metastore.types import UtcDateTime

__all__ = ["DagModel", "DagTag"]

TAG_LEN = 100


class DagModel(Base):
    """A DAG's row; named ``DagModel`` so that it never reads as the authoring ``DAG``."""

    __tablename__ = "dag"

    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=True)
    #: false once its file is gone (or no longer defines it); its history is kept
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    fileloc: Mapped[str | None] = mapped_column(String(2000))
    owners: Mapped[str | None] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(Text)
    timetable_summary: Mapped[str | None] = mapped_column(Text)
    timetable_description: Mapped[str | None] = mapped_column(Text)
    max_active_runs: Mapped[int | None] = mapped_column(Integer)
    max_active_tasks: Mapped[int | None] = mapped_column(Integer)
    has_import_errors: Mapped[bool] = mapped_column(Boolean, default=False)
    #: logical date of the next scheduled run (None: no further run)
    next_dagrun: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_data_interval_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_data_interval_end: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the scheduler creates the next run once now >= this
    next_dagrun_create_after: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_parsed_time: Mapped[datetime | None] = mapped_column(UtcDateTime)

    tags: Mapped[list[DagTag]] = relationship(
        back_populates="dag",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="DagTag.name",
    )

    __table_args__ = (
        # "Which DAGs have a run due?" -- the scheduler's first question every loop.
        Index("ix_dag_next_dagrun_create_after", "next_dagrun_create_after"),
    )

    def __repr__(self) -> str:
        return f"<DagModel {self.dag_id!r}>"


class DagTag(Base):
    """One tag of a DAG."""

    __tablename__ = "dag_tag"

    dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(TAG_LEN), primary_key=True)

    dag: Mapped[DagModel] = relationship(back_populates="tags")

    def __repr__(self) -> str:
        return f"<DagTag {self.dag_id!r} {self.name!r}>"
