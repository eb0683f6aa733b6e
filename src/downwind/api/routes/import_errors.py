"""``GET /api/v2/importErrors`` and one import error: DAG files that failed to load."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from downwind.api.deps import SessionDep, requires
from downwind.api.pagination import Pagination, order_by_param, pagination
from downwind.api.schemas.import_errors import (
    ImportErrorCollectionResponse,
    ImportErrorResponse,
    import_error_response,
)
from downwind.metastore.models import ParseImportError
from downwind.security.roles import Permission
from downwind.services.dags import IMPORT_ERROR_SORT_FIELDS, get_import_error, select_import_errors
from downwind.services.listing import SortKey, fetch_page

__all__ = ["router"]

router = APIRouter(prefix="/importErrors", tags=["ImportError"])


@router.get("", dependencies=[requires(Permission.READ)])
def get_import_errors(
    session: SessionDep,
    page: Annotated[Pagination, Depends(pagination)],
    order: Annotated[list[SortKey], Depends(order_by_param(IMPORT_ERROR_SORT_FIELDS, "id"))],
    filename: Annotated[str | None, Query(description="Exact file path.")] = None,
    filename_pattern: Annotated[str | None, Query()] = None,
    filename_prefix_pattern: Annotated[str | None, Query()] = None,
) -> ImportErrorCollectionResponse:
    """The import errors, a page at a time."""
    query, columns = select_import_errors(
        filename=filename,
        filename_pattern=filename_pattern,
        filename_prefix_pattern=filename_prefix_pattern,
    )
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=page.limit,
        offset=page.offset,
        tiebreaker=[ParseImportError.id],
    )
    errors = [import_error_response(error) for error in found.rows]
    return ImportErrorCollectionResponse(import_errors=errors, total_entries=found.total_entries)


@router.get("/{import_error_id}", dependencies=[requires(Permission.READ)])
def get_import_error_route(session: SessionDep, import_error_id: int) -> ImportErrorResponse:
    """One import error."""
    return import_error_response(get_import_error(session, import_error_id))
