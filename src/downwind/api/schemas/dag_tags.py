"""``GET /api/v2/dagTags``."""

from __future__ import annotations

from downwind.api.schemas.common import ResponseModel

__all__ = ["DAGTagCollectionResponse"]


class DAGTagCollectionResponse(ResponseModel):
    tags: list[str]
    total_entries: int
