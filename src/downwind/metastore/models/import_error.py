"""Import errors (``import_error``): DAG files that failed to load, with their tracebacks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import Base
from downwind.metastore.types import UtcDateTime, utcnow

__all__ = ["ParseImportError"]


class ParseImportError(Base):
    """A DAG file's import error; removed when the file loads again (Airflow's name, which
    keeps it apart from Python's ``ImportError``)."""

    __tablename__ = "import_error"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(2000))
    stacktrace: Mapped[str | None] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_import_error_filename", "filename"),)

    def __repr__(self) -> str:
        return f"<ParseImportError {self.filename!r}>"
