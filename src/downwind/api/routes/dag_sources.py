"""``GET /api/v2/dagSources/{dag_id}``: the source code of a DAG's file, as stored with
its latest version (or ``version_number``); ``Accept: text/plain`` gets the bare text."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import PlainTextResponse

from downwind.api.deps import SessionDep, requires
from downwind.api.schemas.dag_sources import DAGSourceResponse
from downwind.security.roles import Permission
from downwind.services.dags import get_dag_version

__all__ = ["router"]

router = APIRouter(prefix="/dagSources", tags=["DagSource"])


@router.get(
    "/{dag_id}",
    dependencies=[requires(Permission.READ)],
    response_model=DAGSourceResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def get_dag_source(
    session: SessionDep,
    dag_id: str,
    version_number: int | None = None,
    accept: Annotated[str, Header()] = "application/json",
) -> Any:
    """The DAG's source code."""
    version = get_dag_version(session, dag_id, version_number)
    if accept.split(";")[0].strip().lower() == "text/plain":
        return PlainTextResponse(version.source_code or "")
    return DAGSourceResponse(
        content=version.source_code,
        dag_id=dag_id,
        dag_display_name=dag_id,
        version_number=version.version_number,
    )
