"""Connections (``connection``): how to reach an external system (host, login, password...)."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import ID_LEN, Base

__all__ = ["ConnectionModel"]


class ConnectionModel(Base):
    """A connection's row; ``password`` and ``extra`` are Fernet-encrypted text when
    ``is_encrypted`` / ``is_extra_encrypted``."""

    __tablename__ = "connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conn_id: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    conn_type: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(500))
    schema: Mapped[str | None] = mapped_column(String(500))
    login: Mapped[str | None] = mapped_column(Text)
    password: Mapped[str | None] = mapped_column(Text)
    port: Mapped[int | None] = mapped_column(Integer)
    #: JSON text of extra options
    extra: Mapped[str | None] = mapped_column(Text)
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_extra_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)

    def __repr__(self) -> str:  # never the password
        return f"<ConnectionModel {self.conn_id!r} {self.conn_type!r}>"
