"""XComs of a task instance: list (``~`` for every DAG, run or task), get one with its
value, and create, update or delete one (a user's writes are audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from downwind.api.deps import CurrentUser, Now, SessionDep, requires
from downwind.api.pagination import Pagination, order_by_param, pagination, unless_wildcard
from downwind.api.ranges import LogicalDateRange, RunAfterRange
from downwind.api.schemas.xcom import (
    XComCollectionResponse,
    XComCreateBody,
    XComResponseNative,
    XComResponseString,
    XComUpdateBody,
    native_response,
    string_response,
    xcom_response,
)
from downwind.metastore.models import XComModel
from downwind.security.roles import Permission
from downwind.services.listing import SortKey, fetch_page
from downwind.services.xcoms import (
    XCOM_SORT_FIELDS,
    XComFilters,
    create_xcom,
    delete_xcom,
    describe_xcoms,
    get_xcom,
    select_xcoms,
    update_xcom,
)

__all__ = ["router"]

router = APIRouter(
    prefix="/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
    tags=["XCom"],
)

XComOrder = Annotated[list[SortKey], Depends(order_by_param(XCOM_SORT_FIELDS, "dag_id"))]
MapIndex = Annotated[int, Query(ge=-1, description="The task instance's map index.")]
_PATTERN = "Case-insensitive substring match; separate several with `|`."
_PREFIX = "Case-sensitive prefix match; separate several with `|`."


@router.get("", dependencies=[requires(Permission.READ)])
def get_xcom_entries(
    session: SessionDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    page: Annotated[Pagination, Depends(pagination)],
    order: XComOrder,
    logical_date: LogicalDateRange,
    run_after: RunAfterRange,
    xcom_key: str | None = None,
    map_index: Annotated[int | None, Query(ge=-1)] = None,
    xcom_key_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    xcom_key_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    dag_display_name_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    dag_display_name_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    run_id_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    run_id_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    task_id_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    task_id_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
) -> XComCollectionResponse:
    """The XComs of a task instance (without their values); ``~`` as the DAG id, run id
    or task id lists those of every DAG, run or task."""
    filters = XComFilters(
        dag_id=unless_wildcard(dag_id),
        run_id=unless_wildcard(dag_run_id),
        task_id=unless_wildcard(task_id),
        key=xcom_key,
        map_index=map_index,
        patterns={
            "key": xcom_key_pattern,
            "dag_id": dag_display_name_pattern,
            "run_id": run_id_pattern,
            "task_id": task_id_pattern,
        },
        prefixes={
            "key": xcom_key_prefix_pattern,
            "dag_id": dag_display_name_prefix_pattern,
            "run_id": run_id_prefix_pattern,
            "task_id": task_id_prefix_pattern,
        },
        ranges={"logical_date": logical_date, "run_after": run_after},
    )
    query, columns = select_xcoms(filters)
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=page.limit,
        offset=page.offset,
        tiebreaker=[
            XComModel.dag_id,
            XComModel.task_id,
            XComModel.run_id,
            XComModel.map_index,
            XComModel.key,
        ],
    )
    entries = [xcom_response(view) for view in describe_xcoms(found.rows)]
    return XComCollectionResponse(xcom_entries=entries, total_entries=found.total_entries)


@router.get("/{xcom_key}", dependencies=[requires(Permission.READ)])
def get_xcom_entry(
    session: SessionDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    map_index: MapIndex = -1,
    deserialize: Annotated[
        bool,
        Query(description="The value as the task pushed it (datetimes as ISO 8601 text...)."),
    ] = False,
    stringify: Annotated[bool, Query(description="The value as text (Python's `str`).")] = False,
) -> XComResponseNative | XComResponseString:
    """One XCom with its value: as stored (JSON; downwind's extra types in their tagged
    form), deserialized, or as text."""
    view = get_xcom(session, dag_id, dag_run_id, task_id, xcom_key, map_index)
    if stringify:
        return string_response(view, deserialize=deserialize)
    return native_response(view, deserialize=deserialize)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[requires(Permission.OPERATE)])
def create_xcom_entry(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: XComCreateBody,
) -> XComResponseNative:
    """Push an XCom for the task instance (409 when it has one with this key)."""
    view = create_xcom(
        session,
        dag_id,
        dag_run_id,
        task_id,
        body.key,
        body.value,
        map_index=body.map_index,
        now=now,
        owner=user.username,
        extra=user.audit_extra(),
    )
    return native_response(view)


@router.patch("/{xcom_key}", dependencies=[requires(Permission.OPERATE)])
def update_xcom_entry(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    body: XComUpdateBody,
) -> XComResponseNative:
    """Replace the value of an XCom."""
    view = update_xcom(
        session,
        dag_id,
        dag_run_id,
        task_id,
        xcom_key,
        body.value,
        map_index=body.map_index,
        now=now,
        owner=user.username,
        extra=user.audit_extra(),
    )
    return native_response(view)


@router.delete(
    "/{xcom_key}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[requires(Permission.OPERATE)],
)
def delete_xcom_entry(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    map_index: MapIndex = -1,
) -> None:
    """Delete an XCom."""
    delete_xcom(
        session,
        dag_id,
        dag_run_id,
        task_id,
        xcom_key,
        map_index=map_index,
        now=now,
        owner=user.username,
        extra=user.audit_extra(),
    )
