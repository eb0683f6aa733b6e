"""``GET /api/v2/dagStats``: how many runs of each DAG are in each state."""

from __future__ import annotations

from downwind.api.schemas.common import ResponseModel
from downwind.states import DagRunState

__all__ = ["DagStatsCollectionResponse", "DagStatsResponse", "DagStatsStateResponse"]


class DagStatsStateResponse(ResponseModel):
    state: DagRunState
    count: int


class DagStatsResponse(ResponseModel):
    dag_id: str
    dag_display_name: str
    stats: list[DagStatsStateResponse]


class DagStatsCollectionResponse(ResponseModel):
    dags: list[DagStatsResponse]
    total_entries: int
