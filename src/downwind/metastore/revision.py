"""The schema revision this downwind needs, known without loading Alembic.

Loading Alembic's migration scripts costs a few hundred milliseconds; a command that only
needs to know "is the metastore at my schema?" reads the ``alembic_version`` row and
compares it with :data:`HEAD_REVISION` instead. Each new migration updates it (a test
checks that it is Alembic's head).
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

__all__ = ["HEAD_REVISION", "is_at_head"]

#: the revision of the newest migration in ``migrations/versions``
HEAD_REVISION = "0002"


def is_at_head(engine: Engine) -> bool:
    """Whether the metastore is at :data:`HEAD_REVISION`: one query. ``False`` also when
    it cannot say (no ``alembic_version`` table, unreachable): the caller then asks
    Alembic, which tells precisely what is wrong."""
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except DBAPIError:
        return False
    return [row[0] for row in rows] == [HEAD_REVISION]
