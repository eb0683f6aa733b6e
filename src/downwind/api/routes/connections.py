"""Connections: list, create, bulk create/update/delete, get, patch, delete, test, defaults.

Every route needs the ``configure`` permission, reads included. Passwords and extras are
stored encrypted by the services; responses show ``***`` for the password and for
secret-looking extras, and a ``***`` sent back in a change keeps the stored secret.

Two of Airflow's routes do nothing here, by design: ``POST /connections/test`` is
refused (403), as in Airflow with ``[core] test_connection = Disabled`` (its default):
downwind has no hooks to test with, and an API server that connects wherever a request
says is a risk; ``POST /connections/defaults`` answers 204 and creates nothing: downwind
has no providers whose default connections it would create.
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
from downwind.api.schemas.connections import (
    ConnectionBody,
    ConnectionCollectionResponse,
    ConnectionResponse,
    ConnectionTestResponse,
    connection_response,
)
from downwind.metastore.models import ConnectionModel
from downwind.runtime.connection import Connection
from downwind.security.roles import Permission
from downwind.services.connections import (
    CONNECTION_SORT_FIELDS,
    UPDATABLE_FIELDS,
    add_connection,
    build_connection,
    connection_from_row,
    delete_connection,
    existing_connection_ids,
    get_connection,
    select_connections,
    update_connection,
)
from downwind.services.listing import SortKey, fetch_page

__all__ = ["TEST_CONNECTION_DISABLED", "router"]

router = APIRouter(prefix="/connections", tags=["Connection"])

CONFIGURE = [requires(Permission.CONFIGURE)]
Page = Annotated[Pagination, Depends(pagination)]
ConnectionOrder = Annotated[list[SortKey], Depends(order_by_param(CONNECTION_SORT_FIELDS, "id"))]
UpdateMask = Annotated[
    list[str] | None,
    Query(description=f"Fields to update: {', '.join(f'`{f}`' for f in UPDATABLE_FIELDS)}."),
]
#: the answer of ``POST /connections/test``
TEST_CONNECTION_DISABLED = (
    "Testing connections is disabled: downwind does not test connections from the API "
    "server (as Airflow with [core] test_connection = Disabled, its default)"
)
_PATTERN = (
    "Case-insensitive substring match (SQL `ILIKE`, `%` and `_` are wildcards); "
    "separate several with `|`; `~` matches all."
)
#: a body's field names -> the service's
_FIELD = {"schema_": "schema"}


def _who(user: AuthenticatedUser) -> dict[str, Any]:
    """The audit fields of a change made by ``user``."""
    return {"owner": user.username, "extra": user.audit_extra()}


def _connection(body: ConnectionBody) -> Connection:
    """The checked connection of a body (400 for a bad value)."""
    return build_connection(
        body.connection_id,
        conn_type=body.conn_type,
        description=body.description,
        host=body.host,
        login=body.login,
        schema=body.schema_,
        port=body.port,
        password=body.password,
        extra=body.extra,
    )


def _changes(body: ConnectionBody, update_mask: list[str] | None) -> dict[str, Any]:
    """The fields of ``body`` to apply: those it sets (but its id), only those of
    ``update_mask`` if given."""
    fields = {_FIELD.get(name, name) for name in body.model_fields_set} - {"connection_id"}
    mask = mask_fields(update_mask, ("connection_id", *UPDATABLE_FIELDS), "a connection's")
    if mask is not None:
        fields &= mask
    values = body.model_dump(by_alias=True)
    return {name: values[name] for name in fields}


@router.get("", dependencies=CONFIGURE)
def get_connections(
    session: SessionDep,
    page: Page,
    order: ConnectionOrder,
    connection_id_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    connection_id_prefix_pattern: Annotated[
        str | None, Query(description="Case-sensitive prefix match, taken literally.")
    ] = None,
) -> ConnectionCollectionResponse:
    """The connections, a page at a time, secrets masked."""
    query, columns = select_connections(
        id_pattern=connection_id_pattern, id_prefix_pattern=connection_id_prefix_pattern
    )
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=page.limit,
        offset=page.offset,
        tiebreaker=[ConnectionModel.id],
    )
    return ConnectionCollectionResponse(
        connections=[connection_response(connection_from_row(row)) for row in found.rows],
        total_entries=found.total_entries,
    )


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=CONFIGURE)
def post_connection(
    session: SessionDep, user: CurrentUser, now: Now, body: ConnectionBody
) -> ConnectionResponse:
    """Create a connection (409 if its id is taken)."""
    add_connection(session, _connection(body), now=now, **_who(user))
    return connection_response(get_connection(session, body.connection_id))


def _bulk_resource(
    session: Session, user: AuthenticatedUser, now: datetime
) -> BulkResource[ConnectionBody]:
    who = _who(user)

    def create(entity: ConnectionBody, overwrite: bool) -> None:
        add_connection(session, _connection(entity), now=now, replace=overwrite, **who)

    def update(entity: ConnectionBody, mask: list[str] | None) -> None:
        changes = _changes(entity, mask)
        update_connection(session, entity.connection_id, changes, now=now, **who)

    def delete(conn_id: str) -> None:
        delete_connection(session, conn_id, now=now, **who)

    return BulkResource(
        plural="connections",
        key_name="connection_ids",
        key_of=lambda entity: entity.connection_id,
        existing=lambda ids: existing_connection_ids(session, ids),
        create=create,
        update=update,
        delete=delete,
    )


@router.patch("", dependencies=CONFIGURE)
def bulk_connections(
    session: SessionDep, user: CurrentUser, now: Now, body: BulkBody[ConnectionBody]
) -> BulkResponse:
    """Create, update and delete connections in one request (see ``BulkBody``)."""
    return apply_bulk(session, body, _bulk_resource(session, user, now))


@router.post("/test", dependencies=CONFIGURE)
def test_connection(body: ConnectionBody) -> ConnectionTestResponse:
    """Refused (403): downwind does not test connections (see the module's docstring)."""
    raise HTTPException(status.HTTP_403_FORBIDDEN, TEST_CONNECTION_DISABLED)


@router.post(
    "/defaults",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=CONFIGURE,
)
def create_default_connections() -> None:
    """Create the default connections: none (downwind has no providers), 204."""


@router.get("/{connection_id}", dependencies=CONFIGURE)
def get_connection_route(session: SessionDep, connection_id: str) -> ConnectionResponse:
    """One connection, its secrets masked."""
    return connection_response(get_connection(session, connection_id))


@router.patch("/{connection_id}", dependencies=CONFIGURE)
def patch_connection(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    connection_id: str,
    body: ConnectionBody,
    update_mask: UpdateMask = None,
) -> ConnectionResponse:
    """Change the fields the body sets (only those of ``update_mask``, if given); a
    password or extra value of ``***`` keeps the stored secret."""
    if body.connection_id != connection_id:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "The connection_id in the request body does not match the URL parameter",
        )
    conn = update_connection(
        session, connection_id, _changes(body, update_mask), now=now, **_who(user)
    )
    return connection_response(conn)


@router.delete(
    "/{connection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=CONFIGURE,
)
def delete_connection_route(
    session: SessionDep, user: CurrentUser, now: Now, connection_id: str
) -> None:
    """Delete a connection (204)."""
    delete_connection(session, connection_id, now=now, **_who(user))
