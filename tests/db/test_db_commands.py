"""``downwind db migrate | check | reset`` on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import threading
from argparse import Namespace
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from downwind.cli import db_command
from downwind.config import reset_config_cache
from downwind.exceptions import ConfigError
from downwind.metastore.engine import create_engine_from_url, get_engine, session_factory
from downwind.metastore.migrate import AppliedRevision, head_revision, schema_status, upgrade
from downwind.metastore.models import Base, Pool, VariableModel

MIGRATE_HINT = "run `downwind db migrate`"


def _tables(url: str) -> set[str]:
    engine = create_engine_from_url(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _add_variable(key: str = "greeting", val: str = "hello") -> None:
    with session_factory()() as session, session.begin():
        session.add(VariableModel(key=key, val=val))


def _variables() -> list[str]:
    with session_factory()() as session:
        return list(session.scalars(select(VariableModel.key)))


def test_migrate_builds_the_schema_then_does_nothing(
    db_home: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert db_command.migrate(Namespace()) == 0
    out = capsys.readouterr().out
    assert "Migrated the metastore at " in out
    assert "  applied 0001: Initial schema\n" in out
    assert f"It is now at revision {head_revision()} (latest)." in out
    assert _tables(db_url) == set(Base.metadata.tables) | {"alembic_version"}

    assert db_command.migrate(Namespace()) == 0
    out = capsys.readouterr().out
    assert f"is already at the latest revision ({head_revision()})" in out
    assert "applied" not in out


def test_check_says_to_migrate_until_migrated(
    db_home: Path,
    db_url: str,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if backend == "sqlite":
        db_file = db_home / "never-created.db"
        monkeypatch.setenv("DOWNWIND__DATABASE__URL", f"sqlite:///{db_file}")
        reset_config_cache()
        assert db_command.check(Namespace()) == 1
        err = capsys.readouterr().err
        assert f"error: there is no metastore at sqlite:///{db_file} yet: {MIGRATE_HINT}" in err
        assert not db_file.exists(), "check must not create the database"
        monkeypatch.setenv("DOWNWIND__DATABASE__URL", db_url)
        reset_config_cache()
        # An existing but empty database file.
        with create_engine_from_url(db_url).connect() as conn:
            conn.execute(text("SELECT 1"))

    assert db_command.check(Namespace()) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the metastore at ")
    assert f"is not migrated: {MIGRATE_HINT}" in err

    assert db_command.migrate(Namespace()) == 0
    capsys.readouterr()
    assert db_command.check(Namespace()) == 0
    out = capsys.readouterr().out
    assert f"is reachable and at the latest revision ({head_revision()})" in out


def test_check_refuses_a_schema_from_a_newer_downwind(
    db_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert db_command.migrate(Namespace()) == 0
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    capsys.readouterr()
    assert db_command.check(Namespace()) == 1
    err = capsys.readouterr().err
    assert "is at revision 0999, which this downwind does not know" in err
    assert "upgrade downwind" in err


def test_reset_with_yes_drops_the_data_and_migrates_again(
    db_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert db_command.migrate(Namespace()) == 0
    _add_variable()
    assert _variables() == ["greeting"]

    assert db_command.reset(Namespace(yes=True)) == 0
    out = capsys.readouterr().out
    assert "Reset the metastore at " in out
    assert "  applied 0001: Initial schema\n" in out
    assert _variables() == []
    assert schema_status(get_engine()).is_current
    with session_factory()() as session:
        assert session.scalar(select(Pool.slots).where(Pool.pool == "default_pool")) == 128


def test_reset_leaves_tables_that_are_not_downwinds_alone(db_home: Path) -> None:
    assert db_command.migrate(Namespace()) == 0
    with get_engine().begin() as conn:
        conn.execute(text("CREATE TABLE my_own_table (x INTEGER)"))
        conn.execute(text("INSERT INTO my_own_table VALUES (7)"))
    assert db_command.reset(Namespace(yes=True)) == 0
    with get_engine().connect() as conn:
        assert conn.execute(text("SELECT x FROM my_own_table")).scalar() == 7


def test_reset_refuses_without_yes_when_stdin_is_not_a_terminal(
    db_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert db_command.migrate(Namespace()) == 0
    _add_variable()
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))
    assert db_command.reset(Namespace(yes=False)) == 1
    err = capsys.readouterr().err
    assert "refusing to reset the metastore at " in err
    assert "stdin is not a terminal; pass --yes" in err
    assert _variables() == ["greeting"]


def test_migrate_at_the_same_time_from_two_processes_applies_once(db_url: str) -> None:
    engines = [create_engine_from_url(db_url) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[list[AppliedRevision]] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            results.append(upgrade(engines[index]))
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for engine in engines:
        engine.dispose()
    assert errors == []
    # one applies every numbered revision, the other none
    assert sorted(len(applied) for applied in results) == [0, int(head_revision())]


def test_unreachable_postgres_is_a_clear_error_with_the_password_masked(
    downwind_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOWNWIND__DATABASE__URL", "postgresql://dw:s3cret@127.0.0.1:1/downwind")
    reset_config_cache()
    for handler in (db_command.check, db_command.migrate):
        assert handler(Namespace()) == 1
        err = capsys.readouterr().err
        where = "postgresql+psycopg://dw:***@127.0.0.1:1/downwind"
        assert err.startswith(f"error: cannot reach the metastore at {where}: ")
        assert "check [database] url (from the environment variable DOWNWIND__DATABASE__URL)" in err
        assert "s3cret" not in err


def test_an_unsupported_database_url_is_a_config_error(
    downwind_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOWNWIND__DATABASE__URL", "mysql://dw:s3cret@db/downwind")
    reset_config_cache()
    with pytest.raises(ConfigError, match="unsupported database 'mysql'") as info:
        db_command.migrate(Namespace())
    assert "s3cret" not in str(info.value)


_RESET_TWICE = """
import argparse
from downwind.cli.db_command import reset
for _ in range(2):
    print("status", reset(argparse.Namespace(yes=False)), flush=True)
"""


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_reset_asks_for_confirmation_on_a_terminal(db_home: Path) -> None:
    assert db_command.migrate(Namespace()) == 0
    _add_variable()

    # One child (imports are slow) whose stdin is a terminal: it answers "n", then "yes".
    primary, secondary = pty.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", _RESET_TWICE],
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        os.write(primary, b"n\nyes\n")
        out, _ = child.communicate(timeout=60)
    finally:
        os.close(primary)
        os.close(secondary)
    assert child.returncode == 0, out
    declined, accepted = out.split("status 1\n")
    assert "This drops every downwind table of the metastore at sqlite:///" in declined
    assert "Reset it? [y/N] Nothing was changed." in declined
    assert "Reset it? [y/N] Reset the metastore at " in accepted
    assert "applied 0001: Initial schema" in accepted
    assert accepted.endswith("status 0\n")
    assert _variables() == []
