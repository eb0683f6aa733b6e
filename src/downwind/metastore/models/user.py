"""Users (``users``): who may sign in to the API and UI, and with which role."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import ID_LEN, Base
from downwind.metastore.types import UtcDateTime

__all__ = ["ROLE_LEN", "UserModel"]

#: longest role name stored
ROLE_LEN = 20


class UserModel(Base):
    """A user's row; ``password_hash`` is a self-describing scrypt hash, never the password."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    #: a :class:`~downwind.security.roles.Role` name: ``Admin``, ``Op``, ``User`` or ``Viewer``
    role: Mapped[str] = mapped_column(String(ROLE_LEN))
    #: an inactive user cannot sign in
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login: Mapped[datetime | None] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    def __repr__(self) -> str:  # never the hash
        return f"<UserModel {self.username!r} {self.role}>"
