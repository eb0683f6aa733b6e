"""``GET /api/v2/monitor/health``: open to everyone (load balancers, docker health checks).

The metastore is healthy when it answers ``SELECT 1``; the scheduler when a running
scheduler heartbeated within ``[scheduler] scheduler_health_check_threshold`` seconds.
The DAG processor runs inside the scheduler unless ``[scheduler]
standalone_dag_processor``: then it shares the scheduler's status. downwind has no
triggerer: its status is ``null``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request

from downwind.api.deps import Now, context, public
from downwind.api.schemas.monitor import (
    HEALTHY,
    UNHEALTHY,
    BaseInfoResponse,
    DagProcessorInfoResponse,
    HealthInfoResponse,
    SchedulerInfoResponse,
    TriggererInfoResponse,
)
from downwind.services.health import ComponentHealth, component_health, metastore_answers

__all__ = ["router"]

router = APIRouter(prefix="/monitor", tags=["Monitor"])


def _status(healthy: bool) -> str:
    return HEALTHY if healthy else UNHEALTHY


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@router.get("/health", dependencies=[public()])
def get_health(request: Request, now: Now) -> HealthInfoResponse:
    """The status of the metastore, the scheduler and the DAG processor."""
    ctx = context(request)
    conf = ctx.conf
    threshold = timedelta(seconds=conf.scheduler.scheduler_health_check_threshold)
    unknown = ComponentHealth(healthy=False, latest_heartbeat=None)
    with ctx.sessions() as session:
        database_ok = metastore_answers(session)
        scheduler = processor = unknown
        if database_ok:
            scheduler = component_health(session, "scheduler", now=now, threshold=threshold)
            processor = scheduler
            if conf.scheduler.standalone_dag_processor:
                processor = component_health(session, "dag_processor", now=now, threshold=threshold)
    return HealthInfoResponse(
        metadatabase=BaseInfoResponse(status=_status(database_ok)),
        scheduler=SchedulerInfoResponse(
            status=_status(scheduler.healthy),
            latest_scheduler_heartbeat=_iso(scheduler.latest_heartbeat),
        ),
        triggerer=TriggererInfoResponse(),
        dag_processor=DagProcessorInfoResponse(
            status=_status(processor.healthy),
            latest_dag_processor_heartbeat=_iso(processor.latest_heartbeat),
        ),
    )
