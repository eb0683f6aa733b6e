"""A serialized version of a DAG (``dag_version``).

The DAG processor stores a new version whenever the serialized structure of a DAG changes
(its hash differs from the latest version's). Each DAG run and task instance records the
version it ran, so editing a DAG file never changes a run already under way.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import ID_LEN, Base
from downwind.metastore.types import UtcDateTime, utcnow

__all__ = ["DagVersion"]


class DagVersion(Base):
    __tablename__ = "dag_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("dag.dag_id", ondelete="CASCADE")
    )
    #: 1, 2, 3... per DAG
    version_number: Mapped[int] = mapped_column(Integer)
    #: hex digest of ``data``
    dag_hash: Mapped[str] = mapped_column(String(64))
    #: the serialized DAG: JSON text of its structure and task attributes
    data: Mapped[str] = mapped_column(Text)
    source_code: Mapped[str | None] = mapped_column(Text)
    fileloc: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("dag_id", "version_number"),)

    def __repr__(self) -> str:
        return f"<DagVersion {self.dag_id!r} v{self.version_number}>"
