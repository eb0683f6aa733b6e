"""Secrets at rest on SQLite and PostgreSQL: variables, connection passwords and extras are
stored encrypted, read back in clear through the services, and re-encrypted by a rotation."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from metastore_dags import NOW, migrate_configured_metastore
from sqlalchemy import text
from sqlalchemy.orm import Session

from downwind.cli.main import main
from downwind.config import reset_config_cache
from downwind.metastore.engine import dispose_engines
from downwind.metastore.models import Base
from downwind.security.fernet import FernetCipher, SecretDecryptionError, generate_fernet_key
from downwind.services.audit import list_audit_log
from downwind.services.connections import (
    add_connection,
    build_connection,
    get_connection,
    list_connections,
)
from downwind.services.secrets import rotate_fernet_key
from downwind.services.variables import (
    export_variables,
    get_variable,
    import_variables,
    list_variables,
    set_variable,
)

ENV = "DOWNWIND__CORE__FERNET_KEY"
SECRETS = ("hunter2-db-password", "s3cr3t-conn-pw", "ak-0123456789", "imported-value")


def _use_key(monkeypatch: pytest.MonkeyPatch, keys: str) -> None:
    monkeypatch.setenv(ENV, keys)
    reset_config_cache()


def _store_secrets(session: Session) -> None:
    set_variable(session, "db_password", SECRETS[0], now=NOW, owner="ada")
    import_variables(session, {"imported": SECRETS[3]}, now=NOW)
    conn = build_connection(
        "warehouse",
        conn_type="postgres",
        host="db.internal",
        login="etl",
        password=SECRETS[1],
        extra={"api_key": SECRETS[2], "sslmode": "require"},
    )
    add_connection(session, conn, now=NOW, owner="ada")
    session.flush()


def _every_cell(session: Session) -> str:
    """The text of every cell of every table, read with plain SQL."""
    cells = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(text(f'SELECT * FROM "{table.name}"')):
            cells.extend(str(value) for value in row)
    return "\n".join(cells)


def _raw(session: Session, query: str) -> dict[str, object]:
    return dict(session.execute(text(query)).mappings().one())


def test_the_database_holds_no_clear_text_secret(session: Session) -> None:
    _store_secrets(session)

    stored = _every_cell(session)
    for secret in SECRETS:
        assert secret not in stored
    variable = _raw(session, "SELECT val, is_encrypted FROM variable WHERE key = 'db_password'")
    assert variable["is_encrypted"] in (True, 1)  # SQLite answers 1
    conn = _raw(
        session,
        "SELECT login, password, extra, is_encrypted, is_extra_encrypted FROM connection",
    )
    assert (bool(conn["is_encrypted"]), bool(conn["is_extra_encrypted"])) == (True, True)
    assert conn["login"] == "etl"  # only the secrets are encrypted
    assert "sslmode" not in str(conn["extra"])  # the whole extra is


def test_the_services_return_the_values_in_clear(session: Session) -> None:
    _store_secrets(session)

    assert get_variable(session, "db_password") == SECRETS[0]
    assert [(v.key, v.val, v.is_encrypted) for v in list_variables(session)] == [
        ("db_password", SECRETS[0], True),
        ("imported", SECRETS[3], True),
    ]
    assert export_variables(session) == {"db_password": SECRETS[0], "imported": SECRETS[3]}
    conn = get_connection(session, "warehouse")
    assert (conn.login, conn.password) == ("etl", SECRETS[1])
    assert conn.extra_dejson == {"api_key": SECRETS[2], "sslmode": "require"}
    assert [c.password for c in list_connections(session)] == [SECRETS[1]]


def _insert_clear_rows(session: Session) -> None:
    """Rows as a version without encryption wrote them (flags false)."""
    session.execute(
        text("INSERT INTO variable (key, val, is_encrypted) VALUES ('legacy', 'old-clear', false)")
    )
    session.execute(
        text(
            "INSERT INTO connection (conn_id, conn_type, login, password, extra, is_encrypted,"
            " is_extra_encrypted) VALUES ('legacy_db', 'postgres', 'etl', 'old-pw',"
            ' \'{"token": "old-token"}\', false, false)'
        )
    )


def test_rows_stored_in_clear_by_an_older_version_still_read(session: Session) -> None:
    _insert_clear_rows(session)

    assert get_variable(session, "legacy") == "old-clear"
    (record,) = list_variables(session)
    assert (record.val, record.is_encrypted) == ("old-clear", False)
    conn = get_connection(session, "legacy_db")
    assert (conn.password, conn.extra_dejson) == ("old-pw", {"token": "old-token"})


def test_rotation_re_encrypts_under_the_new_key_and_encrypts_clear_rows(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = generate_fernet_key(), generate_fernet_key()
    _use_key(monkeypatch, old)
    _store_secrets(session)
    _insert_clear_rows(session)

    # 3 variables, 2 connections (the legacy ones in clear)
    assert rotate_fernet_key(session, FernetCipher([new, old]), now=NOW, owner="ops") == 5
    session.flush()

    stored = _every_cell(session)
    for secret in (*SECRETS, "old-clear", "old-pw", "old-token"):
        assert secret not in stored
    only_new = FernetCipher([new])
    token = _raw(session, "SELECT val FROM variable WHERE key = 'legacy'")["val"]
    assert only_new.decrypt(str(token)) == "old-clear"
    flags = session.execute(text("SELECT is_encrypted, is_extra_encrypted FROM connection"))
    assert all(a and b for a, b in flags)

    _use_key(monkeypatch, new)  # the old key can go now
    assert get_variable(session, "db_password") == SECRETS[0]
    assert get_variable(session, "legacy") == "old-clear"
    assert get_connection(session, "warehouse").password == SECRETS[1]
    assert get_connection(session, "legacy_db").extra_dejson == {"token": "old-token"}
    (event,) = [a for a in list_audit_log(session) if a.event == "fernet_key.rotate"]
    assert (event.owner, event.extra) == ("ops", {"rows": 5})

    _use_key(monkeypatch, old)  # the old key alone no longer fits
    with pytest.raises(SecretDecryptionError, match=r"^variable 'db_password': .*fernet_key"):
        get_variable(session, "db_password")


def test_a_secret_no_key_fits_stops_the_rotation_naming_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_key(monkeypatch, generate_fernet_key())
    _store_secrets(session)
    with pytest.raises(SecretDecryptionError, match=r"^variable 'db_password': .*fernet_key"):
        rotate_fernet_key(session, FernetCipher([generate_fernet_key()]))
    _use_key(monkeypatch, generate_fernet_key())  # a key replaced instead of rotated
    with pytest.raises(SecretDecryptionError, match=r"^connection 'warehouse' password: "):
        get_connection(session, "warehouse")


# -- the command ----------------------------------------------------------------------


@pytest.fixture
def cli_home(downwind_home: Path) -> Iterator[Path]:
    migrate_configured_metastore()
    yield downwind_home
    dispose_engines()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_rotate_fernet_key_command_then_the_cli_still_reads_the_values(
    cli_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "variables", "set", "api_token", "tok-123456")[0] == 0
    uri = "postgresql://etl:s3cr3t-conn-pw@db.internal/dw?api_key=ak-0123456789"
    assert _run(capsys, "connections", "add", "warehouse", "--conn-uri", uri)[0] == 0
    generated = (cli_home / "downwind.toml").read_text()
    assert "fernet_key" in generated  # the first secret made the home's key

    old = _first_key(cli_home)
    new = generate_fernet_key()
    _use_key(monkeypatch, f"{new},{old}")
    assert _run(capsys, "rotate-fernet-key") == (
        0,
        "Re-encrypted 2 rows with the first key of [core] fernet_key.\n"
        "Every secret now uses the first key: the other keys can be removed.\n",
        "",
    )

    _use_key(monkeypatch, new)
    assert _run(capsys, "variables", "get", "api_token") == (0, "tok-123456\n", "")
    status, out, _ = _run(capsys, "connections", "get", "warehouse", "-o", "json")
    assert status == 0
    shown = json.loads(out)
    assert (shown["login"], shown["password"], shown["extra"]) == (
        "etl",
        "***",
        {"api_key": "***"},
    )
    status, out, _ = _run(capsys, "connections", "list")
    assert status == 0 and "warehouse" in out and "s3cr3t" not in out

    _use_key(monkeypatch, old)
    status, _, err = _run(capsys, "variables", "get", "api_token")
    assert status == 1
    assert err.startswith("error: variable 'api_token': a stored secret cannot be decrypted")


def test_a_malformed_key_is_one_error_line(
    cli_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_key(monkeypatch, "not-a-key")
    status, out, err = _run(capsys, "variables", "set", "x", "y")
    assert (status, out) == (1, "")
    assert err == (
        "error: [core] fernet_key: the key is not a Fernet key (expected 32 url-safe "
        'base64-encoded bytes, as made by `python -c "from cryptography.fernet import '
        'Fernet; print(Fernet.generate_key().decode())"`) (from env DOWNWIND__CORE__FERNET_KEY)\n'
    )
    assert _run(capsys, "rotate-fernet-key")[0] == 1


def _first_key(home: Path) -> str:
    return tomllib.loads((home / "downwind.toml").read_text())["core"]["fernet_key"]


def test_rows_of_a_connection_without_secrets_are_left_alone(session: Session) -> None:
    add_connection(session, build_connection("plain", conn_type="http", host="h"), now=NOW)
    assert rotate_fernet_key(session, FernetCipher([generate_fernet_key()])) == 0
    row = _raw(session, "SELECT password, extra, is_encrypted FROM connection")
    assert row == {"password": None, "extra": None, "is_encrypted": False}
