"""Variables: ``VariableBody``, ``VariableResponse`` and its collection.

A response never shows a secret: the value of a variable whose key looks secret
(``db_password``, ``api_token``...; :func:`~downwind.runtime.masking.is_sensitive_name`)
is ``***``, as in Airflow, and so is each secret-looking key inside a value that is a
JSON object (``{"user": "ada", "password": "***"}``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, JsonValue

from downwind.api.schemas.common import RequestBody, ResponseModel
from downwind.metastore.models.base import ID_LEN
from downwind.runtime.masking import MASK, is_sensitive_name
from downwind.services.variables import VariableRecord

__all__ = [
    "VariableBody",
    "VariableCollectionResponse",
    "VariableResponse",
    "shown_value",
    "variable_response",
]


class VariableBody(RequestBody):
    """A variable to create or change: ``value`` is any JSON value; one that is not a
    string is stored as its JSON text."""

    key: str = Field(min_length=1, max_length=ID_LEN)
    value: JsonValue
    description: str | None = None


class VariableResponse(ResponseModel):
    key: str
    #: ``***`` for a secret variable
    value: str | None
    description: str | None
    is_encrypted: bool
    team_name: str | None = None


class VariableCollectionResponse(ResponseModel):
    variables: list[VariableResponse]
    total_entries: int


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: MASK if is_sensitive_name(str(key)) and item is not None else _masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def shown_value(key: str, value: str | None) -> str | None:
    """What a response shows of variable ``key``'s value: ``***`` if the key looks secret,
    the value with its secret-looking JSON keys masked, else the value as stored."""
    if value is None:
        return None
    if is_sensitive_name(key):
        return MASK
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    masked = _masked(parsed)
    return value if masked == parsed else json.dumps(masked)


def variable_response(record: VariableRecord) -> VariableResponse:
    """The :class:`VariableResponse` of a variable, its secrets masked."""
    return VariableResponse(
        key=record.key,
        value=shown_value(record.key, record.val),
        description=record.description,
        is_encrypted=record.is_encrypted,
    )
