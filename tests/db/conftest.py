"""Fixtures for the metastore tests: each test that uses them runs on SQLite and PostgreSQL.

PostgreSQL is the server at ``$DOWNWIND_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``). Each test session creates two fresh
databases there with unique names -- one emptied before every test, one migrated once and
shared through rolled-back transactions -- and drops them at the end. When the server is
missing, the PostgreSQL variants skip with the reason; in CI (``CI=true``) they fail, so a
CI job can never pass without having tested PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from downwind.config import reset_config_cache
from downwind.metastore.engine import create_engine_from_url, dispose_engines
from downwind.metastore.migrate import upgrade

POSTGRES_URL_ENV = "DOWNWIND_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgresql")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _postgres_unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(
            f"{reason}. CI=true requires PostgreSQL for the metastore tests: start it on "
            f"127.0.0.1:5432 (user postgres, trust auth) or set {POSTGRES_URL_ENV}",
            pytrace=False,
        )
    pytest.skip(f"{reason} (the metastore tests run on PostgreSQL when one is available)")


class PostgresServer:
    """The PostgreSQL server of this test session and the two databases made on it."""

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self._psycopg = psycopg
        url = make_url(admin_url)
        self._base = url.set(drivername="postgresql")
        self._admin = psycopg.connect(self._conninfo(url.database or "postgres"), autocommit=True)
        suffix = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.empty_db = f"downwind_test_{suffix}"
        self.migrated_db = f"downwind_test_{suffix}_migrated"
        for name in (self.empty_db, self.migrated_db):
            self._admin.execute(f'CREATE DATABASE "{name}"')

    def _conninfo(self, database: str) -> str:
        return self._base.set(database=database).render_as_string(hide_password=False)

    def url(self, database: str) -> str:
        """A ``postgresql://`` URL of ``database`` (downwind adds the psycopg driver)."""
        return self._conninfo(database)

    def empty(self) -> str:
        """The URL of the per-test database, emptied of everything a test left in it."""
        with self._psycopg.connect(self._conninfo(self.empty_db), autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        return self.url(self.empty_db)

    def terminate_backend(self, pid: int) -> None:
        """Kill one server connection, as a restart or a firewall would."""
        self._admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    def close(self) -> None:
        for name in (self.empty_db, self.migrated_db):
            self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    admin_url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    where = make_url(admin_url).render_as_string(hide_password=True)
    try:
        import psycopg
    except ImportError:
        _postgres_unavailable("psycopg is not installed (pip install 'downwind[postgres]')")
    try:
        server = PostgresServer(admin_url)
    except psycopg.Error as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        _postgres_unavailable(f"PostgreSQL is not reachable at {where}: {first_line}")
    yield server
    dispose_engines()
    server.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database kind under test: ``sqlite`` or ``postgresql``."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_server")
    return request.param


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty database of this test's backend (SQLite: a file not created yet,
    in a folder not created yet)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'metastore' / 'downwind.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.empty()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the empty database of :func:`db_url`."""
    engine = create_engine_from_url(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_home(downwind_home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A ``$DOWNWIND_HOME`` whose ``[database] url`` is the empty database of :func:`db_url`."""
    monkeypatch.setenv("DOWNWIND__DATABASE__URL", db_url)
    reset_config_cache()
    yield downwind_home
    dispose_engines()


@pytest.fixture(scope="session")
def migrated_engine(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    """An engine on a database migrated once per session; use it through :func:`session`."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('migrated') / 'downwind.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.url(server.migrated_db)
    engine = create_engine_from_url(url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    """A session on the migrated database whose every change is rolled back after the test.

    The test may commit: its commits release savepoints inside one outer transaction.
    """
    with migrated_engine.connect() as connection:
        outer = connection.begin()
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


#: the ``[core] fernet_key`` of metastore tests that have no home of their own
TEST_FERNET_KEY = "ZmVybmV0LWtleS1vZi10aGUtbWV0YXN0b3JlLXRlc3Q="


@pytest.fixture(autouse=True)
def _test_fernet_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give every metastore test a ``[core] fernet_key``: the services encrypt secrets, and
    without a key a test with no home of its own would write a generated one into the
    developer's ``~/downwind/downwind.toml``. (``downwind_home`` hides it again: there the
    key is generated in the test's own home.)"""
    monkeypatch.setenv("DOWNWIND__CORE__FERNET_KEY", TEST_FERNET_KEY)
    reset_config_cache()
    yield
    reset_config_cache()
