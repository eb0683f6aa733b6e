"""DAGs: ``DAGResponse``, ``DAGDetailsResponse``, their collection, the patch body."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import StrictBool

from downwind.api.schemas.common import RequestBody, ResponseModel
from downwind.api.schemas.dag_versions import DagVersionResponse, dag_version_response
from downwind.metastore.models import DagModel
from downwind.services.dags import DagDetails, DagShape

__all__ = [
    "DAGCollectionResponse",
    "DAGDetailsResponse",
    "DAGPatchBody",
    "DAGResponse",
    "DagTagResponse",
    "dag_details_response",
    "dag_response",
    "file_token",
]

#: Airflow's name of the DAG bundle of the dags folder
BUNDLE_NAME = "dags-folder"
_DEFAULT_MAX_ACTIVE = 16


class DagTagResponse(ResponseModel):
    name: str
    dag_id: str
    dag_display_name: str


class DAGResponse(ResponseModel):
    """A DAG as a list shows it."""

    dag_id: str
    dag_display_name: str
    is_paused: bool
    #: its file is gone or no longer defines it
    is_stale: bool
    last_parsed_time: datetime | None = None
    last_parse_duration: float | None = None
    last_expired: datetime | None = None
    bundle_name: str | None = None
    bundle_version: str | None = None
    relative_fileloc: str | None = None
    fileloc: str
    description: str | None = None
    timetable_summary: str | None = None
    timetable_description: str | None = None
    timetable_periodic: bool
    timetable_partitioned: bool = False
    tags: list[DagTagResponse]
    max_active_tasks: int
    max_active_runs: int | None = None
    max_consecutive_failed_dag_runs: int = 0
    has_task_concurrency_limits: bool
    has_import_errors: bool
    next_dagrun_logical_date: datetime | None = None
    next_dagrun_data_interval_start: datetime | None = None
    next_dagrun_data_interval_end: datetime | None = None
    next_dagrun_run_after: datetime | None = None
    owners: list[str]
    file_token: str
    is_backfillable: bool


class DAGCollectionResponse(ResponseModel):
    dags: list[DAGResponse]
    total_entries: int


class DAGDetailsResponse(DAGResponse):
    """A DAG with the attributes of its latest stored version."""

    catchup: bool
    concurrency: int
    dag_run_timeout: timedelta | None = None
    default_args: dict[str, Any] | None = None
    doc_md: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    is_paused_upon_creation: bool | None = None
    is_favorite: bool = False
    last_parsed: datetime | None = None
    latest_dag_version: DagVersionResponse | None = None
    owner_links: dict[str, str] | None = None
    params: dict[str, Any] | None = None
    render_template_as_native_obj: bool = False
    template_search_path: list[str] | None = None
    timezone: str | None = None
    active_runs_count: int = 0


class DAGPatchBody(RequestBody):
    """What ``PATCH /dags`` and ``PATCH /dags/{dag_id}`` may change."""

    is_paused: StrictBool


def file_token(fileloc: str) -> str:
    """The DAG file's token (``file_token``): its path, URL-safe base64 encoded."""
    return base64.urlsafe_b64encode(fileloc.encode()).decode().rstrip("=")


def _relative(fileloc: str, dags_folder: Path) -> str:
    try:
        return str(Path(fileloc).relative_to(dags_folder))
    except ValueError:
        return Path(fileloc).name


def _owners(owners: str | None) -> list[str]:
    return [owner.strip() for owner in (owners or "").split(",") if owner.strip()]


def _common_fields(model: DagModel, shape: DagShape | None, dags_folder: Path) -> dict[str, Any]:
    fileloc = model.fileloc or ""
    return {
        "dag_id": model.dag_id,
        "dag_display_name": model.dag_id,
        "is_paused": model.is_paused,
        "is_stale": not model.is_active,
        "last_parsed_time": model.last_parsed_time,
        "bundle_name": BUNDLE_NAME,
        "relative_fileloc": _relative(fileloc, dags_folder) if fileloc else None,
        "fileloc": fileloc,
        "description": model.description,
        "timetable_summary": model.timetable_summary,
        "timetable_description": model.timetable_description,
        "timetable_periodic": shape.timetable_periodic if shape else False,
        "tags": [
            DagTagResponse(name=tag.name, dag_id=model.dag_id, dag_display_name=model.dag_id)
            for tag in model.tags
        ],
        "max_active_tasks": model.max_active_tasks or _DEFAULT_MAX_ACTIVE,
        "max_active_runs": model.max_active_runs,
        "has_task_concurrency_limits": shape.has_task_concurrency_limits if shape else False,
        "has_import_errors": model.has_import_errors,
        "next_dagrun_logical_date": model.next_dagrun,
        "next_dagrun_data_interval_start": model.next_dagrun_data_interval_start,
        "next_dagrun_data_interval_end": model.next_dagrun_data_interval_end,
        "next_dagrun_run_after": model.next_dagrun_create_after,
        "owners": _owners(model.owners),
        "file_token": file_token(fileloc),
        "is_backfillable": shape.timetable_periodic if shape else False,
    }


def dag_response(model: DagModel, shape: DagShape | None, dags_folder: Path) -> DAGResponse:
    """The :class:`DAGResponse` of a DAG row and the shape of its latest version."""
    return DAGResponse(**_common_fields(model, shape, dags_folder))


def dag_details_response(details: DagDetails, dags_folder: Path) -> DAGDetailsResponse:
    """The :class:`DAGDetailsResponse` of a DAG."""
    dag = details.dag
    shape = DagShape(
        timetable_periodic=dag.timetable.periodic,
        can_be_scheduled=dag.timetable.can_be_scheduled,
        has_task_concurrency_limits=any(
            task.max_active_tis_per_dag is not None for task in dag.task_dict.values()
        ),
    )
    fields = _common_fields(details.model, shape, dags_folder)
    return DAGDetailsResponse(
        **fields,
        catchup=dag.catchup,
        concurrency=fields["max_active_tasks"],
        dag_run_timeout=dag.dagrun_timeout,
        doc_md=dag.doc_md,
        start_date=dag.start_date,
        end_date=dag.end_date,
        is_paused_upon_creation=dag.is_paused_upon_creation,
        last_parsed=details.model.last_parsed_time,
        latest_dag_version=dag_version_response(details.latest_version),
        owner_links=dag.owner_links or None,
        params=dag_params(dag.params.dump()),
        template_search_path=list(dag.template_searchpath) or None,
        timezone=getattr(dag.timezone, "key", None) or str(dag.timezone),
        active_runs_count=details.running_runs,
    )


def dag_params(dumped: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A DAG's params as Airflow's API shows them: ``{name: {"__class", "value",
    "description", "schema"}}``."""
    return {
        name: {
            "__class": "airflow.sdk.definitions.param.Param",
            "value": item.get("value"),
            "description": item.get("description"),
            "schema": item.get("schema") or {},
        }
        for name, item in dumped.items()
    }
