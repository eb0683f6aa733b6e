"""Pools: list, create, bulk create/update/delete, get, patch, delete.

Reading needs ``read``; changing needs ``configure``. ``default_pool`` can be resized but
not deleted (400); a pool that unfinished task instances are in cannot be deleted (409).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel
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
from downwind.api.schemas.pools import (
    PoolBody,
    PoolCollectionResponse,
    PoolPatchBody,
    PoolResponse,
    pool_response,
)
from downwind.metastore.models import Pool
from downwind.security.roles import Permission
from downwind.services.listing import SortKey, fetch_page
from downwind.services.pools import (
    POOL_SORT_FIELDS,
    create_pool,
    delete_pool,
    existing_pool_names,
    get_pool,
    pool_infos,
    select_pools,
    set_pool,
    update_pool,
)

__all__ = ["router"]

router = APIRouter(prefix="/pools", tags=["Pool"])

READ = [requires(Permission.READ)]
CONFIGURE = [requires(Permission.CONFIGURE)]
Page = Annotated[Pagination, Depends(pagination)]
PoolOrder = Annotated[list[SortKey], Depends(order_by_param(POOL_SORT_FIELDS, "id"))]
UpdateMask = Annotated[
    list[str] | None, Query(description="Fields to update: `slots`, `description`.")
]
#: the fields an ``update_mask`` may name (the name cannot change)
_MASKABLE = ("name", "pool", "slots", "description", "include_deferred")
_PATTERN = (
    "Case-insensitive substring match (SQL `ILIKE`, `%` and `_` are wildcards); "
    "separate several with `|`; `~` matches all."
)


def _who(user: AuthenticatedUser) -> dict[str, Any]:
    """The audit fields of a change made by ``user``."""
    return {"owner": user.username, "extra": user.audit_extra()}


def _changes(body: BaseModel, update_mask: list[str] | None) -> dict[str, Any]:
    """The slots and description that ``body`` sets, only those of ``update_mask`` if
    given (a ``null`` slots changes nothing)."""
    fields = set(body.model_fields_set)
    mask = mask_fields(update_mask, _MASKABLE, "a pool's")
    if mask is not None:
        fields &= mask
    changes: dict[str, Any] = {}
    slots = getattr(body, "slots", None)
    if "slots" in fields and slots is not None:
        changes["slots"] = slots
    if "description" in fields:
        changes["description"] = getattr(body, "description", None)
    return changes


@router.get("", dependencies=READ)
def get_pools(
    session: SessionDep,
    page: Page,
    order: PoolOrder,
    pool_name_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    pool_name_prefix_pattern: Annotated[
        str | None, Query(description="Case-sensitive prefix match, taken literally.")
    ] = None,
) -> PoolCollectionResponse:
    """The pools with their slots in use, a page at a time."""
    query, columns = select_pools(
        name_pattern=pool_name_pattern, name_prefix_pattern=pool_name_prefix_pattern
    )
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=page.limit,
        offset=page.offset,
        tiebreaker=[Pool.id],
    )
    return PoolCollectionResponse(
        pools=[pool_response(info) for info in pool_infos(session, found.rows)],
        total_entries=found.total_entries,
    )


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=CONFIGURE)
def post_pool(session: SessionDep, user: CurrentUser, now: Now, body: PoolBody) -> PoolResponse:
    """Create a pool (409 if the name is taken)."""
    create_pool(session, body.name, body.slots, body.description, now=now, **_who(user))
    return pool_response(get_pool(session, body.name))


def _bulk_resource(
    session: Session, user: AuthenticatedUser, now: datetime
) -> BulkResource[PoolBody]:
    who = _who(user)

    def create(entity: PoolBody, overwrite: bool) -> None:
        write = set_pool if overwrite else create_pool
        write(session, entity.name, entity.slots, entity.description, now=now, **who)

    def update(entity: PoolBody, mask: list[str] | None) -> None:
        update_pool(session, entity.name, **_changes(entity, mask), now=now, **who)

    def delete(name: str) -> None:
        delete_pool(session, name, now=now, **who)

    return BulkResource(
        plural="pools",
        key_name="pool names",
        key_of=lambda entity: entity.name,
        existing=lambda names: existing_pool_names(session, names),
        create=create,
        update=update,
        delete=delete,
    )


@router.patch("", dependencies=CONFIGURE)
def bulk_pools(
    session: SessionDep, user: CurrentUser, now: Now, body: BulkBody[PoolBody]
) -> BulkResponse:
    """Create, update and delete pools in one request (see ``BulkBody``)."""
    return apply_bulk(session, body, _bulk_resource(session, user, now))


@router.get("/{pool_name:path}", dependencies=READ)
def get_pool_route(session: SessionDep, pool_name: str) -> PoolResponse:
    """One pool with its slots in use."""
    return pool_response(get_pool(session, pool_name))


@router.patch("/{pool_name:path}", dependencies=CONFIGURE)
def patch_pool(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    pool_name: str,
    body: PoolPatchBody,
    update_mask: UpdateMask = None,
) -> PoolResponse:
    """Change a pool's slots and/or description (only the fields of ``update_mask``, if
    given)."""
    if body.pool is not None and body.pool != pool_name:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Invalid body, pool name from request body doesn't match uri parameter",
        )
    update_pool(session, pool_name, **_changes(body, update_mask), now=now, **_who(user))
    return pool_response(get_pool(session, pool_name))


@router.delete(
    "/{pool_name:path}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=CONFIGURE,
)
def delete_pool_route(session: SessionDep, user: CurrentUser, now: Now, pool_name: str) -> None:
    """Delete a pool (204; 400 for ``default_pool``, 409 while it is in use)."""
    delete_pool(session, pool_name, now=now, **_who(user))
