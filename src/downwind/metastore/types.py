"""Column types shared by the models: aware UTC datetimes and values in downwind's serializer.

Both store the same thing on SQLite and PostgreSQL and hand back the same Python values,
so code above the metastore never looks at which database it runs on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Text
from sqlalchemy.types import TypeDecorator

from downwind.runtime import serde

__all__ = ["SerdeJson", "UtcDateTime", "utcnow"]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (for bookkeeping columns such as updated_at)."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC and returned as an aware UTC datetime.

    PostgreSQL stores ``timestamp with time zone``; SQLite stores naive UTC text (its
    fixed-width format sorts and compares correctly as text). A naive datetime is refused:
    the metastore cannot know which zone it meant.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"cannot store the naive datetime {value.isoformat()}: the metastore holds "
                "timezone-aware datetimes only; give it a time zone (e.g. tzinfo=UTC)"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class SerdeJson(TypeDecorator[Any]):
    """A value in downwind's serializer (:mod:`downwind.runtime.serde`): JSON text plus
    datetimes, dates, timedeltas, tuples and sets, identical on both databases.

    ``None`` is stored as SQL NULL. Assign a new value to change it: in-place changes to a
    loaded dict or list are not detected.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else serde.dumps(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else serde.loads(value)
