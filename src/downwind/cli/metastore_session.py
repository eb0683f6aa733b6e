"""One metastore session per CLI command, with clear errors when the metastore is not ready.

A command runs in one transaction, committed when it returns normally and rolled back when
it raises. A missing or unmigrated metastore, or one that cannot be reached, is one
``error: ...`` line saying what to do (``run `downwind db migrate```), not a traceback.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from downwind.config import get_config
from downwind.exceptions import DownwindException
from downwind.metastore.engine import (
    BEGIN_IMMEDIATE,
    display_url,
    get_engine,
    normalize_url,
    session_factory,
    sqlite_path,
)
from downwind.metastore.revision import is_at_head

__all__ = [
    "MetastoreNotReady",
    "MetastoreUnreachable",
    "check_metastore_ready",
    "cli_user",
    "metastore_session",
    "now",
    "ready_session_factory",
]

RUN_MIGRATE = "run `downwind db migrate`"


class MetastoreNotReady(DownwindException):
    """The metastore is missing, unmigrated, at another schema, or unreachable."""


class MetastoreUnreachable(MetastoreNotReady):
    """The metastore's server does not answer (or its file cannot be opened)."""


def now() -> datetime:
    """The current time (the CLI's one reading of the wall clock)."""
    return datetime.now(UTC)


def cli_user() -> str:
    """The OS user running the command: the ``owner`` of its audit-log rows."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (e.g. in a container)
        return str(os.getuid())


@contextmanager
def metastore_session(*, write: bool = False) -> Iterator[Session]:
    """A session in a transaction, committed at the end of the ``with`` block.

    With ``write``, the transaction takes SQLite's write lock at once (waiting for another
    writer up to the busy timeout instead of failing later). Raises
    :class:`MetastoreNotReady` when the metastore cannot serve the command.
    """
    conf = get_config()
    url = normalize_url(conf.database.url, conf.home)
    where = display_url(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():  # don't create an empty file by connecting
        raise MetastoreNotReady(f"there is no metastore at {where} yet: {RUN_MIGRATE}")
    engine = get_engine()
    try:
        with session_factory(engine)() as session, session.begin():
            if write:
                session.connection(execution_options={BEGIN_IMMEDIATE: True})
            yield session
    except DBAPIError as err:
        raise _explain(engine, where, err) from None


def check_metastore_ready() -> None:
    """Raise :class:`MetastoreNotReady` unless the metastore exists, is reachable and is
    at this downwind's schema (for long-running commands, before they start)."""
    conf = get_config()
    url = normalize_url(conf.database.url, conf.home)
    where = display_url(url)
    path = sqlite_path(url)
    if path is not None and not path.exists():  # don't create an empty file by looking
        raise MetastoreNotReady(f"there is no metastore at {where} yet: {RUN_MIGRATE}")
    engine = get_engine()
    problem = _schema_problem(engine, where)
    if problem is not None:
        raise problem


def ready_session_factory() -> sessionmaker[Session] | None:
    """The metastore's sessions when it is migrated and reachable, else ``None``: for
    commands that use the metastore when there is one (``dags test``, ``dags list``)."""
    try:
        check_metastore_ready()
    except MetastoreNotReady:
        return None
    return session_factory(get_engine())


def _first_line(err: DBAPIError) -> str:
    text = str(err.orig if err.orig is not None else err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _explain(engine: Engine, where: str, err: DBAPIError) -> DownwindException:
    """What went wrong, as a user can act on it: the schema's state if that is the
    cause (a missing table means "not migrated"), else the database's own message."""
    return _schema_problem(engine, where) or DownwindException(
        f"the metastore at {where} failed: {_first_line(err)}"
    )


def _schema_problem(engine: Engine, where: str) -> MetastoreNotReady | None:
    """Why the metastore cannot serve downwind (unreachable, not migrated, another
    schema), or ``None``."""
    if is_at_head(engine):  # the usual case, answered without Alembic
        return None
    from downwind.metastore.migrate import schema_status  # imports Alembic: only when needed

    try:
        status = schema_status(engine)
    except DBAPIError as reach_err:
        return MetastoreUnreachable(
            f"cannot reach the metastore at {where}: {_first_line(reach_err)}"
        )
    if status.unknown:
        return MetastoreNotReady(
            f"the metastore at {where} is at revision {', '.join(status.unknown)}, which this "
            f"downwind does not know (its latest is {status.head}): it was migrated by a newer "
            "downwind; upgrade downwind"
        )
    if not status.is_migrated:
        return MetastoreNotReady(f"the metastore at {where} is not migrated: {RUN_MIGRATE}")
    if not status.is_current:
        return MetastoreNotReady(
            f"the metastore at {where} is at revision {', '.join(status.current)} but this "
            f"downwind needs {status.head}: {RUN_MIGRATE}"
        )
    return None
