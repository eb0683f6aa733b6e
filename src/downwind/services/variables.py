"""Variables in the metastore: list, get, set, delete, import and export.

Values are text, stored as given (not encrypted yet: ``is_encrypted`` stays false). The
export format is Airflow's: one JSON object ``{"key": "value", ...}``; an import also
accepts non-string values (stored as their JSON text) and ``{"value": ...,
"description": ...}`` objects, as Airflow 3 writes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.exceptions import VariableNotFound
from downwind.metastore.models import VariableModel
from downwind.metastore.models.base import ID_LEN
from downwind.services.audit import record_action
from downwind.services.errors import InvalidInput

__all__ = [
    "delete_variable",
    "export_variables",
    "get_variable",
    "import_variables",
    "list_variables",
    "set_variable",
]

_NOTSET: Any = object()


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > ID_LEN:
        raise InvalidInput(
            f"invalid variable key {key!r}: it must be a non-empty string of at most {ID_LEN} "
            "characters"
        )
    return key


def _find(session: Session, key: str) -> VariableModel | None:
    return session.scalar(select(VariableModel).where(VariableModel.key == key))


def list_variables(session: Session) -> list[VariableModel]:
    """Every variable, by key."""
    return list(session.scalars(select(VariableModel).order_by(VariableModel.key)))


def get_variable(session: Session, key: str, default: Any = _NOTSET) -> Any:
    """The value of ``key``, else ``default``; without a default an undefined key raises
    :class:`~downwind.exceptions.VariableNotFound`."""
    row = _find(session, key)
    if row is not None:
        return row.val
    if default is not _NOTSET:
        return default
    raise VariableNotFound(f"variable '{key}' is not defined")


def set_variable(
    session: Session,
    key: str,
    value: str,
    *,
    description: str | None = None,
    now: datetime,
    owner: str | None = None,
) -> VariableModel:
    """Create or replace ``key`` (audited as ``variable.set``, without the value). A
    ``description`` of ``None`` keeps the current one."""
    _check_key(key)
    if not isinstance(value, str):
        raise InvalidInput(f"variable '{key}': the value must be text, got {type(value).__name__}")
    row = _find(session, key)
    created = row is None
    if row is None:
        row = VariableModel(key=key, is_encrypted=False)
        session.add(row)
    row.val = value
    if description is not None:
        row.description = description
    record_action(
        session, "variable.set", owner=owner, now=now, extra={"key": key, "created": created}
    )
    return row


def delete_variable(session: Session, key: str, *, now: datetime, owner: str | None = None) -> None:
    """Delete ``key``; raises :class:`~downwind.exceptions.VariableNotFound` if undefined."""
    row = _find(session, key)
    if row is None:
        raise VariableNotFound(f"variable '{key}' is not defined")
    session.delete(row)
    record_action(session, "variable.delete", owner=owner, now=now, extra={"key": key})


def _import_entry(key: str, item: Any) -> tuple[str, str | None]:
    """``(value, description)`` of one entry of an import file."""
    if isinstance(item, Mapping) and "value" in item and set(item) <= {"value", "description"}:
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            raise InvalidInput(f"variable '{key}': description must be text")
        value = item["value"]
    else:
        value, description = item, None
    return (value if isinstance(value, str) else json.dumps(value)), description


def import_variables(
    session: Session, data: Any, *, now: datetime, owner: str | None = None
) -> tuple[int, int]:
    """Create or replace every variable of ``data`` (a JSON object); all or nothing.

    Returns ``(created, updated)``. Audited as one ``variable.import`` naming the keys.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"a variables file must hold a JSON object of keys and values, got "
            f"{type(data).__name__}"
        )
    entries = {_check_key(key): _import_entry(key, item) for key, item in data.items()}
    existing = {
        row.key: row
        for row in session.scalars(
            select(VariableModel).where(VariableModel.key.in_(list(entries)))
        )
    }
    for key, (value, description) in entries.items():
        row = existing.get(key)
        if row is None:
            row = VariableModel(key=key, is_encrypted=False)
            session.add(row)
        row.val = value
        if description is not None:
            row.description = description
    record_action(session, "variable.import", owner=owner, now=now, extra={"keys": sorted(entries)})
    return len(entries) - len(existing), len(existing)


def export_variables(session: Session) -> dict[str, Any]:
    """Every variable as ``{key: value}``, the value text as stored, or ``{key: {"value":
    value, "description": description}}`` when it has a description: an import gives back
    exactly the same variables."""
    return {
        row.key: row.val
        if row.description is None
        else {"value": row.val, "description": row.description}
        for row in list_variables(session)
    }
