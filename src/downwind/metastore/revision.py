"""The schema revision this downwind needs, known without loading Alembic.

Loading Alembic's migration scripts costs a few hundred milliseconds; a command that only
needs to know "is the metastore at my schema?" reads the ``alembic_version`` row and
compares it with :data:`HEAD_REVISION` instead. Each new migration updates it (a test
checks that it is Alembic's head).
"""

from __future__ import annotations

from sqlalchemy import Connection

__all__ = ["HEAD_REVISION", "is_at_head"]

#: the revision of the newest migration in ``migrations/versions``
HEAD_REVISION = "0002"


def is_at_head(connection: Connection) -> bool:
    """Whether the metastore is at :data:`HEAD_REVISION` (raises the driver's error when
    it has no ``alembic_version`` table or cannot be reached)."""
    rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    return [row[0] for row in rows] == [HEAD_REVISION]
