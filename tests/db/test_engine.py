"""Engines from ``[database]``: URLs, SQLite's settings and locking, PostgreSQL's pool."""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from downwind.config import reset_config_cache
from downwind.exceptions import ConfigError
from downwind.metastore.engine import (
    BEGIN_IMMEDIATE,
    create_engine_from_url,
    get_engine,
    normalize_url,
    sqlite_path,
)


def _pragma(engine: Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    db_file = tmp_path / "new" / "folder" / "downwind.db"
    engine = create_engine_from_url(f"sqlite:///{db_file}")
    try:
        assert db_file.parent.is_dir(), "the database's folder is created"
        assert _pragma(engine, "journal_mode") == "wal"
        assert _pragma(engine, "busy_timeout") == 30_000
        assert _pragma(engine, "foreign_keys") == 1
        assert _pragma(engine, "synchronous") == 1  # NORMAL
    finally:
        engine.dispose()


def test_switching_a_new_database_to_wal_waits_for_another_process(tmp_path: Path) -> None:
    # Two processes starting at once on a new database: one is about to write while the
    # other connects. Switching to WAL needs the file alone, and SQLite then fails at once
    # with "database is locked", busy timeout or not; downwind must wait instead.
    db_file = tmp_path / "downwind.db"
    holder = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # about to write: it holds the reserved lock
    release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
    release.start()
    engine = create_engine_from_url(f"sqlite:///{db_file}", sqlite_busy_timeout=10)
    try:
        assert _pragma(engine, "journal_mode") == "wal"
    finally:
        release.join()
        holder.close()
        engine.dispose()


def test_the_default_metastore_is_downwind_db_in_the_home_folder(downwind_home: Path) -> None:
    engine = get_engine()
    assert engine.url.database == str(downwind_home / "downwind.db")
    assert _pragma(engine, "journal_mode") == "wal"


def test_the_busy_timeout_comes_from_the_configuration(
    downwind_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOWNWIND__DATABASE__SQLITE_BUSY_TIMEOUT", "5")
    reset_config_cache()
    assert _pragma(get_engine(), "busy_timeout") == 5_000


def test_a_relative_sqlite_path_is_relative_to_the_home_folder(
    downwind_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOWNWIND__DATABASE__URL", "sqlite:///meta/dw.db")
    reset_config_cache()
    assert get_engine().url.database == str(downwind_home / "meta" / "dw.db")


def test_begin_immediate_takes_the_write_lock_while_readers_go_on(tmp_path: Path) -> None:
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'dw.db'}", sqlite_busy_timeout=0.2)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect() as writer:
            writer.execution_options(**{BEGIN_IMMEDIATE: True})
            writer.begin()  # holds the write lock from here, before writing anything
            with engine.connect() as reader:  # WAL: a reader is not blocked
                assert reader.execute(text("SELECT x FROM t")).scalar() == 1
            with engine.connect() as other_writer:
                other_writer.execution_options(**{BEGIN_IMMEDIATE: True})
                started = time.monotonic()
                with pytest.raises(OperationalError, match="database is locked"):
                    other_writer.begin()
                assert time.monotonic() - started >= 0.15, "it waited for the busy timeout"
            writer.execute(text("INSERT INTO t VALUES (2)"))
            writer.commit()
    finally:
        engine.dispose()


def test_a_rolled_back_savepoint_on_sqlite_undoes_only_its_own_work(tmp_path: Path) -> None:
    # sqlite3's own transaction handling would run SAVEPOINT outside the transaction.
    engine = create_engine_from_url(f"sqlite:///{tmp_path / 'dw.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with engine.connect() as conn:
            conn.begin()
            conn.execute(text("INSERT INTO t VALUES (1)"))
            nested = conn.begin_nested()
            conn.execute(text("INSERT INTO t VALUES (2)"))
            nested.rollback()
            conn.rollback()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        engine.dispose()


def test_a_forked_child_gets_its_own_engine(downwind_home: Path) -> None:
    engine = get_engine()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            child_engine = get_engine()
            with child_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            status = 0 if child_engine is not engine else 2
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert get_engine() is engine
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://dw:pw@db/downwind", "postgresql+psycopg://dw:pw@db/downwind"),
        ("postgresql://dw@db:5433/downwind", "postgresql+psycopg://dw@db:5433/downwind"),
        ("postgresql+psycopg://dw@db/downwind", "postgresql+psycopg://dw@db/downwind"),
        ("  sqlite:////srv/dw.db ", "sqlite:////srv/dw.db"),
        ("sqlite:///dw.db", "sqlite:////home/dw/dw.db"),
        ("sqlite:///{home}/x/dw.db", "sqlite:////home/dw/x/dw.db"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    normalized = normalize_url(url, Path("/home/dw"))
    assert normalized.render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://dw:s3cret@db/downwind", "unsupported database 'mysql'"),
        ("postgresql+psycopg2://dw:s3cret@db/x", "driver 'psycopg2' is not supported"),
        ("sqlite+aiosqlite:///x.db", "SQLite driver 'aiosqlite' is not supported"),
        ("dw:s3cret@db", "not a database URL; expected sqlite:///PATH or postgresql://"),
    ],
)
def test_unsupported_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        normalize_url(url)
    assert str(info.value).startswith("[database] url: ")
    assert "s3cret" not in str(info.value)


def test_sqlite_path() -> None:
    assert sqlite_path("sqlite:////srv/dw.db") == Path("/srv/dw.db")
    assert sqlite_path("sqlite://") is None
    assert sqlite_path("postgresql+psycopg://db/x") is None


def test_a_database_folder_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot create the folder of the SQLite database"):
        create_engine_from_url(f"sqlite:///{blocker}/dw.db")


def test_postgres_without_psycopg_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails
    with pytest.raises(ConfigError, match=r"pip install 'downwind\[postgres\]'"):
        create_engine_from_url("postgresql://dw@db/downwind")


def test_postgres_connections_survive_a_server_side_disconnect(
    postgres_server: Any,  # conftest.PostgresServer
) -> None:
    engine = create_engine_from_url(
        postgres_server.url(postgres_server.migrated_db), pool_size=1, max_overflow=0
    )
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert isinstance(pid, int)
        postgres_server.terminate_backend(pid)
        # The pooled connection is dead; the pre-ping notices and opens a new one.
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        engine.dispose()
