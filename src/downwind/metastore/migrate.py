"""Bring a metastore to the current schema, check it, reset it.

These run downwind's Alembic migrations (:mod:`downwind.metastore.migrations`) with a
programmatic configuration, so no ``alembic.ini`` is needed. Every change happens in one
transaction, which also serializes concurrent runs: ``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL. A second ``migrate`` started at the same time waits, then
finds the schema current and does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, MetaData, text
from sqlalchemy.engine import Connection

from downwind.exceptions import MigrationError
from downwind.metastore.engine import BEGIN_IMMEDIATE
from downwind.metastore.models import Base

__all__ = [
    "AppliedRevision",
    "MigrationError",
    "SchemaStatus",
    "alembic_config",
    "downgrade",
    "head_revision",
    "reset_database",
    "schema_status",
    "upgrade",
]

SCRIPT_LOCATION = "downwind.metastore:migrations"
VERSION_TABLE = "alembic_version"
# Key of the PostgreSQL advisory lock held while migrating (any constant will do; this one
# spells "downwind" in ASCII).
_PG_LOCK_KEY = 0x646F776E77696E64 & 0x7FFFFFFFFFFFFFFF


@dataclass(frozen=True)
class AppliedRevision:
    """One migration that :func:`upgrade` ran."""

    revision: str
    description: str


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands against this downwind's migrations."""

    #: the revisions recorded in the database; empty when it was never migrated
    current: tuple[str, ...]
    #: the latest revision this downwind ships
    head: str
    #: recorded revisions this downwind does not know (a newer downwind migrated it)
    unknown: tuple[str, ...]

    @property
    def is_migrated(self) -> bool:
        return bool(self.current)

    @property
    def is_current(self) -> bool:
        return self.current == (self.head,)


def alembic_config() -> Config:
    """Alembic's configuration for downwind's migrations, built in code."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The latest migration this downwind ships, e.g. ``0001``."""
    head = _script().get_current_head()
    assert head is not None, "downwind ships at least one migration"
    return head


def _current(connection: Connection) -> tuple[str, ...]:
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def schema_status(engine: Engine) -> SchemaStatus:
    """The migration state of ``engine``'s database (connects to it; changes nothing).

    Raises :class:`sqlalchemy.exc.OperationalError` if the database cannot be reached.
    """
    with engine.connect() as connection:
        current = _current(connection)
        connection.rollback()
    script = _script()
    unknown = []
    for revision in current:
        try:
            known = script.get_revision(revision) is not None
        except CommandError:
            known = False
        if not known:
            unknown.append(revision)
    return SchemaStatus(current=current, head=head_revision(), unknown=tuple(unknown))


@contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock; committed on success.

    On SQLite, foreign keys are switched off meanwhile (this must happen outside a
    transaction): batch mode recreates a table by copying it and dropping the original, and
    with foreign keys on, that drop would cascade-delete the rows of every table referring
    to it. Their integrity is checked before commit instead.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        if sqlite:
            raw.execute("PRAGMA foreign_keys = OFF")
        try:
            connection.execution_options(**{BEGIN_IMMEDIATE: True})
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                    )
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise MigrationError(
                            f"migration rolled back: it broke foreign keys: {broken[:5]}"
                        )
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys = ON")


def _upgrade_on(connection: Connection, revision: str) -> list[AppliedRevision]:
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    applied: list[AppliedRevision] = []

    def record(*, step: Any, **_: Any) -> None:
        if step.is_upgrade:
            for rev_id in step.up_revision_ids:
                doc = script.get_revision(rev_id).doc or ""
                applied.append(AppliedRevision(rev_id, doc.strip().splitlines()[0] if doc else ""))

    config.attributes["connection"] = connection
    config.attributes["on_version_apply"] = [record]
    command.upgrade(config, revision)
    return applied


def upgrade(engine: Engine, revision: str = "head") -> list[AppliedRevision]:
    """Run the migrations ``engine``'s database lacks, up to ``revision``; returns them in
    order (empty when it was already current). All or nothing: one transaction."""
    with _migration_transaction(engine) as connection:
        return _upgrade_on(connection, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` (``base``: none left). For development and tests;
    ``downwind db`` offers no downgrade, because it loses data."""
    with _migration_transaction(engine) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _drop_tables(connection: Connection) -> None:
    reflected = MetaData()
    reflected.reflect(connection)
    ours = set(Base.metadata.tables) | {VERSION_TABLE}
    tables = [table for table in reflected.sorted_tables if table.name in ours]
    reflected.drop_all(connection, tables=tables)


def reset_database(engine: Engine) -> list[AppliedRevision]:
    """Drop downwind's tables (every row in them is lost) and migrate again, in one
    transaction. Other tables in the same database are left alone."""
    with _migration_transaction(engine) as connection:
        _drop_tables(connection)
        return _upgrade_on(connection, "head")
