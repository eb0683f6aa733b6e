"""Connections: ``ConnectionBody``, ``ConnectionResponse``, its collection, and the test
response.

A response never shows a secret: the password is ``***`` when one is set (``null``
otherwise), and so is each secret-looking key of ``extra`` (``token``, ``api_key``...,
at any depth); ``extra`` is JSON text, as in Airflow.
"""

from __future__ import annotations

import json

from pydantic import Field, field_validator

from downwind.api.schemas.common import RequestBody, ResponseModel
from downwind.runtime.connection import Connection
from downwind.services.connections import masked

__all__ = [
    "ConnectionBody",
    "ConnectionCollectionResponse",
    "ConnectionResponse",
    "ConnectionTestResponse",
    "connection_response",
]


#: the most characters the metastore keeps of a connection's type, host and schema
_FIELD_LEN = 500


class ConnectionBody(RequestBody):
    """A connection to create, change or test. ``extra`` is a JSON object as text."""

    connection_id: str = Field(max_length=200, pattern=r"^[\w.-]+$")
    conn_type: str = Field(max_length=_FIELD_LEN)
    description: str | None = None
    host: str | None = Field(default=None, max_length=_FIELD_LEN)
    login: str | None = None
    schema_: str | None = Field(default=None, alias="schema", max_length=_FIELD_LEN)
    port: int | None = None
    password: str | None = None
    extra: str | None = None

    @field_validator("extra")
    @classmethod
    def _extra_is_a_json_object(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value == "":
            return "{}"  # as Airflow: an empty extra is an empty object
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError(
                "The `extra` field must be a valid JSON object (e.g., {'key': 'value'}), "
                "but encountered non-JSON in `extra` field"
            ) from None
        if not isinstance(parsed, dict):
            raise ValueError(
                "The `extra` field must be a valid JSON object (e.g., {'key': 'value'})"
            )
        return value


class ConnectionResponse(ResponseModel):
    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    schema_: str | None = Field(alias="schema")
    port: int | None
    #: ``***`` when a password is set
    password: str | None
    #: JSON text, secret-looking keys masked
    extra: str | None
    team_name: str | None = None


class ConnectionCollectionResponse(ResponseModel):
    connections: list[ConnectionResponse]
    total_entries: int


class ConnectionTestResponse(ResponseModel):
    status: bool
    message: str


def connection_response(conn: Connection) -> ConnectionResponse:
    """The :class:`ConnectionResponse` of a connection, its secrets masked."""
    shown = masked(conn)
    return ConnectionResponse(
        connection_id=conn.conn_id,
        conn_type=conn.conn_type or "",
        description=conn.description,
        host=conn.host,
        login=conn.login,
        schema=conn.schema,
        port=conn.port,
        password=shown["password"],
        extra=json.dumps(shown["extra"]) if shown["extra"] else None,
    )
