"""Connections in the metastore on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from metastore_dags import NOW
from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.exceptions import ConnectionNotFound
from downwind.metastore.models import AuditLog, ConnectionModel
from downwind.services.connections import (
    add_connection,
    build_connection,
    delete_connection,
    get_connection,
    list_connections,
    masked,
)
from downwind.services.errors import AlreadyExists, InvalidInput

URI = "postgresql://etl:s%40cret@db.internal:5432/sales?sslmode=require"


def test_a_connection_from_a_uri_round_trips(session: Session) -> None:
    conn = build_connection("sales_db", uri=URI)
    add_connection(session, conn, now=NOW, owner="ada")
    stored = get_connection(session, "sales_db")
    assert (stored.conn_type, stored.host, stored.port) == ("postgres", "db.internal", 5432)
    assert (stored.login, stored.password, stored.schema) == ("etl", "s@cret", "sales")
    assert stored.extra_dejson == {"sslmode": "require"}
    row = session.scalars(select(ConnectionModel)).one()
    assert row.is_encrypted is True and "cret" not in row.password  # stored encrypted
    audit = session.scalars(select(AuditLog)).one()
    assert (audit.event, audit.owner) == ("connection.add", "ada")
    assert "cret" not in str(audit.extra)


def test_a_connection_from_fields(session: Session) -> None:
    conn = build_connection(
        "api",
        conn_type="http",
        host="api.example.com",
        port="8443",
        login="bot",
        password="p:w/d",
        extra='{"api_key": "k-123", "timeout": 5}',
        description="the partner API",
    )
    add_connection(session, conn, now=NOW)
    (stored,) = list_connections(session)
    assert stored.port == 8443 and stored.password == "p:w/d"
    assert stored.description == "the partner API"
    shown = masked(stored)
    assert shown["password"] == "***"
    assert shown["extra"] == {"api_key": "***", "timeout": 5}
    assert shown["uri"].startswith("http://bot:***@api.example.com:8443/")
    assert "p:w/d" not in str(shown) and "p%3Aw%2Fd" not in str(shown)
    assert "k-123" not in str(shown)


def test_a_duplicate_id_is_refused_and_delete_removes_it(session: Session) -> None:
    add_connection(session, build_connection("db", uri=URI), now=NOW)
    with pytest.raises(AlreadyExists, match="connection 'db' already exists"):
        add_connection(session, build_connection("db", uri="http://h"), now=NOW)
    delete_connection(session, "db", now=NOW)
    with pytest.raises(ConnectionNotFound, match="connection 'db' is not defined"):
        get_connection(session, "db")
    with pytest.raises(ConnectionNotFound, match="connection 'db' is not defined"):
        delete_connection(session, "db", now=NOW)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"uri": "not a uri"}, "must start with a scheme"),
        ({"uri": "http://u:hunter2@h:99999"}, "port 99999 is out of range"),
        ({"uri": URI, "host": "x"}, "give either a URI or fields, not both"),
        ({"host": "h"}, "a connection type is required"),
        ({"conn_type": "http", "extra": "[1]"}, "extra must be a JSON object"),
        ({"conn_type": "http", "port": "eighty"}, "port must be an integer"),
    ],
)
def test_malformed_input_never_shows_the_password(arguments: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        build_connection("c", **arguments)
    assert "hunter2" not in str(info.value)


def test_a_bad_connection_id_is_refused() -> None:
    with pytest.raises(InvalidInput, match="invalid connection id 'my conn'"):
        build_connection("my conn", uri=URI)
