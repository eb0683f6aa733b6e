"""Backfills: ``BackfillPostBody``, ``BackfillResponse``, their collections and the dry
run's."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool

from downwind.api.schemas.common import RequestBody, ResponseModel
from downwind.metastore.models import Backfill
from downwind.services.backfills import (
    CREATE,
    DEFAULT_MAX_ACTIVE_RUNS,
    RERUN,
    RERUN_FAILED,
    PlannedRun,
)

__all__ = [
    "BackfillCollectionResponse",
    "BackfillPostBody",
    "BackfillResponse",
    "DryRunBackfillCollectionResponse",
    "DryRunBackfillResponse",
    "ReprocessBehavior",
    "backfill_response",
    "dry_run_response",
]

#: which finished runs a backfill runs again: none, the failed ones, every completed one
ReprocessBehavior = Literal["failed", "completed", "none"]


class BackfillPostBody(RequestBody):
    """A backfill to create (or to try with ``/backfills/dry_run``). A date without a
    time zone is in the DAG's time zone."""

    dag_id: str
    from_date: datetime
    to_date: datetime
    #: downwind runs a backfill oldest date first: ``true`` is refused
    run_backwards: StrictBool = False
    dag_run_conf: dict[str, Any] | None = None
    reprocess_behavior: ReprocessBehavior = "none"
    max_active_runs: int = Field(
        default=DEFAULT_MAX_ACTIVE_RUNS, description="Most runs of the backfill at a time."
    )
    #: accepted for compatibility: downwind's runs always use the DAG's latest version
    run_on_latest_version: StrictBool | None = None


class BackfillResponse(ResponseModel):
    id: int
    dag_id: str
    from_date: datetime
    to_date: datetime
    dag_run_conf: dict[str, Any] | None
    is_paused: bool
    reprocess_behavior: ReprocessBehavior
    max_active_runs: int
    created_at: datetime
    completed_at: datetime | None
    updated_at: datetime
    dag_display_name: str


class BackfillCollectionResponse(ResponseModel):
    backfills: list[BackfillResponse]
    total_entries: int


class DryRunBackfillResponse(ResponseModel):
    """A logical date a backfill would run (create, or clear and rerun, a run at)."""

    logical_date: datetime | None
    partition_key: str | None = None
    partition_date: datetime | None = None


class DryRunBackfillCollectionResponse(ResponseModel):
    backfills: list[DryRunBackfillResponse]
    total_entries: int


def backfill_response(backfill: Backfill) -> BackfillResponse:
    """The :class:`BackfillResponse` of a backfill."""
    conf = backfill.dag_run_conf
    return BackfillResponse(
        id=backfill.id,
        dag_id=backfill.dag_id,
        from_date=backfill.from_date,
        to_date=backfill.to_date,
        dag_run_conf=dict(conf) if isinstance(conf, dict) else None,
        is_paused=backfill.is_paused,
        reprocess_behavior=backfill.reprocess_behavior,  # type: ignore[arg-type]
        max_active_runs=backfill.max_active_runs,
        created_at=backfill.created_at,
        completed_at=backfill.completed_at,
        updated_at=backfill.updated_at,
        dag_display_name=backfill.dag_id,
    )


def dry_run_response(runs: list[PlannedRun]) -> DryRunBackfillCollectionResponse:
    """The logical dates of ``runs`` that a backfill would run: not those it leaves alone
    (a run is in flight there, or exists and is not to be reprocessed)."""
    dates = [
        DryRunBackfillResponse(logical_date=run.logical_date)
        for run in runs
        if run.action in (CREATE, RERUN, RERUN_FAILED)
    ]
    return DryRunBackfillCollectionResponse(backfills=dates, total_entries=len(dates))
