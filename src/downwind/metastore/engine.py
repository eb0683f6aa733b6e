"""Engines and sessions for the metastore, from ``[database] url``.

- SQLite (the default, ``$DOWNWIND_HOME/downwind.db``): WAL journal mode so readers never
  block the writer, a busy timeout (``[database] sqlite_busy_timeout``) instead of
  failing at once on a lock, foreign keys enforced, ``synchronous=NORMAL`` (durable at
  each WAL checkpoint, safe against corruption), and real transactions: downwind emits
  ``BEGIN`` itself instead of letting :mod:`sqlite3` skip it before SELECTs and
  SAVEPOINTs. The folder of the database file is created if missing.
- PostgreSQL through psycopg 3: ``postgresql://`` and ``postgres://`` URLs are given the
  ``postgresql+psycopg`` driver; connections are checked before use (``pool_pre_ping``).

The caller owns the transaction::

    with session_factory()() as session, session.begin():
        session.add(...)

On SQLite a transaction that will write should take the write lock at its start, so that
it waits for another writer (up to the busy timeout) instead of failing with "database is
locked" when it upgrades its read lock later::

    with session_factory()() as session, session.begin():
        session.connection(execution_options={BEGIN_IMMEDIATE: True})
        ...
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from downwind.config import get_config, mask_secret
from downwind.exceptions import ConfigError

__all__ = [
    "BEGIN_IMMEDIATE",
    "DEFAULT_SQLITE_BUSY_TIMEOUT",
    "create_engine_from_url",
    "display_url",
    "dispose_engines",
    "get_engine",
    "normalize_url",
    "session_factory",
    "sqlite_path",
    "write_transaction",
]

#: Execution option: on SQLite, start the transaction with ``BEGIN IMMEDIATE`` (take the
#: write lock now, waiting up to the busy timeout). Ignored on PostgreSQL.
BEGIN_IMMEDIATE = "downwind_begin_immediate"

DEFAULT_SQLITE_BUSY_TIMEOUT = 30.0
#: seconds to wait for a PostgreSQL server to answer before giving up (unless the URL says)
POSTGRES_CONNECT_TIMEOUT = 10

_POSTGRES_DRIVER = "postgresql+psycopg"
_EXPECTED = "expected sqlite:///PATH or postgresql://user:password@host/database"


def display_url(url: str | URL) -> str:
    """``url`` as text with its password masked, for messages."""
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    return mask_secret(text)


def normalize_url(url: str | URL, home: Path | None = None) -> URL:
    """``url`` checked and completed, as downwind connects to it.

    ``postgres://`` and ``postgresql://`` get the psycopg 3 driver. With ``home``, a
    ``{home}`` in the URL stands for it and a relative SQLite path is taken relative to it
    (as every path option is), not to the working directory, which differs between the
    scheduler, the workers and the CLI. Raises :class:`~downwind.exceptions.ConfigError`
    for anything but SQLite and PostgreSQL through psycopg 3.
    """
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url.strip()
    if home is not None:
        text = text.replace("{home}", str(home))
    try:
        parsed = make_url(text)
    except ArgumentError:
        # Not echoed: text that is no URL cannot be masked, and it may hold a password.
        raise ConfigError(f"[database] url: not a database URL; {_EXPECTED}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if driver not in ("", "psycopg"):
            raise ConfigError(
                f"[database] url: the PostgreSQL driver {driver!r} is not supported; "
                f"downwind uses psycopg 3: write postgresql://... ({display_url(text)})"
            )
        return parsed.set(drivername=_POSTGRES_DRIVER)
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ConfigError(
                f"[database] url: the SQLite driver {driver!r} is not supported; "
                f"write sqlite:///PATH ({display_url(text)})"
            )
        database = parsed.database
        if home is not None and _is_file_database(database) and not Path(database).is_absolute():
            parsed = parsed.set(database=str(home / database))
        return parsed
    raise ConfigError(
        f"[database] url: unsupported database {backend!r} in {display_url(text)!r}; "
        f"downwind supports SQLite and PostgreSQL: {_EXPECTED}"
    )


def _is_file_database(database: str | None) -> bool:
    return bool(database) and database != ":memory:" and not database.startswith("file:")


def sqlite_path(url: str | URL) -> Path | None:
    """The database file of a SQLite URL; ``None`` for PostgreSQL or an in-memory database."""
    parsed = url if isinstance(url, URL) else make_url(url)
    if parsed.get_backend_name() != "sqlite" or not _is_file_database(parsed.database):
        return None
    return Path(parsed.database)  # type: ignore[arg-type]


def create_engine_from_url(
    url: str | URL,
    *,
    home: Path | None = None,
    sqlite_busy_timeout: float = DEFAULT_SQLITE_BUSY_TIMEOUT,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_recycle: int = 1800,
) -> Engine:
    """A new :class:`~sqlalchemy.Engine` for ``url`` (see :func:`normalize_url`), set up as
    the module docstring says. ``pool_recycle=0`` keeps connections forever."""
    parsed = normalize_url(url, home)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, sqlite_busy_timeout)
    return _postgres_engine(parsed, pool_size, max_overflow, pool_recycle)


def _sqlite_engine(url: URL, busy_timeout: float) -> Engine:
    path = sqlite_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(
                f"[database] url: cannot create the folder of the SQLite database {path}: "
                f"{err.strerror or err}"
            ) from None
    engine = create_engine(url)
    busy_ms = max(0, round(busy_timeout * 1000))
    wal = path is not None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from sqlite3 (see _on_begin); with this the
        # PRAGMAs below also run outside any transaction, as they must.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if wal:
                _enable_wal(cursor, busy_timeout)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(BEGIN_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cursor: Any, busy_timeout: float) -> None:
    """Switch the database to WAL mode (it stays so: the mode is stored in the file).

    Switching needs the file alone. While another connection is about to write (holds the
    reserved lock), SQLite refuses at once with "database is locked" instead of waiting the
    busy timeout -- as when a scheduler and a server start together on a new database. So
    wait here, up to the busy timeout, unless another process switches it first.
    """
    deadline = time.monotonic() + busy_timeout
    pause = 0.005
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _postgres_engine(url: URL, pool_size: int, max_overflow: int, pool_recycle: int) -> Engine:
    try:
        import psycopg  # noqa: F401  (an optional extra: imported only for PostgreSQL)
    except ImportError:
        raise ConfigError(
            f"[database] url is a PostgreSQL URL ({display_url(url)}) but psycopg 3 is not "
            "installed; install it with: pip install 'downwind[postgres]'"
        ) from None
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=pool_recycle if pool_recycle > 0 else -1,
        connect_args=connect_args,
    )


_engines: dict[tuple[Any, ...], Engine] = {}
_engines_lock = threading.Lock()


def get_engine() -> Engine:
    """The engine of the configured metastore (``[database]`` options), one per process.

    The configuration is read on each call, so a changed configuration (tests reset it)
    gets its own engine; :func:`dispose_engines` closes them all.
    """
    conf = get_config()
    db = conf.database
    url = normalize_url(db.url, conf.home)
    key = (
        url.render_as_string(hide_password=False),
        db.sqlite_busy_timeout,
        db.pool_size,
        db.max_overflow,
        db.pool_recycle,
    )
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_engine_from_url(
                url,
                sqlite_busy_timeout=db.sqlite_busy_timeout,
                pool_size=db.pool_size,
                max_overflow=db.max_overflow,
                pool_recycle=db.pool_recycle,
            )
            _engines[key] = engine
    return engine


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    """A :class:`~sqlalchemy.orm.sessionmaker` bound to ``engine`` (default:
    :func:`get_engine`). Objects stay usable after commit (``expire_on_commit=False``): the
    caller decides when to reload them."""
    return sessionmaker(bind=engine if engine is not None else get_engine(), expire_on_commit=False)


def dispose_engines() -> None:
    """Close every engine made by :func:`get_engine` and forget them."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


def _forget_engines_in_child() -> None:
    # A forked child must not use (or close) the parent's pooled connections: drop the
    # references and let the child open its own if it ever needs the database.
    global _engines_lock
    _engines_lock = threading.Lock()
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_engines_in_child)


@contextmanager
def write_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction that will write: on SQLite it takes the write lock at
    its start (waiting for another writer up to the busy timeout), so that a read
    followed by a write never fails half-way with "database is locked". Committed at
    the end of the ``with`` block, rolled back on an exception."""
    with factory() as session, session.begin():
        session.connection(execution_options={BEGIN_IMMEDIATE: True})
        yield session
