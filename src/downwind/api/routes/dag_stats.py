"""``GET /api/v2/dagStats``: how many runs of each DAG are in each state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from downwind.api.deps import SessionDep, requires
from downwind.api.schemas.dag_stats import (
    DagStatsCollectionResponse,
    DagStatsResponse,
    DagStatsStateResponse,
)
from downwind.security.roles import Permission
from downwind.services.dags import dag_run_stats
from downwind.states import DagRunState

__all__ = ["router"]

router = APIRouter(prefix="/dagStats", tags=["DagStats"])


@router.get("", dependencies=[requires(Permission.READ)])
def get_dag_stats(
    session: SessionDep, dag_ids: Annotated[list[str] | None, Query()] = None
) -> DagStatsCollectionResponse:
    """Run counts per state of the DAGs ``dag_ids`` (default: every active DAG)."""
    dags = [
        DagStatsResponse(
            dag_id=dag_id,
            dag_display_name=dag_id,
            stats=[
                DagStatsStateResponse(state=DagRunState(state), count=count)
                for state, count in counts.items()
            ],
        )
        for dag_id, counts in dag_run_stats(session, dag_ids)
    ]
    return DagStatsCollectionResponse(dags=dags, total_entries=len(dags))
