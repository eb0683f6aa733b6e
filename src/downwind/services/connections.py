"""Connections in the metastore: list, get, add, delete.

A connection is handled as a :class:`downwind.runtime.connection.Connection` (Airflow's
fields and URI format). Passwords and extras are stored as given for now
(``is_encrypted`` stays false); :func:`masked` is what may be shown to a person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.config import mask_secret
from downwind.exceptions import ConnectionNotFound
from downwind.metastore.models import ConnectionModel
from downwind.metastore.models.base import ID_LEN
from downwind.runtime.connection import Connection
from downwind.services.audit import record_action
from downwind.services.errors import AlreadyExists, InvalidInput

__all__ = [
    "CONN_ID_PATTERN",
    "add_connection",
    "build_connection",
    "delete_connection",
    "get_connection",
    "list_connections",
    "masked",
]

#: the characters of a connection id (as in Airflow; it also names DOWNWIND_CONN_<ID>)
CONN_ID_PATTERN = re.compile(r"[\w.-]+", re.ASCII)
MASK = "***"
_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "private",
    "passphrase",
    "api_key",
    "apikey",
    "access_key",
    "authorization",
    "credential",
)


def _check_conn_id(conn_id: str) -> None:
    if not conn_id or len(conn_id) > ID_LEN or not CONN_ID_PATTERN.fullmatch(conn_id):
        raise InvalidInput(
            f"invalid connection id {conn_id!r}: use 1 to {ID_LEN} letters, digits, "
            "dashes, dots and underscores"
        )


def build_connection(
    conn_id: str,
    *,
    uri: str | None = None,
    conn_type: str | None = None,
    host: str | None = None,
    port: int | str | None = None,
    login: str | None = None,
    password: str | None = None,
    schema: str | None = None,
    extra: str | Mapping[str, Any] | None = None,
    description: str | None = None,
) -> Connection:
    """A checked :class:`Connection` from a URI or from fields (not both).

    Raises :class:`~downwind.services.errors.InvalidInput` with a message that never
    shows the password (a malformed URI, a bad port, extra that is not a JSON object, no
    connection type).
    """
    _check_conn_id(conn_id)
    fields = {"conn_type": conn_type, "host": host, "port": port, "login": login}
    fields |= {"password": password, "schema": schema, "extra": extra}
    # Raised outside the except blocks: a chained error could hold the password.
    problem = None
    if uri is not None:
        given = sorted(name for name, value in fields.items() if value is not None)
        if given:
            raise InvalidInput(
                f"connection '{conn_id}': give either a URI or fields, not both "
                f"(also given: {', '.join(given)})"
            )
        try:
            conn = Connection.from_uri(conn_id, uri)
        except ValueError as err:
            problem = str(err)
    else:
        if not conn_type:
            raise InvalidInput(
                f"connection '{conn_id}': a connection type is required (e.g. postgres, http), "
                "or give a URI"
            )
        try:
            conn = Connection.from_dict(
                conn_id, {name: value for name, value in fields.items() if value is not None}
            )
        except ValueError as err:
            problem = str(err)
    if problem is not None:
        raise InvalidInput(problem)
    if description is not None:
        conn.description = description
    if not conn.conn_type:
        raise InvalidInput(f"connection '{conn_id}': the URI has no connection type")
    return conn


def _find(session: Session, conn_id: str) -> ConnectionModel | None:
    return session.scalar(select(ConnectionModel).where(ConnectionModel.conn_id == conn_id))


def _to_connection(row: ConnectionModel) -> Connection:
    return Connection(
        conn_id=row.conn_id,
        conn_type=row.conn_type,
        host=row.host,
        port=row.port,
        login=row.login,
        password=row.password,
        schema=row.schema,
        extra=row.extra or {},
        description=row.description,
    )


def list_connections(session: Session) -> list[Connection]:
    """Every connection, by id (with passwords: use :func:`masked` to show them)."""
    rows = session.scalars(select(ConnectionModel).order_by(ConnectionModel.conn_id))
    return [_to_connection(row) for row in rows]


def get_connection(session: Session, conn_id: str) -> Connection:
    """The connection ``conn_id``; raises :class:`~downwind.exceptions.ConnectionNotFound`."""
    row = _find(session, conn_id)
    if row is None:
        raise ConnectionNotFound(f"connection '{conn_id}' is not defined")
    return _to_connection(row)


def add_connection(
    session: Session, conn: Connection, *, now: datetime, owner: str | None = None
) -> ConnectionModel:
    """Store a new connection (audited as ``connection.add``, without secrets); raises
    :class:`~downwind.services.errors.AlreadyExists` if the id is taken."""
    _check_conn_id(conn.conn_id)
    if not conn.conn_type:
        raise InvalidInput(f"connection '{conn.conn_id}': a connection type is required")
    if _find(session, conn.conn_id) is not None:
        raise AlreadyExists(
            f"connection '{conn.conn_id}' already exists; delete it first to replace it"
        )
    extra = conn.extra_dejson
    row = ConnectionModel(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type,
        description=conn.description,
        host=conn.host,
        schema=conn.schema,
        login=conn.login,
        password=conn.password,
        port=conn.port,
        extra=json.dumps(extra) if extra else None,
        is_encrypted=False,
        is_extra_encrypted=False,
    )
    session.add(row)
    record_action(
        session,
        "connection.add",
        owner=owner,
        now=now,
        extra={"conn_id": conn.conn_id, "conn_type": conn.conn_type},
    )
    return row


def delete_connection(
    session: Session, conn_id: str, *, now: datetime, owner: str | None = None
) -> None:
    """Delete ``conn_id``; raises :class:`~downwind.exceptions.ConnectionNotFound`."""
    row = _find(session, conn_id)
    if row is None:
        raise ConnectionNotFound(f"connection '{conn_id}' is not defined")
    session.delete(row)
    record_action(session, "connection.delete", owner=owner, now=now, extra={"conn_id": conn_id})


def _masked_extra(extra: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: MASK if any(word in key.lower() for word in _SECRET_WORDS) else value
        for key, value in extra.items()
    }


def masked(conn: Connection) -> dict[str, Any]:
    """The connection's fields for display: the password and secret-looking extras
    (``password``, ``token``, ``api_key``...) replaced by ``***``, and its URI likewise."""
    extra = _masked_extra(conn.extra_dejson)
    shown = Connection(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type,
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=None,
        schema=conn.schema,
        extra=extra,
        description=conn.description,
    )
    uri = shown.get_uri()
    if conn.password is not None:
        # the URI without a password, with the mask put where the password goes
        shown.password = "password"
        uri = mask_secret(shown.get_uri())
    return {
        "conn_id": conn.conn_id,
        "conn_type": conn.conn_type,
        "description": conn.description,
        "host": conn.host,
        "schema": conn.schema,
        "login": conn.login,
        "password": None if conn.password is None else MASK,
        "port": conn.port,
        "extra": extra,
        "uri": uri,
    }
