"""Clearing task instances: run them again, keeping the history of their earlier tries.

A cleared task instance:

- has its current try copied to ``task_instance_history`` if that try started (so every
  earlier try stays visible);
- gets no state, its retries again (``max_tries = try_number + retries``), and no host,
  pid, queued/start/end times, duration, heartbeat or rendered fields;
- puts its run back to ``queued`` (``clear_number`` counts the clears), so the scheduler
  runs it again.

A running task instance cannot be cleared (downwind has no "restarting" state): the
whole clear is refused, naming it, and nothing changes. Wait for it to finish, or leave
it out with ``task_regex`` or ``only_failed``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.exceptions import DownwindException, IllegalStateTransition, TaskNotFound
from downwind.metastore.models import DagRun, TaskInstance, TaskInstanceHistory
from downwind.sdk.serialization import SerializedDAG
from downwind.services.audit import record_action
from downwind.services.dag_registry import load_serialized_dag
from downwind.services.dags import dag_timezone, get_dag_model, to_aware
from downwind.services.errors import InvalidInput
from downwind.services.history import Recorded, archive_try, reset_try_fields
from downwind.services.runs import get_dag_run
from downwind.states import (
    Actor,
    DagRunState,
    TaskInstanceState,
    check_dag_run_transition,
    check_task_transition,
)

__all__ = ["FAILED_STATES", "clear_task_instances"]

#: ``triggered_by`` of the runs ``dags test`` records (see services/test_runs.py)
TEST_TRIGGER = "test"

#: the states ``only_failed`` clears (as in Airflow)
FAILED_STATES = frozenset({TaskInstanceState.FAILED.value, TaskInstanceState.UPSTREAM_FAILED.value})


def _compile(task_regex: str | None, task_ids: Collection[str] | None) -> re.Pattern[str] | None:
    if task_ids is not None:
        if task_regex is not None:
            raise InvalidInput("give a task regex or a list of task ids, not both")
        if not task_ids:
            return re.compile("(?!)")  # matches nothing
        return re.compile("^(?:" + "|".join(re.escape(t) for t in sorted(task_ids)) + r")\Z")
    if task_regex is None:
        return None
    try:
        return re.compile(task_regex)
    except re.error as err:
        raise InvalidInput(f"invalid task regex {task_regex!r}: {err}") from None


def clear_task_instances(
    session: Session,
    dag_id: str,
    *,
    run_ids: Iterable[str] | None = None,
    task_regex: str | None = None,
    task_ids: Collection[str] | None = None,
    only_failed: bool = False,
    downstream: bool = False,
    upstream: bool = False,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    dry_run: bool = False,
    now: datetime,
    owner: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[TaskInstance]:
    """Clear task instances of ``dag_id`` (see the module docstring); return them, ordered
    by run logical date, then task order.

    Which ones: those of the runs ``run_ids`` (else of every run whose logical date lies
    from ``start_date`` to ``end_date``, both included, naive dates in the DAG's time
    zone); of the tasks whose id ``task_regex`` matches anywhere (``re.search``), or of
    the tasks ``task_ids`` (default: every task), with every task downstream and/or
    upstream of those if asked, in the DAG version each run runs; with ``only_failed``,
    only those ``failed`` or ``upstream_failed``. With ``dry_run`` nothing changes. A
    user action, audited as ``clear`` once per run (with ``extra`` added to the entry).

    Raises :class:`~downwind.exceptions.DagNotFound`,
    :class:`~downwind.services.errors.DagRunNotFound` for an unknown run id,
    :class:`~downwind.exceptions.TaskNotFound` when ``task_regex`` matches no task (or
    one of ``task_ids`` is no task of the DAG),
    :class:`~downwind.services.errors.InvalidInput` for a malformed regex and
    :class:`~downwind.exceptions.IllegalStateTransition` when one of them is running.
    """
    get_dag_model(session, dag_id)
    pattern = _compile(task_regex, task_ids)
    runs = _select_runs(session, dag_id, run_ids, start_date, end_date)
    if task_ids is not None:
        _check_task_ids(session, dag_id, task_ids, runs)
    elif pattern is not None:
        _check_pattern_matches(session, dag_id, pattern, runs)
    if not runs:
        return []
    query = select(TaskInstance).where(
        TaskInstance.dag_id == dag_id,
        TaskInstance.run_id.in_([run.run_id for run in runs]),
    )
    if only_failed:
        query = query.where(TaskInstance.state.in_(FAILED_STATES))
    if not dry_run:
        query = query.with_for_update()
    by_run: dict[str, list[TaskInstance]] = {}
    for ti in session.scalars(query):
        by_run.setdefault(ti.run_id, []).append(ti)

    graphs: dict[int | None, SerializedDAG | None] = {}
    chosen: list[tuple[DagRun, SerializedDAG | None, list[TaskInstance]]] = []
    for run in runs:
        tis = by_run.get(run.run_id, [])
        if not tis:
            continue
        if run.dag_version_id not in graphs:
            graphs[run.dag_version_id] = _load_graph(session, run)
        dag = graphs[run.dag_version_id]
        wanted = _wanted_task_ids(dag, pattern, downstream=downstream, upstream=upstream)
        picked = [
            ti
            for ti in tis
            if wanted is None
            or ti.task_id in wanted
            or (pattern is not None and pattern.search(ti.task_id))
        ]
        if picked:
            order = {task_id: i for i, task_id in enumerate(dag.task_ids)} if dag else {}
            last = len(order)
            picked.sort(key=lambda ti: (order.get(ti.task_id, last), ti.task_id, ti.map_index))
            chosen.append((run, dag, picked))

    _refuse_running(dag_id, chosen)
    cleared = [ti for _, _, picked in chosen for ti in picked]
    if dry_run:
        return cleared
    recorded = _recorded_tries(session, dag_id, [run.run_id for run, _, _ in chosen])
    for run, dag, picked in chosen:
        for ti in picked:
            retries = dag.task_dict[ti.task_id].retries if dag and dag.has_task(ti.task_id) else 0
            _reset(session, ti, retries, recorded, now)
        _requeue(run, now)
        record_action(
            session,
            "clear",
            owner=owner,
            now=now,
            dag_id=dag_id,
            run_id=run.run_id,
            logical_date=run.logical_date,
            extra={
                "task_ids": sorted({ti.task_id for ti in picked}),
                "task_regex": task_regex,
                "only_failed": only_failed,
                "downstream": downstream,
                "upstream": upstream,
                **(extra or {}),
            },
        )
    return cleared


def _select_runs(
    session: Session,
    dag_id: str,
    run_ids: Iterable[str] | None,
    start_date: datetime | None,
    end_date: datetime | None,
) -> list[DagRun]:
    if run_ids is not None:
        runs = {run_id: get_dag_run(session, dag_id, run_id) for run_id in run_ids}
        selected = list(runs.values())
    else:
        # runs recorded by `dags test` are cleared only when named by run id
        query = select(DagRun).where(
            DagRun.dag_id == dag_id,
            (DagRun.triggered_by.is_(None)) | (DagRun.triggered_by != TEST_TRIGGER),
        )
        if start_date is not None or end_date is not None:
            tz = dag_timezone(session, dag_id)
            if start_date is not None:
                query = query.where(DagRun.logical_date >= to_aware(start_date, tz))
            if end_date is not None:
                query = query.where(DagRun.logical_date <= to_aware(end_date, tz))
        selected = list(session.scalars(query))
    return sorted(selected, key=lambda run: (run.logical_date is None, run.logical_date, run.id))


def _load_graph(session: Session, run: DagRun) -> SerializedDAG | None:
    """The DAG version ``run`` runs (the latest one if that one is gone)."""
    for version_id in (run.dag_version_id, None):
        try:
            return load_serialized_dag(session, run.dag_id, version_id)
        except DownwindException:
            continue
    return None


def _known_task_ids(session: Session, dag_id: str, runs: list[DagRun]) -> set[str]:
    """The task ids of the DAG's latest version and of the task instances of ``runs``."""
    task_ids: set[str] = set()
    with contextlib.suppress(DownwindException):  # no stored version: look at the runs
        task_ids.update(load_serialized_dag(session, dag_id).task_ids)
    if runs:
        task_ids.update(
            session.scalars(
                select(TaskInstance.task_id)
                .where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id.in_([run.run_id for run in runs]),
                )
                .distinct()
            )
        )
    return task_ids


def _check_task_ids(
    session: Session, dag_id: str, task_ids: Collection[str], runs: list[DagRun]
) -> None:
    unknown = sorted(set(task_ids) - _known_task_ids(session, dag_id, runs))
    if unknown:
        them = "task" if len(unknown) == 1 else "tasks"
        raise TaskNotFound(f"DAG '{dag_id}' has no {them} {', '.join(repr(t) for t in unknown)}")


def _check_pattern_matches(
    session: Session, dag_id: str, pattern: re.Pattern[str], runs: list[DagRun]
) -> None:
    """Raise :class:`TaskNotFound` when ``pattern`` matches no task of the DAG: a typo
    should say so rather than clear nothing."""
    task_ids: set[str] = set()
    with contextlib.suppress(DownwindException):  # no stored version: look at the runs
        task_ids.update(load_serialized_dag(session, dag_id).task_ids)
    if any(pattern.search(task_id) for task_id in task_ids):
        return
    if runs:
        task_ids.update(
            session.scalars(
                select(TaskInstance.task_id)
                .where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id.in_([run.run_id for run in runs]),
                )
                .distinct()
            )
        )
        if any(pattern.search(task_id) for task_id in task_ids):
            return
    raise TaskNotFound(f"no task of DAG '{dag_id}' matches the regex {pattern.pattern!r}")


def _wanted_task_ids(
    dag: SerializedDAG | None,
    pattern: re.Pattern[str] | None,
    *,
    downstream: bool,
    upstream: bool,
) -> set[str] | None:
    """The task ids to clear in one DAG version; ``None``: every task instance."""
    if pattern is None:  # every task (and so every relative of one)
        return None
    if dag is None:
        return set()
    matched = [t for t in dag.task_ids if pattern is None or pattern.search(t)]
    wanted = set(matched)
    for task_id in matched:
        task = dag.task_dict[task_id]
        if downstream:
            wanted |= task.get_flat_relative_ids(upstream=False)
        if upstream:
            wanted |= task.get_flat_relative_ids(upstream=True)
    return wanted


def _refuse_running(
    dag_id: str, chosen: list[tuple[DagRun, SerializedDAG | None, list[TaskInstance]]]
) -> None:
    running = [
        f"{ti.task_id} (run {run.run_id})"
        for run, _, picked in chosen
        for ti in picked
        if ti.state == TaskInstanceState.RUNNING
    ]
    if running:
        them = "it" if len(running) == 1 else "them"
        raise IllegalStateTransition(
            f"cannot clear task instances of DAG '{dag_id}' while they run: "
            f"{', '.join(running)} {'is' if len(running) == 1 else 'are'} running; nothing "
            f"was cleared. Wait for {them} to finish, or leave {them} out (-t REGEX, "
            "--only-failed)"
        )


def _recorded_tries(
    session: Session, dag_id: str, run_ids: list[str]
) -> set[tuple[str, str, int, int]]:
    rows = session.execute(
        select(
            TaskInstanceHistory.run_id,
            TaskInstanceHistory.task_id,
            TaskInstanceHistory.map_index,
            TaskInstanceHistory.try_number,
        ).where(TaskInstanceHistory.dag_id == dag_id, TaskInstanceHistory.run_id.in_(run_ids))
    )
    return {(r.run_id, r.task_id, r.map_index, r.try_number) for r in rows}


def _reset(
    session: Session,
    ti: TaskInstance,
    retries: int,
    recorded: Recorded,
    now: datetime,
) -> None:
    archive_try(session, ti, recorded)
    check_task_transition(ti.state, None, Actor.USER)
    ti.state = None
    ti.max_tries = ti.try_number + retries
    reset_try_fields(ti)
    ti.updated_at = now


def _requeue(run: DagRun, now: datetime) -> None:
    if run.state != DagRunState.QUEUED:
        check_dag_run_transition(run.state, DagRunState.QUEUED, Actor.USER)
        run.state = DagRunState.QUEUED.value
        run.start_date = None
    run.end_date = None
    run.queued_at = now
    run.last_scheduling_decision = None
    run.clear_number += 1
    run.updated_at = now
