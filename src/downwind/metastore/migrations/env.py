"""Alembic environment: runs the migrations on the connection given by
:mod:`downwind.metastore.migrate`, inside the transaction that module opened."""

from __future__ import annotations

from typing import Any

from alembic import context

from downwind.metastore.models import Base
from downwind.metastore.types import SerdeJson, UtcDateTime

config = context.config
connection = config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise RuntimeError(
        "downwind's migrations run through `downwind db migrate` "
        "(downwind.metastore.migrate), not through the alembic command"
    )


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write downwind's column types into new migrations as the plain types they store, so
    a migration keeps working whatever later happens to those classes."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(obj, SerdeJson):
        return "sa.Text()"
    return False


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: Alembic's batch mode recreates the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=_render_item,
    on_version_apply=config.attributes.get("on_version_apply", ()),
)
with context.begin_transaction():
    context.run_migrations()
