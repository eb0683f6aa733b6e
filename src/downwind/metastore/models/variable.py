"""Variables (``variable``): key/value settings that DAGs read through ``Variable.get``."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import ID_LEN, Base

__all__ = ["VariableModel"]


class VariableModel(Base):
    """A variable's row; ``val`` is Fernet-encrypted text when ``is_encrypted``."""

    __tablename__ = "variable"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    val: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    is_encrypted: Mapped[bool] = mapped_column(Boolean, default=False)

    def __repr__(self) -> str:  # never the value: it may be secret
        return f"<VariableModel {self.key!r}>"
