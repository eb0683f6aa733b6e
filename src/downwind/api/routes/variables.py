"""Variables: list, create, bulk create/update/delete, get, patch, delete.

Every route needs the ``configure`` permission, reads included (a variable may hold a
secret). Values are stored encrypted by the services; responses mask secret ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from sqlalchemy.orm import Session

from downwind.api.deps import AuthenticatedUser, CurrentUser, Now, SessionDep, requires
from downwind.api.pagination import Pagination, order_by_param, pagination
from downwind.api.schemas.bulk import (
    BulkBody,
    BulkResource,
    BulkResponse,
    apply_bulk,
    mask_fields,
)
from downwind.api.schemas.variables import (
    VariableBody,
    VariableCollectionResponse,
    VariableResponse,
    variable_response,
)
from downwind.metastore.models import VariableModel
from downwind.security.roles import Permission
from downwind.services.listing import SortKey, fetch_page
from downwind.services.variables import (
    VARIABLE_SORT_FIELDS,
    create_variable,
    delete_variable,
    existing_variable_keys,
    get_variable_record,
    select_variables,
    set_variable,
    update_variable,
    variable_record,
    variable_text,
)

__all__ = ["router"]

router = APIRouter(prefix="/variables", tags=["Variable"])

CONFIGURE = [requires(Permission.CONFIGURE)]
Page = Annotated[Pagination, Depends(pagination)]
VariableOrder = Annotated[list[SortKey], Depends(order_by_param(VARIABLE_SORT_FIELDS, "id"))]
UpdateMask = Annotated[
    list[str] | None, Query(description="Fields to update: `value`, `description`.")
]
#: the fields an ``update_mask`` may name (``key`` cannot change: it must match the path)
_MASKABLE = ("key", "value", "description")
_PATTERN = (
    "Case-insensitive substring match (SQL `ILIKE`, `%` and `_` are wildcards); "
    "separate several with `|`; `~` matches all."
)


def _who(user: AuthenticatedUser) -> dict[str, Any]:
    """The audit fields of a change made by ``user``."""
    return {"owner": user.username, "extra": user.audit_extra()}


def _changes(body: VariableBody, update_mask: list[str] | None) -> dict[str, Any]:
    """The fields of ``body`` to apply: those it sets, only those of ``update_mask`` if
    given; the value as stored (text)."""
    fields = set(body.model_fields_set)
    mask = mask_fields(update_mask, _MASKABLE, "a variable's")
    if mask is not None:
        fields &= mask
    changes: dict[str, Any] = {}
    if "value" in fields:
        changes["value"] = variable_text(body.value)
    if "description" in fields:
        changes["description"] = body.description
    return changes


@router.get("", dependencies=CONFIGURE)
def get_variables(
    session: SessionDep,
    page: Page,
    order: VariableOrder,
    variable_key_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    variable_key_prefix_pattern: Annotated[
        str | None, Query(description="Case-sensitive prefix match, taken literally.")
    ] = None,
) -> VariableCollectionResponse:
    """The variables, a page at a time, secret values masked."""
    query, columns = select_variables(
        key_pattern=variable_key_pattern, key_prefix_pattern=variable_key_prefix_pattern
    )
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=page.limit,
        offset=page.offset,
        tiebreaker=[VariableModel.id],
    )
    return VariableCollectionResponse(
        variables=[variable_response(variable_record(row)) for row in found.rows],
        total_entries=found.total_entries,
    )


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=CONFIGURE)
def post_variable(
    session: SessionDep, user: CurrentUser, now: Now, body: VariableBody
) -> VariableResponse:
    """Create a variable (409 if its key is taken)."""
    create_variable(
        session,
        body.key,
        variable_text(body.value),
        description=body.description,
        now=now,
        **_who(user),
    )
    return variable_response(get_variable_record(session, body.key))


def _bulk_resource(
    session: Session, user: AuthenticatedUser, now: datetime
) -> BulkResource[VariableBody]:
    who = _who(user)

    def create(entity: VariableBody, overwrite: bool) -> None:
        write = set_variable if overwrite else create_variable
        value = variable_text(entity.value)
        write(session, entity.key, value, description=entity.description, now=now, **who)

    def update(entity: VariableBody, mask: list[str] | None) -> None:
        update_variable(session, entity.key, **_changes(entity, mask), now=now, **who)

    def delete(key: str) -> None:
        delete_variable(session, key, now=now, **who)

    return BulkResource(
        plural="variables",
        key_name="keys",
        key_of=lambda entity: entity.key,
        existing=lambda keys: existing_variable_keys(session, keys),
        create=create,
        update=update,
        delete=delete,
    )


@router.patch("", dependencies=CONFIGURE)
def bulk_variables(
    session: SessionDep, user: CurrentUser, now: Now, body: BulkBody[VariableBody]
) -> BulkResponse:
    """Create, update and delete variables in one request (see ``BulkBody``)."""
    return apply_bulk(session, body, _bulk_resource(session, user, now))


@router.get("/{variable_key:path}", dependencies=CONFIGURE)
def get_variable(session: SessionDep, variable_key: str) -> VariableResponse:
    """One variable, its value masked if it is secret."""
    return variable_response(get_variable_record(session, variable_key))


@router.patch("/{variable_key:path}", dependencies=CONFIGURE)
def patch_variable(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    variable_key: str,
    body: VariableBody,
    update_mask: UpdateMask = None,
) -> VariableResponse:
    """Change a variable's value and/or description (only the fields of
    ``update_mask``, if given)."""
    if body.key != variable_key:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Invalid body, key from request body doesn't match uri parameter",
        )
    update_variable(session, variable_key, **_changes(body, update_mask), now=now, **_who(user))
    return variable_response(get_variable_record(session, variable_key))


@router.delete(
    "/{variable_key:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=CONFIGURE,
)
def delete_variable_route(
    session: SessionDep, user: CurrentUser, now: Now, variable_key: str
) -> None:
    """Delete a variable (204)."""
    delete_variable(session, variable_key, now=now, **_who(user))
