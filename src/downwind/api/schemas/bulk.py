"""Bulk bodies (``PATCH /variables``, ``/connections``, ``/pools``) and how they are applied.

A body is Airflow's ``{"actions": [...]}``; each action creates, updates or deletes a
list of entities:

- ``create`` with ``action_on_existence``: ``fail`` (the default: if any entity exists,
  the whole action is refused with a 409 error and nothing of it is done), ``skip`` (those
  that exist are left alone) or ``overwrite`` (they are replaced);
- ``update`` (optionally limited to the fields of ``update_mask``) and ``delete`` (by key,
  or by entity) with ``action_on_non_existence``: ``fail`` (the default: if any entity is
  missing, the whole action is refused with a 404 error) or ``skip``.

The answer is ``{"create": {"success": [keys], "errors": [...]}, "update": ...,
"delete": ...}`` (``null`` for an action kind not asked for). Each entity is applied in its
own savepoint: one that a service refuses (a bad value, a pool in use) is reported as
``{"error": "...", "status_code": 400}`` and leaves the others done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from downwind.api.errors import status_of
from downwind.api.schemas.common import RequestBody, ResponseModel
from downwind.exceptions import DownwindException
from downwind.services.errors import InvalidInput

__all__ = [
    "BulkActionResponse",
    "BulkBody",
    "BulkCreateAction",
    "BulkDeleteAction",
    "BulkResource",
    "BulkResponse",
    "BulkUpdateAction",
    "apply_bulk",
    "mask_fields",
]

T = TypeVar("T", bound=BaseModel)


class BulkCreateAction(RequestBody, Generic[T]):
    """Create ``entities``."""

    action: Literal["create"] = Field(description="The action to be performed on the entities.")
    entities: list[T] = Field(description="A list of entities to be created.")
    action_on_existence: Literal["fail", "skip", "overwrite"] = "fail"


class BulkUpdateAction(RequestBody, Generic[T]):
    """Update ``entities`` (only the fields of ``update_mask``, if given)."""

    action: Literal["update"] = Field(description="The action to be performed on the entities.")
    entities: list[T] = Field(description="A list of entities to be updated.")
    update_mask: list[str] | None = Field(
        default=None,
        description="A list of field names to update for each entity; the other fields "
        "of the entities are ignored.",
    )
    action_on_non_existence: Literal["fail", "skip"] = "fail"


class BulkDeleteAction(RequestBody, Generic[T]):
    """Delete the entities named (by key, or by an entity object)."""

    action: Literal["delete"] = Field(description="The action to be performed on the entities.")
    entities: list[str | T] = Field(
        description="A list of entity id/key or entity objects to be deleted."
    )
    action_on_non_existence: Literal["fail", "skip"] = "fail"


class BulkBody(RequestBody, Generic[T]):
    """Airflow's bulk body: a list of actions, applied in order."""

    actions: list[
        Annotated[
            BulkCreateAction[T] | BulkUpdateAction[T] | BulkDeleteAction[T],
            Field(discriminator="action"),
        ]
    ]


class BulkActionResponse(ResponseModel):
    """What one kind of action did: the keys done, and the errors met."""

    success: list[str] = Field(
        default_factory=list, description="A list of unique id/key of successful operations."
    )
    errors: list[dict[str, Any]] = Field(
        default_factory=list,
        description="A list of errors encountered during the operation, each containing "
        "details about the issue.",
    )


class BulkResponse(ResponseModel):
    """The outcome of a bulk request, per kind of action (``null`` when not asked for)."""

    create: BulkActionResponse | None = None
    update: BulkActionResponse | None = None
    delete: BulkActionResponse | None = None


@dataclass(frozen=True)
class BulkResource(Generic[T]):
    """How one resource takes part in bulk requests: its keys, and the service calls."""

    #: the entities' plural and the name of their key, for messages ("variables", "keys")
    plural: str
    key_name: str
    key_of: Callable[[T], str]
    #: which of the keys exist
    existing: Callable[[set[str]], set[str]]
    #: create an entity; ``True``: replace it if it exists
    create: Callable[[T, bool], None]
    #: update an entity, only the fields of the mask if there is one
    update: Callable[[T, list[str] | None], None]
    delete: Callable[[str], None]


def mask_fields(
    update_mask: list[str] | None, allowed: Sequence[str], noun: str
) -> set[str] | None:
    """The field names of an ``update_mask`` (repeated, or comma-separated), ``None`` for
    none; :class:`~downwind.services.errors.InvalidInput` naming an unknown one."""
    if not update_mask:
        return None
    names = {name.strip() for item in update_mask for name in item.split(",") if name.strip()}
    unknown = sorted(names - set(allowed))
    if unknown:
        raise InvalidInput(
            f"update_mask names unknown field(s) {', '.join(unknown)}; {noun} fields are "
            f"{', '.join(allowed)}"
        )
    return names


def _keys_text(keys: set[str]) -> str:
    return "{" + ", ".join(repr(key) for key in sorted(keys)) + "}"


def _apply_each(
    session: Session,
    keys: Sequence[str],
    apply: Callable[[int], None],
    result: BulkActionResponse,
) -> None:
    """``apply(i)`` for each entity, each in a savepoint; a refused one becomes an error."""
    for index, key in enumerate(keys):
        try:
            with session.begin_nested():
                apply(index)
        except DownwindException as err:
            code = status_of(err)
            if code >= 500:
                raise
            result.errors.append({"error": str(err), "status_code": code, "key": key})
        else:
            result.success.append(key)


def apply_bulk(session: Session, body: BulkBody[T], resource: BulkResource[T]) -> BulkResponse:
    """Apply every action of ``body`` to ``resource``, in order."""
    results: dict[str, BulkActionResponse] = {}
    for action in body.actions:
        result = results.setdefault(action.action, BulkActionResponse())
        if isinstance(action, BulkCreateAction):
            _create(session, action, resource, result)
        elif isinstance(action, BulkUpdateAction):
            _update(session, action, resource, result)
        else:
            _delete(session, action, resource, result)
    return BulkResponse(**results)


def _create(
    session: Session,
    action: BulkCreateAction[T],
    resource: BulkResource[T],
    result: BulkActionResponse,
) -> None:
    keys = [resource.key_of(entity) for entity in action.entities]
    existing = resource.existing(set(keys))
    if existing and action.action_on_existence == "fail":
        result.errors.append(
            {
                "error": f"The {resource.plural} with these {resource.key_name}: "
                f"{_keys_text(existing)} already exist.",
                "status_code": 409,
            }
        )
        return
    overwrite = action.action_on_existence == "overwrite"
    chosen = [i for i, key in enumerate(keys) if overwrite or key not in existing]
    _apply_each(
        session,
        [keys[i] for i in chosen],
        lambda n: resource.create(action.entities[chosen[n]], overwrite),
        result,
    )


def _missing_error(resource: BulkResource[T], missing: set[str]) -> dict[str, Any]:
    return {
        "error": f"The {resource.plural} with these {resource.key_name}: "
        f"{_keys_text(missing)} were not found.",
        "status_code": 404,
    }


def _update(
    session: Session,
    action: BulkUpdateAction[T],
    resource: BulkResource[T],
    result: BulkActionResponse,
) -> None:
    keys = [resource.key_of(entity) for entity in action.entities]
    missing = set(keys) - resource.existing(set(keys))
    if missing and action.action_on_non_existence == "fail":
        result.errors.append(_missing_error(resource, missing))
        return
    chosen = [i for i, key in enumerate(keys) if key not in missing]
    _apply_each(
        session,
        [keys[i] for i in chosen],
        lambda n: resource.update(action.entities[chosen[n]], action.update_mask),
        result,
    )


def _delete(
    session: Session,
    action: BulkDeleteAction[T],
    resource: BulkResource[T],
    result: BulkActionResponse,
) -> None:
    keys = list(
        dict.fromkeys(
            entity if isinstance(entity, str) else resource.key_of(entity)
            for entity in action.entities
        )
    )
    missing = set(keys) - resource.existing(set(keys))
    if missing and action.action_on_non_existence == "fail":
        result.errors.append(_missing_error(resource, missing))
        return
    chosen = [key for key in keys if key not in missing]
    _apply_each(session, chosen, lambda n: resource.delete(chosen[n]), result)
