"""Is the installation healthy? The metastore answers, and the long-running processes
(scheduler, DAG processor) heartbeat in the ``job`` table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from downwind.metastore.models import Job

__all__ = ["ComponentHealth", "component_health", "metastore_answers"]

log = logging.getLogger("downwind.api")


@dataclass(frozen=True)
class ComponentHealth:
    """``healthy`` when a running job of the kind heartbeated within the threshold."""

    healthy: bool
    latest_heartbeat: datetime | None


def metastore_answers(session: Session) -> bool:
    """Whether the metastore answers ``SELECT 1`` (a failure is logged, not raised)."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        log.warning("health check: the metastore does not answer: %s", err)
        return False
    return True


def component_health(
    session: Session, job_type: str, *, now: datetime, threshold: timedelta
) -> ComponentHealth:
    """The health of the processes of ``job_type`` (e.g. ``scheduler``): the latest
    heartbeat of its running jobs, healthy when newer than ``now - threshold``."""
    latest = session.scalar(
        select(func.max(Job.latest_heartbeat)).where(
            Job.job_type == job_type, Job.state == "running"
        )
    )
    return ComponentHealth(latest is not None and now - latest < threshold, latest)
