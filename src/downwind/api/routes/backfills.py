"""Backfills: list, create, dry run, get, pause, unpause, cancel.

Reading needs ``read``; the rest ``operate``. Creating one records the request; the
scheduler creates its runs a few at a time (see :mod:`downwind.services.backfills`).
As in Airflow, a request the backfill rules refuse (dates, a DAG without a schedule, a
bad conf or ``max_active_runs``) is a 422 with the reason as ``detail``; an unknown DAG
or backfill a 404; a second unfinished backfill of a DAG, or pausing a finished one, a
409.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from sqlalchemy.orm import Session

from downwind.api.deps import AuthenticatedUser, CurrentUser, Now, SessionDep, requires
from downwind.api.pagination import Pagination, order_by_param, pagination
from downwind.api.schemas.backfills import (
    BackfillCollectionResponse,
    BackfillPostBody,
    BackfillResponse,
    DryRunBackfillCollectionResponse,
    backfill_response,
    dry_run_response,
)
from downwind.exceptions import ParamValidationError
from downwind.metastore.models import Backfill
from downwind.security.roles import Permission
from downwind.services.backfills import (
    BACKFILL_SORT_FIELDS,
    BackfillPlan,
    cancel_backfill,
    create_backfill,
    get_backfill,
    select_backfills,
    set_backfill_paused,
)
from downwind.services.errors import InvalidInput
from downwind.services.listing import SortKey, fetch_page

__all__ = ["RUN_BACKWARDS_UNSUPPORTED", "router"]

router = APIRouter(prefix="/backfills", tags=["Backfill"])

READ = [requires(Permission.READ)]
OPERATE = [requires(Permission.OPERATE)]
Page = Annotated[Pagination, Depends(pagination)]
BackfillOrder = Annotated[list[SortKey], Depends(order_by_param(BACKFILL_SORT_FIELDS, "id"))]
BackfillId = Annotated[int, Path(ge=0)]
RUN_BACKWARDS_UNSUPPORTED = (
    "run_backwards is not supported: downwind runs a backfill's logical dates oldest first"
)


@contextmanager
def _refusals_as_unprocessable() -> Iterator[None]:
    """What the backfill rules refuse, as Airflow answers it: 422 with the reason."""
    try:
        yield
    except (InvalidInput, ParamValidationError) as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None
    except OverflowError:  # date math past year 1 or 9999
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "from_date or to_date is too close to the limits of the calendar (years 1 and 9999)",
        ) from None


def _plan(
    session: Session,
    body: BackfillPostBody,
    *,
    dry_run: bool,
    user: AuthenticatedUser,
    now: datetime,
) -> BackfillPlan:
    if body.run_backwards:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, RUN_BACKWARDS_UNSUPPORTED)
    with _refusals_as_unprocessable():
        return create_backfill(
            session,
            body.dag_id,
            from_date=body.from_date,
            to_date=body.to_date,
            reprocess_behavior=body.reprocess_behavior,
            max_active_runs=body.max_active_runs,
            conf=body.dag_run_conf,
            dry_run=dry_run,
            now=now,
            owner=user.username,
            extra=user.audit_extra(),
        )


@router.get("", dependencies=READ)
def list_backfills(
    session: SessionDep,
    page: Page,
    order: BackfillOrder,
    dag_id: Annotated[str | None, Query(description="Only this DAG's backfills.")] = None,
) -> BackfillCollectionResponse:
    """The backfills (of one DAG), a page at a time."""
    query, columns = select_backfills(dag_id=dag_id)
    found = fetch_page(
        session,
        query,
        sort=order,
        columns=columns,
        limit=page.limit,
        offset=page.offset,
        tiebreaker=[Backfill.id],
    )
    return BackfillCollectionResponse(
        backfills=[backfill_response(row) for row in found.rows],
        total_entries=found.total_entries,
    )


@router.post("", dependencies=OPERATE)
def create_backfill_route(
    session: SessionDep, user: CurrentUser, now: Now, body: BackfillPostBody
) -> BackfillResponse:
    """Record a backfill for the scheduler to run (200, as in Airflow)."""
    plan = _plan(session, body, dry_run=False, user=user, now=now)
    assert plan.backfill is not None
    return backfill_response(plan.backfill)


@router.post("/dry_run", dependencies=OPERATE)
def create_backfill_dry_run(
    session: SessionDep, user: CurrentUser, now: Now, body: BackfillPostBody
) -> DryRunBackfillCollectionResponse:
    """The logical dates such a backfill would run, oldest first; nothing is recorded."""
    return dry_run_response(_plan(session, body, dry_run=True, user=user, now=now).runs)


@router.get("/{backfill_id}", dependencies=READ)
def get_backfill_route(session: SessionDep, backfill_id: BackfillId) -> BackfillResponse:
    """One backfill."""
    return backfill_response(get_backfill(session, backfill_id))


@router.put("/{backfill_id}/pause", dependencies=OPERATE)
def pause_backfill(
    session: SessionDep, user: CurrentUser, now: Now, backfill_id: BackfillId
) -> BackfillResponse:
    """Pause a backfill: none of its runs is created or started; running ones finish."""
    backfill = set_backfill_paused(
        session, backfill_id, True, now=now, owner=user.username, extra=user.audit_extra()
    )
    return backfill_response(backfill)


@router.put("/{backfill_id}/unpause", dependencies=OPERATE)
def unpause_backfill(
    session: SessionDep, user: CurrentUser, now: Now, backfill_id: BackfillId
) -> BackfillResponse:
    """Unpause a backfill."""
    backfill = set_backfill_paused(
        session, backfill_id, False, now=now, owner=user.username, extra=user.audit_extra()
    )
    return backfill_response(backfill)


@router.put("/{backfill_id}/cancel", dependencies=OPERATE)
def cancel_backfill_route(
    session: SessionDep, user: CurrentUser, now: Now, backfill_id: BackfillId
) -> BackfillResponse:
    """Cancel a backfill: no new run of it starts; its queued runs are failed by the
    scheduler, its running ones finish."""
    backfill = cancel_backfill(
        session, backfill_id, now=now, owner=user.username, extra=user.audit_extra()
    )
    return backfill_response(backfill)
