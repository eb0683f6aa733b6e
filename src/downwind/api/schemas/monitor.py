"""``GET /api/v2/monitor/health``."""

from __future__ import annotations

from downwind.api.schemas.common import ResponseModel

__all__ = [
    "BaseInfoResponse",
    "DagProcessorInfoResponse",
    "HealthInfoResponse",
    "SchedulerInfoResponse",
    "TriggererInfoResponse",
]

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"


class BaseInfoResponse(ResponseModel):
    status: str | None = None


class SchedulerInfoResponse(BaseInfoResponse):
    latest_scheduler_heartbeat: str | None = None


class DagProcessorInfoResponse(BaseInfoResponse):
    latest_dag_processor_heartbeat: str | None = None


class TriggererInfoResponse(BaseInfoResponse):
    """downwind has no triggerer: its status is always ``null``."""

    latest_triggerer_heartbeat: str | None = None


class HealthInfoResponse(ResponseModel):
    """Each component's status: ``healthy`` or ``unhealthy``."""

    metadatabase: BaseInfoResponse
    scheduler: SchedulerInfoResponse
    triggerer: TriggererInfoResponse
    dag_processor: DagProcessorInfoResponse | None = None
