"""DAG runs: ``DAGRunResponse``, its collection, and the trigger, patch, clear and
batch-list bodies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from downwind.api.schemas.common import RequestBody, ResponseModel
from downwind.api.schemas.dag_versions import DagVersionResponse, dag_version_response
from downwind.metastore.models import DagRun, DagVersion
from downwind.runtime import serde
from downwind.states import DagRunState

__all__ = [
    "DAGRunClearBody",
    "DAGRunCollectionResponse",
    "DAGRunPatchBody",
    "DAGRunResponse",
    "DAGRunsBatchBody",
    "TriggerDAGRunPostBody",
    "dag_run_response",
    "json_type",
    "triggered_by",
]

#: downwind's ``triggered_by`` values that Airflow's API names differently
_TRIGGERED_BY = {"scheduler": "timetable", "api": "rest_api"}
#: Airflow's ``triggered_by`` values (the client refuses any other)
_AIRFLOW_TRIGGERED_BY = frozenset(
    {"cli", "operator", "rest_api", "ui", "test", "timetable", "asset", "backfill"}
)
NOTE_MAX_LENGTH = 1000


class DAGRunResponse(ResponseModel):
    """A DAG run."""

    dag_run_id: str
    dag_id: str
    logical_date: datetime | None = None
    queued_at: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    #: seconds from start to end (``None`` until the run ended)
    duration: float | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    run_after: datetime
    last_scheduling_decision: datetime | None = None
    run_type: str
    state: DagRunState
    triggered_by: str | None = None
    triggering_user_name: str | None = None
    conf: dict[str, Any] | None = None
    note: str | None = None
    dag_versions: list[DagVersionResponse]
    bundle_version: str | None = None
    dag_display_name: str
    partition_key: str | None = None


class DAGRunCollectionResponse(ResponseModel):
    dag_runs: list[DAGRunResponse]
    total_entries: int


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type (``array``, ``string``...), for messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if value is None:
        return "null"
    return "object" if isinstance(value, Mapping) else type(value).__name__


class TriggerDAGRunPostBody(RequestBody):
    """What ``POST /dags/{dag_id}/dagRuns`` takes: every field is optional."""

    dag_run_id: str | None = None
    #: the run's logical date (default, or ``null``: when it is triggered); a naive one is
    #: in the DAG's time zone
    logical_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    #: when the run may start (default: now)
    run_after: datetime | None = None
    conf: dict[str, Any] | None = None
    note: str | None = Field(None, max_length=NOTE_MAX_LENGTH)
    #: Airflow's partitions: downwind has none (only ``null`` is accepted)
    partition_key: str | None = None

    @field_validator("conf", mode="before")
    @classmethod
    def _conf_is_an_object(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, Mapping):
            raise ValueError(
                f'conf must be a JSON object such as {{"key": 1}}, got a JSON {json_type(value)}'
            )
        return value

    @model_validator(mode="after")
    def _interval_has_both_ends(self) -> TriggerDAGRunPostBody:
        if (self.data_interval_start is None) != (self.data_interval_end is None):
            raise ValueError(
                "give both data_interval_start and data_interval_end, or neither (the "
                "DAG's schedule then infers the data interval from the logical date)"
            )
        return self


class DAGRunPatchBody(RequestBody):
    """What ``PATCH /dags/{dag_id}/dagRuns/{dag_run_id}`` may change."""

    state: Literal["queued", "success", "failed"] | None = None
    note: str | None = Field(None, max_length=NOTE_MAX_LENGTH)


class DAGRunClearBody(RequestBody):
    """What ``POST .../dagRuns/{dag_run_id}/clear`` takes."""

    #: only list what would be cleared (the default, as in Airflow)
    dry_run: StrictBool = True
    only_failed: StrictBool = False
    note: str | None = Field(None, max_length=NOTE_MAX_LENGTH)
    #: Airflow's "queue only new tasks of the latest version": not supported (false only)
    only_new: StrictBool = False
    #: Airflow's "clear onto the latest DAG version": not supported (true is refused)
    run_on_latest_version: StrictBool | None = None


class DAGRunsBatchBody(RequestBody):
    """What ``POST /dags/~/dagRuns/list`` takes: the filters of the run listing."""

    order_by: str | list[str] | None = None
    page_offset: int = Field(0, ge=0)
    page_limit: int = Field(100, ge=0)
    dag_ids: list[str] | None = None
    states: list[DagRunState | None] | None = None
    run_after_gte: datetime | None = None
    run_after_gt: datetime | None = None
    run_after_lte: datetime | None = None
    run_after_lt: datetime | None = None
    logical_date_gte: datetime | None = None
    logical_date_gt: datetime | None = None
    logical_date_lte: datetime | None = None
    logical_date_lt: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_gt: datetime | None = None
    start_date_lte: datetime | None = None
    start_date_lt: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_gt: datetime | None = None
    end_date_lte: datetime | None = None
    end_date_lt: datetime | None = None
    duration_gte: float | None = None
    duration_gt: float | None = None
    duration_lte: float | None = None
    duration_lt: float | None = None
    conf_contains: str | None = None


def triggered_by(value: str | None) -> str | None:
    """Airflow's name of who created a run (``None`` when Airflow has no such name)."""
    if value is None:
        return None
    value = _TRIGGERED_BY.get(value, value)
    return value if value in _AIRFLOW_TRIGGERED_BY else None


def dag_run_response(run: DagRun, versions: Mapping[int, DagVersion]) -> DAGRunResponse:
    """The :class:`DAGRunResponse` of ``run``; ``versions`` holds (at least) the DAG
    version it runs, by id."""
    duration = None
    if run.start_date is not None and run.end_date is not None:
        duration = (run.end_date - run.start_date).total_seconds()
    version = versions.get(run.dag_version_id) if run.dag_version_id is not None else None
    return DAGRunResponse(
        dag_run_id=run.run_id,
        dag_id=run.dag_id,
        logical_date=run.logical_date,
        queued_at=run.queued_at,
        start_date=run.start_date,
        end_date=run.end_date,
        duration=duration,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        run_after=run.run_after,
        last_scheduling_decision=run.last_scheduling_decision,
        run_type=run.run_type,
        state=DagRunState(run.state),
        triggered_by=triggered_by(run.triggered_by),
        # downwind's extra types stay in their tagged form: the conf reads back the same
        conf=serde.encode(run.conf) if run.conf is not None else None,
        dag_versions=[dag_version_response(version)] if version is not None else [],
        dag_display_name=run.dag_id,
    )
