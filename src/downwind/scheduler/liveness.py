"""Who is alive: the scheduler's job row and heartbeat, orphans of dead schedulers, and
task instances whose process stopped heartbeating (zombies)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.metastore.models import Job, TaskInstance
from downwind.runtime.client import TaskInstanceKey
from downwind.states import Actor, TaskInstanceState, check_task_transition

log = logging.getLogger("downwind.scheduler")
TI = TaskInstanceState


def register_job(session: Session, job_type: str, now: datetime) -> Job:
    """A new running job row for this process."""
    job = Job(
        job_type=job_type,
        state="running",
        hostname=socket.gethostname(),
        pid=os.getpid(),
        start_date=now,
        latest_heartbeat=now,
    )
    session.add(job)
    session.flush()
    return job


def end_job(session: Session, job_id: int, now: datetime) -> None:
    job = session.get(Job, job_id)
    if job is not None:
        job.state = "success"
        job.end_date = now


def heartbeat_job(session: Session, job_id: int, now: datetime) -> None:
    job = session.get(Job, job_id)
    if job is not None:
        job.latest_heartbeat = now


def _job_alive(job: Job | None, now: datetime, threshold: timedelta) -> bool:
    return (
        job is not None
        and job.state == "running"
        and job.end_date is None
        and job.latest_heartbeat is not None
        and now - job.latest_heartbeat < threshold
        and not _process_gone(job)
    )


def _process_gone(job: Job) -> bool:
    """A job of this host whose process no longer exists is dead, whatever its last
    heartbeat says (so a scheduler restarted after a crash need not wait)."""
    if job.hostname != socket.gethostname() or job.pid is None or job.pid == os.getpid():
        return False
    try:
        os.kill(job.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    return False


def alive_jobs(session: Session, job_type: str, now: datetime, threshold: timedelta) -> list[Job]:
    """Jobs of ``job_type`` that are running and heartbeated within ``threshold``."""
    jobs = session.scalars(
        select(Job).where(
            Job.job_type == job_type,
            Job.state == "running",
            Job.latest_heartbeat >= now - threshold,
        )
    ).all()
    return [job for job in jobs if _job_alive(job, now, threshold)]


def adopt_orphans(
    session: Session, my_job_id: int, now: datetime, threshold: timedelta
) -> tuple[int, list[TaskInstanceKey]]:
    """Take over what dead schedulers left behind.

    Queued task instances go back to ``scheduled`` (their try never started). Running
    ones are returned: their process died with its scheduler, so the caller reports them
    as crashed (retried while tries remain). Task instances of live schedulers are left
    alone.
    """
    requeued = 0
    lost: list[TaskInstanceKey] = []
    tis = session.scalars(
        select(TaskInstance).where(TaskInstance.state.in_((TI.QUEUED.value, TI.RUNNING.value)))
    ).all()
    jobs: dict[int | None, Job | None] = {}
    for ti in tis:
        if ti.queued_by_job_id == my_job_id:
            continue
        if ti.queued_by_job_id not in jobs:
            jobs[ti.queued_by_job_id] = (
                session.get(Job, ti.queued_by_job_id) if ti.queued_by_job_id else None
            )
        if _job_alive(jobs[ti.queued_by_job_id], now, threshold):
            continue
        if ti.state == TI.QUEUED.value:
            check_task_transition(TI.QUEUED, TI.SCHEDULED, Actor.SCHEDULER)
            ti.state = TI.SCHEDULED.value
            ti.try_number = max(ti.try_number - 1, 0)
            ti.queued_by_job_id = None
            requeued += 1
        else:
            lost.append(TaskInstanceKey(ti.dag_id, ti.run_id, ti.task_id, ti.map_index))
    for job in jobs.values():
        if job is not None and job.state == "running" and not _job_alive(job, now, threshold):
            job.state = "failed"
            job.end_date = now
    return requeued, lost


def find_zombies(
    session: Session,
    now: datetime,
    threshold: timedelta,
    tracked: Collection[TaskInstanceKey],
) -> list[TaskInstanceKey]:
    """Running task instances with no heartbeat for ``threshold`` that the executor does
    not know to be running (their process is gone)."""
    stale = session.scalars(
        select(TaskInstance).where(
            TaskInstance.state == TI.RUNNING.value,
            TaskInstance.last_heartbeat_at < now - threshold,
        )
    ).all()
    keys = [TaskInstanceKey(t.dag_id, t.run_id, t.task_id, t.map_index) for t in stale]
    return [key for key in keys if key not in tracked]
