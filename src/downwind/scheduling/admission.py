"""Which ready task instances may start now, given slots, pools and per-DAG limits.

A pure function over a snapshot: the scheduler gathers the counts, this decides.
Higher ``priority_weight`` goes first, then the older run, then the task id, so the
order is stable. A candidate that does not fit (its pool is full, its DAG is at
``max_active_tasks``...) is passed over without blocking smaller ones behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Candidate(Generic[K]):
    """A task instance that its trigger rule allows to run."""

    key: K
    dag_id: str
    task_id: str
    pool: str
    priority_weight: int
    logical_date: datetime
    pool_slots: int = 1


@dataclass(slots=True)
class Limits:
    """Free capacity at the moment of the decision."""

    #: executor slots left (``parallelism`` minus what is queued or running)
    executor_slots: int
    #: free slots per pool; a pool missing here does not exist
    pool_slots: Mapping[str, int]
    #: per DAG: ``max_active_tasks`` minus its queued/running task instances
    dag_slots: Mapping[str, int] = field(default_factory=dict)
    #: per (dag_id, task_id): ``max_active_tis_per_dag`` minus the running ones
    task_slots: Mapping[tuple[str, str], int] = field(default_factory=dict)


@dataclass(slots=True)
class Admission(Generic[K]):
    admitted: list[Candidate[K]]
    #: candidates whose pool does not exist (the scheduler reports them)
    unknown_pool: list[Candidate[K]]


def admit(candidates: Iterable[Candidate[K]], limits: Limits) -> Admission[K]:
    """The candidates that may be queued now, in the order they should be."""
    pools = dict(limits.pool_slots)
    dags = dict(limits.dag_slots)
    tasks = dict(limits.task_slots)
    executor = limits.executor_slots
    admitted: list[Candidate[K]] = []
    unknown: list[Candidate[K]] = []
    ordered = sorted(
        candidates, key=lambda c: (-c.priority_weight, c.logical_date, c.dag_id, c.task_id)
    )
    for candidate in ordered:
        if executor <= 0:
            break
        if candidate.pool not in pools:
            unknown.append(candidate)
            continue
        if pools[candidate.pool] < candidate.pool_slots:
            continue
        if dags.get(candidate.dag_id, 1) <= 0:
            continue
        task_key = (candidate.dag_id, candidate.task_id)
        if tasks.get(task_key, 1) <= 0:
            continue
        admitted.append(candidate)
        executor -= 1
        pools[candidate.pool] -= candidate.pool_slots
        if candidate.dag_id in dags:
            dags[candidate.dag_id] -= 1
        if task_key in tasks:
            tasks[task_key] -= 1
    return Admission(admitted, unknown)
