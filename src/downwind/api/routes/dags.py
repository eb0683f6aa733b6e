"""DAGs: list (with filters), get, details, pause and unpause (one or many), delete."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from downwind.api.deps import CurrentUser, Now, SessionDep, context, requires
from downwind.api.pagination import Pagination, order_by_param, pagination
from downwind.api.schemas.dags import (
    DAGCollectionResponse,
    DAGDetailsResponse,
    DAGPatchBody,
    DAGResponse,
    dag_details_response,
    dag_response,
)
from downwind.metastore.models import DagModel
from downwind.security.roles import Permission
from downwind.services.dags import (
    DAG_SORT_FIELDS,
    DagFilters,
    dag_shapes,
    delete_dag,
    get_dag_details,
    get_dag_model,
    select_dags,
    set_paused,
)
from downwind.services.listing import SortKey, fetch_page
from downwind.states import DagRunState

__all__ = ["router"]

router = APIRouter(prefix="/dags", tags=["DAG"])

_PATTERN = (
    "Case-insensitive substring match (SQL `ILIKE`, `%` and `_` are wildcards); "
    "separate several with `|`; `~` matches all."
)
_PREFIX = "Case-sensitive prefix match, taken literally; separate several with `|`."
DagOrder = Annotated[list[SortKey], Depends(order_by_param(DAG_SORT_FIELDS, "dag_id"))]


def dag_filters(
    tags: Annotated[list[str] | None, Query()] = None,
    tags_match_mode: Literal["any", "all"] | None = None,
    owners: Annotated[list[str] | None, Query()] = None,
    dag_id_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    dag_id_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    dag_display_name_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    dag_display_name_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    exclude_stale: bool = True,
    paused: bool | None = None,
    has_import_errors: bool | None = None,
    last_dag_run_state: DagRunState | None = None,
) -> DagFilters:
    """The filters of ``GET /dags`` (and ``PATCH /dags``)."""
    return DagFilters(
        tags=tags or (),
        match_all_tags=tags_match_mode == "all",
        owners=owners or (),
        dag_id_pattern=dag_id_pattern,
        dag_id_prefix_pattern=dag_id_prefix_pattern,
        dag_display_name_pattern=dag_display_name_pattern,
        dag_display_name_prefix_pattern=dag_display_name_prefix_pattern,
        exclude_stale=exclude_stale,
        paused=paused,
        has_import_errors=has_import_errors,
        last_dag_run_state=None if last_dag_run_state is None else last_dag_run_state.value,
    )


Filters = Annotated[DagFilters, Depends(dag_filters)]
Page = Annotated[Pagination, Depends(pagination)]
UpdateMask = Annotated[list[str] | None, Query(description="Fields to update: `is_paused`.")]


def _collection(
    request: Request, session: SessionDep, models: list[DagModel], total: int
) -> DAGCollectionResponse:
    shapes = dag_shapes(session, [model.dag_id for model in models])
    folder = context(request).conf.core.dags_folder
    dags = [dag_response(model, shapes.get(model.dag_id), folder) for model in models]
    return DAGCollectionResponse(dags=dags, total_entries=total)


def _check_update_mask(update_mask: list[str] | None) -> None:
    if update_mask and any(field != "is_paused" for field in update_mask):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Only `is_paused` field can be updated through the REST API",
        )


@router.get("", dependencies=[requires(Permission.READ)])
def get_dags(
    request: Request, session: SessionDep, filters: Filters, page: Page, order: DagOrder
) -> DAGCollectionResponse:
    """The DAGs matching the filters, a page at a time."""
    query, columns = select_dags(filters)
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=page.limit,
        offset=page.offset,
        tiebreaker=[DagModel.dag_id],
    )
    return _collection(request, session, found.rows, found.total_entries)


@router.patch("", dependencies=[requires(Permission.OPERATE)])
def patch_dags(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    body: DAGPatchBody,
    filters: Filters,
    page: Page,
    update_mask: UpdateMask = None,
) -> DAGCollectionResponse:
    """Pause or unpause every DAG matching the filters (a page of them). As in Airflow,
    a DAG id pattern is required: without one no DAG matches (``~`` matches all)."""
    _check_update_mask(update_mask)
    if filters.dag_id_pattern is None and filters.dag_id_prefix_pattern is None:
        return DAGCollectionResponse(dags=[], total_entries=0)
    query, columns = select_dags(filters)
    found = fetch_page(
        session,
        query,
        sort=[SortKey("dag_id")],
        columns=columns,
        limit=page.limit,
        offset=page.offset,
    )
    for model in found.rows:
        set_paused(
            session,
            model.dag_id,
            body.is_paused,
            now=now,
            owner=user.username,
            extra=user.audit_extra(),
        )
    return _collection(request, session, found.rows, found.total_entries)


@router.get("/{dag_id}", dependencies=[requires(Permission.READ)])
def get_dag(request: Request, session: SessionDep, dag_id: str) -> DAGResponse:
    """One DAG."""
    model = get_dag_model(session, dag_id)
    shape = dag_shapes(session, [dag_id]).get(dag_id)
    return dag_response(model, shape, context(request).conf.core.dags_folder)


@router.patch("/{dag_id}", dependencies=[requires(Permission.OPERATE)])
def patch_dag(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    body: DAGPatchBody,
    update_mask: UpdateMask = None,
) -> DAGResponse:
    """Pause or unpause one DAG."""
    _check_update_mask(update_mask)
    model = set_paused(
        session, dag_id, body.is_paused, now=now, owner=user.username, extra=user.audit_extra()
    )
    shape = dag_shapes(session, [dag_id]).get(dag_id)
    return dag_response(model, shape, context(request).conf.core.dags_folder)


@router.delete("/{dag_id}", dependencies=[requires(Permission.OPERATE)])
def delete_dag_route(
    session: SessionDep, user: CurrentUser, now: Now, dag_id: str
) -> dict[str, Any]:
    """Delete a DAG and its whole history (409 while a task of it is queued or running).
    Its file, if still in the dags folder, brings it back at the next parse."""
    delete_dag(session, dag_id, now=now, owner=user.username, extra=user.audit_extra())
    return {"dag_id": dag_id}


@router.get("/{dag_id}/details", dependencies=[requires(Permission.READ)])
def get_dag_details_route(request: Request, session: SessionDep, dag_id: str) -> DAGDetailsResponse:
    """One DAG with the attributes of its latest version."""
    details = get_dag_details(session, dag_id)
    return dag_details_response(details, context(request).conf.core.dags_folder)
