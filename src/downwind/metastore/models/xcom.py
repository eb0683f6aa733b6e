"""XCom values (``xcom``): what one task instance pushed for others to pull."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from downwind.metastore.models.base import ID_LEN, Base
from downwind.metastore.types import UtcDateTime, utcnow
from downwind.runtime import serde

__all__ = ["RETURN_VALUE_KEY", "XComModel"]

#: the key under which a task's return value is pushed
RETURN_VALUE_KEY = "return_value"
KEY_LEN = 512


class XComModel(Base):
    """One XCom; the key ``(dag_id, run_id, task_id, map_index, key)`` is its primary key.

    ``value`` holds the text written by :func:`downwind.runtime.serde.dumps`, stored as is so
    that a value shipped from a worker as text is never decoded and encoded again on the way
    in. :meth:`get_value` / :meth:`set_value` convert for callers that want the Python value.
    """

    __tablename__ = "xcom"

    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1)
    key: Mapped[str] = mapped_column(String(KEY_LEN), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        ForeignKeyConstraint(
            ["dag_id", "run_id", "task_id", "map_index"],
            [
                "task_instance.dag_id",
                "task_instance.run_id",
                "task_instance.task_id",
                "task_instance.map_index",
            ],
            ondelete="CASCADE",
        ),
    )

    def get_value(self) -> Any:
        """The stored value, deserialized."""
        return None if self.value is None else serde.loads(self.value)

    def set_value(self, value: Any) -> None:
        """Serialize ``value`` into this XCom (raises
        :class:`~downwind.exceptions.SerializationError` for an unsupported type)."""
        self.value = serde.dumps(value)

    def __repr__(self) -> str:
        return f"<XComModel {self.dag_id!r} {self.run_id!r} {self.task_id!r} {self.key!r}>"
