"""``GET /api/v2/dagTags``: the tags of every DAG, each once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from downwind.api.deps import SessionDep, requires
from downwind.api.pagination import Pagination, order_by_param, pagination
from downwind.api.schemas.dag_tags import DAGTagCollectionResponse
from downwind.security.roles import Permission
from downwind.services.dags import select_dag_tags
from downwind.services.listing import SortKey, fetch_page

__all__ = ["router"]

router = APIRouter(prefix="/dagTags", tags=["DAG"])


@router.get("", dependencies=[requires(Permission.READ)])
def get_dag_tags(
    session: SessionDep,
    page: Annotated[Pagination, Depends(pagination)],
    order: Annotated[list[SortKey], Depends(order_by_param(("name",), "name"))],
    tag_name_pattern: Annotated[str | None, Query()] = None,
    tag_name_prefix_pattern: Annotated[str | None, Query()] = None,
) -> DAGTagCollectionResponse:
    """Tag names, a page at a time."""
    query, columns = select_dag_tags(tag_name_pattern, tag_name_prefix_pattern)
    found = fetch_page(
        session, query, sort=order, columns=columns, limit=page.limit, offset=page.offset
    )
    return DAGTagCollectionResponse(tags=found.rows, total_entries=found.total_entries)
