"""``GET /api/v2/dagSources/{dag_id}``."""

from __future__ import annotations

from downwind.api.schemas.common import ResponseModel

__all__ = ["DAGSourceResponse"]


class DAGSourceResponse(ResponseModel):
    content: str | None = None
    dag_id: str
    dag_display_name: str
    version_number: int | None = None
