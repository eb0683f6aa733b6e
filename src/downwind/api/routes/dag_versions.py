"""``GET /api/v2/dags/{dag_id}/dagVersions`` (``~``: every DAG) and one version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from downwind.api.deps import SessionDep, requires
from downwind.api.pagination import Pagination, order_by_param, pagination, unless_wildcard
from downwind.api.schemas.dag_versions import (
    DAGVersionCollectionResponse,
    DagVersionResponse,
    dag_version_response,
)
from downwind.metastore.models import DagVersion
from downwind.security.roles import Permission
from downwind.services.dags import (
    DAG_VERSION_SORT_FIELDS,
    get_dag_model,
    get_dag_version,
    select_dag_versions,
)
from downwind.services.listing import SortKey, fetch_page

__all__ = ["router"]

router = APIRouter(prefix="/dags/{dag_id}/dagVersions", tags=["DagVersion"])


@router.get("", dependencies=[requires(Permission.READ)])
def get_dag_versions(
    session: SessionDep,
    dag_id: str,
    page: Annotated[Pagination, Depends(pagination)],
    order: Annotated[list[SortKey], Depends(order_by_param(DAG_VERSION_SORT_FIELDS, "id"))],
    version_number: int | None = None,
) -> DAGVersionCollectionResponse:
    """The stored versions of a DAG, or of every DAG with ``~``."""
    only = unless_wildcard(dag_id)
    if only is not None:
        get_dag_model(session, only)
    query, columns = select_dag_versions(only, version_number=version_number)
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=page.limit,
        offset=page.offset,
        tiebreaker=[DagVersion.id],
    )
    versions = [dag_version_response(version) for version in found.rows]
    return DAGVersionCollectionResponse(dag_versions=versions, total_entries=found.total_entries)


@router.get("/{version_number}", dependencies=[requires(Permission.READ)])
def get_dag_version_route(
    session: SessionDep, dag_id: str, version_number: int
) -> DagVersionResponse:
    """One stored version of a DAG."""
    return dag_version_response(get_dag_version(session, dag_id, version_number))
