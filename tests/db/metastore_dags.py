"""Helpers of the service and CLI tests: DAGs registered in the metastore as the DAG
processor would, and task instances put in the states a scheduler and a runner leave."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from downwind.metastore.engine import create_engine_from_url, get_engine, normalize_url, sqlite_path
from downwind.metastore.migrate import upgrade
from downwind.metastore.models import DagRun, TaskInstance
from downwind.operators.empty import EmptyOperator
from downwind.sdk.dag import DAG
from downwind.sdk.params import Param
from downwind.sdk.serialization import serialize_dag
from downwind.services.dag_registry import ParsedDag, record_parsed_file
from downwind.services.runs import create_dag_run
from downwind.timetables.base import DataInterval

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
START = datetime(2026, 1, 1, tzinfo=UTC)


def etl_dag(dag_id: str = "etl", **dag_args: object) -> DAG:
    """``extract >> transform >> load`` and ``extract >> report``; ``extract`` has 2
    retries, ``load`` runs in the pool ``db`` with 2 slots; param ``rows`` >= 1."""
    dag_args.setdefault("start_date", START)
    dag_args.setdefault("schedule", "@daily")
    dag_args.setdefault("params", {"rows": Param(5, type="integer", minimum=1)})
    with DAG(dag_id, **dag_args) as dag:  # type: ignore[arg-type]
        extract = EmptyOperator(task_id="extract", retries=2)
        transform = EmptyOperator(task_id="transform", retries=1)
        load = EmptyOperator(task_id="load", pool="db", pool_slots=2, queue="io")
        report = EmptyOperator(task_id="report")
        extract >> transform >> load
        extract >> report
    return dag


def register(
    session: Session,
    dag: DAG,
    *,
    paused: bool = False,
    now: datetime = NOW,
    fileloc: str | None = None,
) -> None:
    """Store ``dag`` as the DAG processor does after parsing its file."""
    record_parsed_file(
        session,
        fileloc=fileloc or f"/dags/{dag.dag_id}.py",
        dags=[ParsedDag(serialize_dag(dag))],
        import_error=None,
        now=now,
        paused_at_creation=paused,
    )
    session.flush()


def scheduled_run(session: Session, dag_id: str, day: int) -> DagRun:
    """The scheduled run of 2026-01-<day>."""
    start = START + timedelta(days=day - 1)
    return create_dag_run(
        session,
        dag_id,
        run_type="scheduled",
        logical_date=start,
        data_interval=DataInterval(start, start + timedelta(days=1)),
        conf=None,
        triggered_by="scheduler",
        now=NOW,
    )


def task_instance(session: Session, dag_id: str, run_id: str, task_id: str) -> TaskInstance:
    return session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id,
        )
    ).one()


def states(session: Session, dag_id: str, run_id: str) -> dict[str, str | None]:
    """``{task_id: state}`` of a run, read from the database."""
    session.flush()
    session.expire_all()
    rows = session.execute(
        select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
        )
    )
    return {task_id: state for task_id, state in rows}


def finish_try(
    session: Session,
    dag_id: str,
    run_id: str,
    task_id: str,
    state: str,
    *,
    try_number: int = 1,
    started: datetime = NOW,
) -> TaskInstance:
    """Leave a task instance as a finished (or running) try leaves it."""
    ti = task_instance(session, dag_id, run_id, task_id)
    ti.state = state
    ti.try_number = try_number
    ti.hostname = "worker-1"
    ti.pid = 4242
    ti.queued_dttm = started - timedelta(seconds=1)
    ti.start_date = started
    if state != "running":
        ti.end_date = started + timedelta(seconds=3)
        ti.duration = 3.0
    ti.rendered_fields = {"bash_command": "echo hi"}
    session.flush()
    return ti


def set_run_state(session: Session, run: DagRun, state: str) -> None:
    run.state = state
    run.start_date = NOW
    if state in ("success", "failed"):
        run.end_date = NOW + timedelta(minutes=1)
    session.flush()


_template: list[Path] = []


def migrated_sqlite_file(dest: Path) -> None:
    """Write a migrated SQLite metastore to ``dest``: a copy of one migrated once per test
    process (migrating takes longer than the tests that use it)."""
    if not _template:
        folder = Path(tempfile.mkdtemp(prefix="downwind-migrated-"))
        atexit.register(shutil.rmtree, folder, True)
        engine = create_engine_from_url(f"sqlite:///{folder / 'downwind.db'}")
        upgrade(engine)
        engine.dispose()  # the last connection checkpoints the WAL into the file
        _template.append(folder / "downwind.db")
    shutil.copyfile(_template[0], dest)


def migrate_configured_metastore() -> None:
    """Migrate the metastore of the current configuration (``[database] url``); the
    default SQLite file is copied from a template."""
    from downwind.config import get_config

    conf = get_config()
    url = normalize_url(conf.database.url, conf.home)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        migrated_sqlite_file(path)
    else:
        upgrade(get_engine())


def register_in_configured_metastore(dag: DAG, *, paused: bool = False) -> None:
    """Store ``dag`` in the metastore of the current configuration, committed."""
    from downwind.metastore.engine import session_factory

    with session_factory()() as session, session.begin():
        register(session, dag, paused=paused)


def in_configured_metastore(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Call ``function(session, *args, **kwargs)`` in a committed transaction on the
    configured metastore and return its result."""
    from downwind.metastore.engine import session_factory

    with session_factory()() as session, session.begin():
        return function(session, *args, **kwargs)
