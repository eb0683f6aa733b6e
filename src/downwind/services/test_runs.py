"""Record a ``dags test`` run in the metastore, so its history shows next to the others.

The run is stored finished (run type ``manual``, triggered by ``test``, run id
``test__<logical date>``); a second test of the same date replaces it. Schedulers only
work on queued and running runs, so they never pick a recorded test run up.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from downwind.metastore.ids import new_uuid7
from downwind.metastore.models import DagRun, TaskInstance, TaskInstanceHistory, XComModel
from downwind.runner.dag_test import InProcessRun
from downwind.sdk.dag import DAG
from downwind.sdk.serialization import serialize_dag
from downwind.services.clear import TEST_TRIGGER as TRIGGERED_BY
from downwind.services.dag_registry import ParsedDag, ensure_dag_version


def record_test_run(
    session: Session, dag: DAG, run: InProcessRun, *, now: datetime, paused_at_creation: bool
) -> DagRun:
    """Store ``run`` (finished) with its task instances, earlier tries and XComs."""
    parsed = ParsedDag(serialize_dag(dag), source_code=_source(dag.fileloc))
    version = ensure_dag_version(
        session, parsed, fileloc=dag.fileloc, now=now, paused_at_creation=paused_at_creation
    )
    session.execute(delete(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.run_id == run.run_id))
    info = run.info
    row = DagRun(
        dag_id=dag.dag_id,
        run_id=run.run_id,
        run_type="manual",
        logical_date=info.logical_date,
        data_interval_start=info.data_interval_start,
        data_interval_end=info.data_interval_end,
        run_after=info.logical_date,
        conf=dict(info.conf),
        state=run.state.value,
        queued_at=run.start_date,
        start_date=run.start_date,
        end_date=run.end_date,
        dag_version_id=version.id,
        triggered_by=TRIGGERED_BY,
        clear_number=0,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    _insert_task_instances(session, dag, run, version.id, now)
    _insert_xcoms(session, run, now)
    return row


def _insert_task_instances(
    session: Session, dag: DAG, run: InProcessRun, version_id: int, now: datetime
) -> None:
    instances, history = [], []
    for task_id, record in run.task_instances.items():
        task = dag.task_dict[task_id]
        common = {
            "dag_id": dag.dag_id,
            "run_id": run.run_id,
            "task_id": task_id,
            "map_index": record.map_index,
            "max_tries": record.max_tries,
            "pool": task.pool,
            "pool_slots": task.pool_slots,
            "queue": task.queue,
            "priority_weight": task.priority_weight,
            "operator": task.task_type,
            "dag_version_id": version_id,
            "hostname": "dags test",
            "updated_at": now,
        }
        ti_id = new_uuid7()
        instances.append(
            {
                **common,
                "id": ti_id,
                "state": record.state.value if record.state else None,
                "try_number": record.try_number,
                "start_date": record.start_date,
                "end_date": record.end_date,
                "duration": record.duration,
            }
        )
        for earlier in record.tries[:-1]:
            duration = None
            if earlier.start_date and earlier.end_date:
                duration = (earlier.end_date - earlier.start_date).total_seconds()
            history.append(
                {
                    **common,
                    "task_instance_id": ti_id,
                    "state": earlier.state.value,
                    "try_number": earlier.try_number,
                    "start_date": earlier.start_date,
                    "end_date": earlier.end_date,
                    "duration": duration,
                }
            )
    if instances:
        session.execute(insert(TaskInstance), instances)
    if history:
        session.execute(insert(TaskInstanceHistory), history)


def _insert_xcoms(session: Session, run: InProcessRun, now: datetime) -> None:
    rows = [
        {
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task_id,
            "map_index": map_index,
            "key": key,
            "value": text,
            "timestamp": now,
        }
        for (dag_id, run_id, task_id, map_index, key), text in run.store.xcoms.items()
        if run_id == run.run_id
    ]
    if rows:
        session.execute(insert(XComModel), rows)


def _source(fileloc: str) -> str | None:
    try:
        return Path(fileloc).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


__all__ = ["TRIGGERED_BY", "record_test_run"]
