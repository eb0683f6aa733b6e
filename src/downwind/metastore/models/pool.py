"""Pools (``slot_pool``): named numbers of slots that limit how many tasks run at once."""

from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import ID_LEN, Base

__all__ = ["DEFAULT_POOL_NAME", "DEFAULT_POOL_SLOTS", "Pool"]

#: the pool of every task that names none; created by the first migration
DEFAULT_POOL_NAME = "default_pool"
DEFAULT_POOL_SLOTS = 128


class Pool(Base):
    __tablename__ = "slot_pool"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    slots: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<Pool {self.pool!r} slots={self.slots}>"
