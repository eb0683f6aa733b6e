"""DAG versions: ``DagVersionResponse`` and its collection."""

from __future__ import annotations

import uuid
from datetime import datetime

from downwind.api.schemas.common import ResponseModel
from downwind.metastore.models import DagVersion

__all__ = [
    "DAGVersionCollectionResponse",
    "DagVersionResponse",
    "dag_version_response",
    "version_uuid",
]


class DagVersionResponse(ResponseModel):
    id: uuid.UUID
    version_number: int
    dag_id: str
    dag_display_name: str
    bundle_name: str | None = None
    bundle_version: str | None = None
    bundle_url: str | None = None
    created_at: datetime


class DAGVersionCollectionResponse(ResponseModel):
    dag_versions: list[DagVersionResponse]
    total_entries: int


def version_uuid(version_id: int) -> uuid.UUID:
    """The UUID the API gives the stored version ``version_id`` (Airflow's versions have
    UUIDs; downwind's have integers): the integer as a UUID, reversible."""
    return uuid.UUID(int=version_id)


def dag_version_response(version: DagVersion) -> DagVersionResponse:
    return DagVersionResponse(
        id=version_uuid(version.id),
        version_number=version.version_number,
        dag_id=version.dag_id,
        dag_display_name=version.dag_id,
        bundle_name="dags-folder",
        created_at=version.created_at,
    )
