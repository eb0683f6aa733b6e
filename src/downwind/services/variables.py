"""Variables in the metastore: list, get, set, delete, import and export.

Values are text, stored encrypted with ``[core] fernet_key`` (``is_encrypted``; see
:mod:`downwind.services.secrets`) and read back decrypted; a value stored in clear by an
older version still reads. The export format is Airflow's: one JSON object ``{"key":
"value", ...}``; an import also accepts non-string values (stored as their JSON text) and
``{"value": ..., "description": ...}`` objects, as Airflow 3 writes them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from downwind.exceptions import VariableNotFound
from downwind.metastore.models import VariableModel
from downwind.metastore.models.base import ID_LEN
from downwind.services.audit import record_action
from downwind.services.errors import AlreadyExists, InvalidInput
from downwind.services.listing import matches_pattern, matches_prefix
from downwind.services.secrets import seal, unseal

__all__ = [
    "VARIABLE_SORT_FIELDS",
    "VariableRecord",
    "create_variable",
    "delete_variable",
    "existing_variable_keys",
    "export_variables",
    "get_variable",
    "get_variable_record",
    "import_variables",
    "list_variables",
    "select_variables",
    "set_variable",
    "set_variable_value",
    "update_variable",
    "variable_record",
    "variable_text",
]

_NOTSET: Any = object()


@dataclass(frozen=True, slots=True, repr=False)
class VariableRecord:
    """A stored variable with its value decrypted (``is_encrypted``: how it is stored)."""

    key: str
    val: str | None
    description: str | None
    is_encrypted: bool

    def __repr__(self) -> str:  # never the value: it may be secret
        return f"VariableRecord({self.key!r})"


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > ID_LEN:
        raise InvalidInput(
            f"invalid variable key {key!r}: it must be a non-empty string of at most {ID_LEN} "
            "characters"
        )
    return key


def _find(session: Session, key: str) -> VariableModel | None:
    return session.scalar(select(VariableModel).where(VariableModel.key == key))


def _value(row: VariableModel) -> str | None:
    return unseal(row.val, row.is_encrypted, what=f"variable '{row.key}'")


def list_variables(session: Session) -> list[VariableRecord]:
    """Every variable, by key, its value decrypted."""
    rows = session.scalars(select(VariableModel).order_by(VariableModel.key))
    return [VariableRecord(r.key, _value(r), r.description, r.is_encrypted) for r in rows]


def get_variable(session: Session, key: str, default: Any = _NOTSET) -> Any:
    """The value of ``key``, else ``default``; without a default an undefined key raises
    :class:`~downwind.exceptions.VariableNotFound`."""
    row = _find(session, key)
    if row is not None:
        return _value(row)
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
    extra: dict[str, Any] | None = None,
) -> VariableModel:
    """Create or replace ``key`` (audited as ``variable.set``, without the value, plus
    ``extra``, e.g. the client's address). A ``description`` of ``None`` keeps the
    current one."""
    _check_key(key)
    if not isinstance(value, str):
        raise InvalidInput(f"variable '{key}': the value must be text, got {type(value).__name__}")
    row = _find(session, key)
    created = row is None
    row = _store(session, row, key, value)
    if description is not None:
        row.description = description
    record_action(
        session,
        "variable.set",
        owner=owner,
        now=now,
        extra={"key": key, "created": created, **(extra or {})},
    )
    return row


def _store(session: Session, row: VariableModel | None, key: str, value: str) -> VariableModel:
    """Put ``value``, encrypted, in ``row`` (a new row for ``key`` if ``None``)."""
    if row is None:
        row = VariableModel(key=key)
        session.add(row)
    row.val, row.is_encrypted = seal(value)
    return row


def set_variable_value(session: Session, key: str, value: str) -> VariableModel:
    """Create or replace ``key``, without an audit row: a task's ``Variable.set``."""
    return _store(session, _find(session, key), key, value)


def delete_variable(
    session: Session,
    key: str,
    *,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Delete ``key``; raises :class:`~downwind.exceptions.VariableNotFound` if undefined."""
    row = _find(session, key)
    if row is None:
        raise VariableNotFound(f"variable '{key}' is not defined")
    session.delete(row)
    record_action(
        session, "variable.delete", owner=owner, now=now, extra={"key": key, **(extra or {})}
    )


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
        row = _store(session, existing.get(key), key, value)
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


# -- listing and changing one field at a time (the REST API) --------------------------

#: the fields a variable listing may be sorted by (Airflow's names; ``_val`` sorts by
#: the stored, encrypted text)
VARIABLE_SORT_FIELDS = ("id", "key", "_val", "description", "is_encrypted")


def variable_record(row: VariableModel) -> VariableRecord:
    """The :class:`VariableRecord` of a row, its value decrypted."""
    return VariableRecord(row.key, _value(row), row.description, row.is_encrypted)


def get_variable_record(session: Session, key: str) -> VariableRecord:
    """The variable ``key``; raises :class:`~downwind.exceptions.VariableNotFound`."""
    row = _find(session, key)
    if row is None:
        raise VariableNotFound(f"variable '{key}' is not defined")
    return variable_record(row)


def select_variables(
    *, key_pattern: str | None = None, key_prefix_pattern: str | None = None
) -> tuple[Select[Any], dict[str, ColumnElement[Any]]]:
    """The variables whose key matches the patterns (see :mod:`downwind.services.listing`)
    and the columns of :data:`VARIABLE_SORT_FIELDS`."""
    query = select(VariableModel)
    for clause in (
        matches_pattern(VariableModel.key, key_pattern),
        matches_prefix(VariableModel.key, key_prefix_pattern),
    ):
        if clause is not None:
            query = query.where(clause)
    columns: dict[str, ColumnElement[Any]] = {
        "id": VariableModel.id,
        "key": VariableModel.key,
        "_val": VariableModel.val,
        "description": VariableModel.description,
        "is_encrypted": VariableModel.is_encrypted,
    }
    return query, columns


def existing_variable_keys(session: Session, keys: Collection[str]) -> set[str]:
    """Which of ``keys`` are defined."""
    if not keys:
        return set()
    found = session.scalars(select(VariableModel.key).where(VariableModel.key.in_(list(keys))))
    return set(found)


def variable_text(value: Any) -> str:
    """What is stored for ``value``: a string as is, anything else as its JSON text
    (``null``, ``42``, ``{"a": 1}``), as an import stores it."""
    return value if isinstance(value, str) else json.dumps(value)


def create_variable(
    session: Session,
    key: str,
    value: str,
    *,
    description: str | None = None,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> VariableModel:
    """Create ``key`` like :func:`set_variable`; raises
    :class:`~downwind.services.errors.AlreadyExists` if it is defined."""
    _check_key(key)
    if _find(session, key) is not None:
        raise AlreadyExists(f"variable '{key}' already exists")
    return set_variable(
        session, key, value, description=description, now=now, owner=owner, extra=extra
    )


def update_variable(
    session: Session,
    key: str,
    *,
    value: str = _NOTSET,
    description: str | None = _NOTSET,
    now: datetime,
    owner: str | None = None,
    extra: dict[str, Any] | None = None,
) -> VariableModel:
    """Change the value and/or the description (``None`` clears it) of an existing
    variable, leaving what is not given; audited as ``variable.set`` naming the fields.
    Raises :class:`~downwind.exceptions.VariableNotFound` if ``key`` is undefined."""
    row = _find(session, key)
    if row is None:
        raise VariableNotFound(f"variable '{key}' is not defined")
    fields = []
    if value is not _NOTSET:
        if not isinstance(value, str):
            raise InvalidInput(
                f"variable '{key}': the value must be text, got {type(value).__name__}"
            )
        _store(session, row, key, value)
        fields.append("value")
    if description is not _NOTSET:
        row.description = description
        fields.append("description")
    record_action(
        session,
        "variable.set",
        owner=owner,
        now=now,
        extra={"key": key, "created": False, "fields": fields, **(extra or {})},
    )
    return row
