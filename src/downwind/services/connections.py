"""Connections in the metastore: list, get, add, delete.

A connection is handled as a :class:`downwind.runtime.connection.Connection` (Airflow's
fields and URI format). Passwords and extras are stored encrypted with ``[core]
fernet_key`` (``is_encrypted``, ``is_extra_encrypted``; see :mod:`downwind.services.secrets`)
and read back decrypted; :func:`masked` is what may be shown to a person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from downwind.config import mask_secret
from downwind.exceptions import ConnectionNotFound
from downwind.metastore.models import ConnectionModel
from downwind.metastore.models.base import ID_LEN
from downwind.runtime.connection import Connection
from downwind.services.audit import record_action
from downwind.services.errors import AlreadyExists, InvalidInput
from downwind.services.listing import matches_pattern, matches_prefix
from downwind.services.secrets import seal, unseal

__all__ = [
    "CONNECTION_SORT_FIELDS",
    "CONN_ID_PATTERN",
    "UPDATABLE_FIELDS",
    "add_connection",
    "build_connection",
    "connection_from_row",
    "delete_connection",
    "existing_connection_ids",
    "get_connection",
    "list_connections",
    "masked",
    "select_connections",
    "update_connection",
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


def connection_from_row(row: ConnectionModel) -> Connection:
    """The connection of a row, its password and extra decrypted."""
    what = f"connection '{row.conn_id}'"
    return Connection(
        conn_id=row.conn_id,
        conn_type=row.conn_type,
        host=row.host,
        port=row.port,
        login=row.login,
        password=unseal(row.password, row.is_encrypted, what=f"{what} password"),
        schema=row.schema,
        extra=unseal(row.extra, row.is_extra_encrypted, what=f"{what} extra") or {},
        description=row.description,
    )


def list_connections(session: Session) -> list[Connection]:
    """Every connection, by id (with passwords: use :func:`masked` to show them)."""
    rows = session.scalars(select(ConnectionModel).order_by(ConnectionModel.conn_id))
    return [connection_from_row(row) for row in rows]


def get_connection(session: Session, conn_id: str) -> Connection:
    """The connection ``conn_id``; raises :class:`~downwind.exceptions.ConnectionNotFound`."""
    row = _find(session, conn_id)
    if row is None:
        raise ConnectionNotFound(f"connection '{conn_id}' is not defined")
    return connection_from_row(row)


def add_connection(
    session: Session,
    conn: Connection,
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
    replace: bool = False,
) -> ConnectionModel:
    """Store a new connection (audited as ``connection.add``, without secrets, plus
    ``extra``); raises :class:`~downwind.services.errors.AlreadyExists` if the id is
    taken, unless ``replace`` (then every field of the stored one is replaced, audited as
    ``connection.update``)."""
    _check_conn_id(conn.conn_id)
    if not conn.conn_type:
        raise InvalidInput(f"connection '{conn.conn_id}': a connection type is required")
    row = _find(session, conn.conn_id)
    if row is not None and not replace:
        raise AlreadyExists(
            f"connection '{conn.conn_id}' already exists; delete it first to replace it"
        )
    created = row is None
    if row is None:
        row = ConnectionModel(conn_id=conn.conn_id)
        session.add(row)
    _write(row, conn)
    record_action(
        session,
        "connection.add" if created else "connection.update",
        owner=owner,
        now=now,
        extra={"conn_id": conn.conn_id, "conn_type": conn.conn_type, **(extra or {})},
    )
    return row


def _write(row: ConnectionModel, conn: Connection) -> None:
    """Put every field of ``conn`` in ``row``, the password and extra encrypted."""
    extra = conn.extra_dejson
    row.conn_type = conn.conn_type or ""
    row.description = conn.description
    row.host = conn.host
    row.schema = conn.schema
    row.login = conn.login
    row.port = conn.port
    row.password, row.is_encrypted = seal(conn.password)
    row.extra, row.is_extra_encrypted = seal(json.dumps(extra) if extra else None)


def delete_connection(
    session: Session,
    conn_id: str,
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Delete ``conn_id``; raises :class:`~downwind.exceptions.ConnectionNotFound`."""
    row = _find(session, conn_id)
    if row is None:
        raise ConnectionNotFound(f"connection '{conn_id}' is not defined")
    session.delete(row)
    record_action(
        session,
        "connection.delete",
        owner=owner,
        now=now,
        extra={"conn_id": conn_id, **(extra or {})},
    )


def _is_secret_key(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


def _masked_extra(extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` with the value of each secret-looking key replaced by ``***``, at any
    depth (``{"auth": {"token": ...}}``)."""
    return {
        key: MASK if _is_secret_key(key) and value is not None else _masked_value(value)
        for key, value in extra.items()
    }


def _masked_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _masked_extra(value)
    if isinstance(value, list):
        return [_masked_value(item) for item in value]
    return value


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


# -- listing and changing some fields (the REST API) ----------------------------------

#: the fields a connection listing may be sorted by (Airflow's names)
CONNECTION_SORT_FIELDS = (
    "id",
    "connection_id",
    "conn_id",
    "conn_type",
    "description",
    "host",
    "port",
)
#: the fields :func:`update_connection` may change
UPDATABLE_FIELDS = (
    "conn_type",
    "description",
    "host",
    "login",
    "schema",
    "port",
    "password",
    "extra",
)


def select_connections(
    *, id_pattern: str | None = None, id_prefix_pattern: str | None = None
) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The connections whose id matches the patterns (see :mod:`downwind.services.listing`)
    and the columns of :data:`CONNECTION_SORT_FIELDS`."""
    model = ConnectionModel
    query = select(model)
    for clause in (
        matches_pattern(model.conn_id, id_pattern),
        matches_prefix(model.conn_id, id_prefix_pattern),
    ):
        if clause is not None:
            query = query.where(clause)
    columns: dict[str, ColumnElement[Any]] = {
        "id": model.id,
        "connection_id": model.conn_id,
        "conn_id": model.conn_id,
        "conn_type": model.conn_type,
        "description": model.description,
        "host": model.host,
        "port": model.port,
    }
    return query, columns


def existing_connection_ids(session: Session, conn_ids: Collection[str]) -> set[str]:
    """Which of ``conn_ids`` are defined."""
    if not conn_ids:
        return set()
    model = ConnectionModel
    return set(session.scalars(select(model.conn_id).where(model.conn_id.in_(list(conn_ids)))))


def _restore_masked(new: Any, old: Any) -> Any:
    """``new`` with each ``***`` that stands where ``old`` holds a value put back: what
    :func:`masked` showed, sent back unchanged, keeps the stored secret."""
    if new == MASK and old is not None:
        return old
    if isinstance(new, Mapping) and isinstance(old, Mapping):
        return {key: _restore_masked(value, old.get(key)) for key, value in new.items()}
    return new


def update_connection(
    session: Session,
    conn_id: str,
    changes: Mapping[str, Any],
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Connection:
    """Change some fields (:data:`UPDATABLE_FIELDS`) of connection ``conn_id``, leaving
    the others; audited as ``connection.update`` naming the fields (never their values).

    ``extra`` in ``changes`` is a JSON object (text or dict) that replaces the stored one.
    A password of ``***`` keeps the stored password, and an extra value of ``***`` the
    stored value at that place: what :func:`masked` shows can be sent back unchanged.
    Raises :class:`~downwind.exceptions.ConnectionNotFound` and
    :class:`~downwind.services.errors.InvalidInput`."""
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise InvalidInput(
            f"connection '{conn_id}': cannot change {', '.join(unknown)}; the fields that "
            f"can change are {', '.join(UPDATABLE_FIELDS)}"
        )
    row = _find(session, conn_id)
    if row is None:
        raise ConnectionNotFound(f"connection '{conn_id}' is not defined")
    current = connection_from_row(row)
    fields: dict[str, Any] = {name: getattr(current, name) for name in UPDATABLE_FIELDS}
    fields["extra"] = current.extra_dejson
    for name, value in changes.items():
        if name == "extra" and isinstance(value, str) and value.strip():
            parsed = _json_object(value)
            value = value if parsed is None else parsed
        if name in ("password", "extra"):
            value = _restore_masked(value, fields[name])
        fields[name] = value
    conn = build_connection(conn_id, **fields)
    _write(row, conn)
    record_action(
        session,
        "connection.update",
        owner=owner,
        now=now,
        extra={"conn_id": conn_id, "fields": sorted(changes), **(extra or {})},
    )
    return conn


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` parsed when it is a JSON object, else ``None`` (the caller reports it)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
