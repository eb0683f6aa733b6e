"""Every model round-trips through both databases; keys and foreign keys are enforced."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from downwind.exceptions import SerializationError
from downwind.metastore.models import (
    AuditLog,
    Backfill,
    ConnectionModel,
    DagModel,
    DagRun,
    DagTag,
    DagVersion,
    Job,
    ParseImportError,
    Pool,
    TaskInstance,
    TaskInstanceHistory,
    VariableModel,
    XComModel,
)
from downwind.runtime.client import TaskInstanceKey

PARIS = ZoneInfo("Europe/Paris")
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def _reload(session: Session) -> None:
    """Commit, and forget every loaded object so the next reads come from the database."""
    session.commit()
    session.expunge_all()


def _add_run(
    session: Session, dag_id: str = "etl", run_id: str = "scheduled__2026-01-01"
) -> DagRun:
    if session.get(DagModel, dag_id) is None:
        session.add(DagModel(dag_id=dag_id))
    run = DagRun(
        dag_id=dag_id,
        run_id=run_id,
        run_type="scheduled",
        logical_date=JAN_1,
        data_interval_start=JAN_1,
        data_interval_end=JAN_1 + timedelta(days=1),
        run_after=JAN_1 + timedelta(days=1),
    )
    session.add(run)
    session.flush()
    return run


def _add_ti(session: Session, run: DagRun, task_id: str = "extract", map_index: int = -1) -> None:
    session.add(
        TaskInstance(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, map_index=map_index)
    )
    session.flush()


def test_a_dag_with_tags_and_versions_round_trips(session: Session) -> None:
    session.add(
        DagModel(
            dag_id="etl",
            is_paused=False,
            fileloc="/dags/etl.py",
            owners="data",
            max_active_runs=3,
            next_dagrun=JAN_1,
            next_dagrun_create_after=JAN_1 + timedelta(days=1),
            tags=[DagTag(name="finance"), DagTag(name="daily")],
        )
    )
    session.flush()
    session.add_all(
        [
            DagVersion(dag_id="etl", version_number=n, dag_hash=f"{n:064x}", data='{"tasks": []}')
            for n in (1, 2)
        ]
    )
    _reload(session)

    dag = session.get(DagModel, "etl")
    assert dag is not None
    assert (dag.is_paused, dag.is_active, dag.has_import_errors) == (False, True, False)
    assert [tag.name for tag in dag.tags] == ["daily", "finance"]
    assert dag.next_dagrun_create_after == datetime(2026, 1, 2, tzinfo=UTC)
    versions = session.scalars(select(DagVersion).order_by(DagVersion.version_number)).all()
    assert [(v.version_number, v.data) for v in versions] == [
        (1, '{"tasks": []}'),
        (2, '{"tasks": []}'),
    ]
    assert all(v.created_at.tzinfo is UTC for v in versions)

    session.add(DagVersion(dag_id="etl", version_number=2, dag_hash="x", data="{}"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_dag_run_keeps_aware_datetimes_and_its_conf(session: Session) -> None:
    paris_midnight = datetime(2026, 3, 29, 0, 0, tzinfo=PARIS)  # the day clocks go forward
    session.add(DagModel(dag_id="etl"))
    session.add(
        DagRun(
            dag_id="etl",
            run_id="manual__1",
            run_type="manual",
            logical_date=paris_midnight,
            run_after=paris_midnight,
            conf={"when": datetime(2026, 1, 1, 12, tzinfo=PARIS), "days": (1, 2), "n": 3},
            triggered_by="cli",
        )
    )
    _reload(session)
    if session.get_bind().dialect.name == "postgresql":
        # A session time zone other than UTC changes nothing for downwind.
        session.execute(text("SET LOCAL TIME ZONE 'Asia/Tokyo'"))

    run = session.scalars(select(DagRun)).one()
    assert run.logical_date == paris_midnight
    assert run.logical_date.tzinfo is UTC
    assert run.logical_date.isoformat() == "2026-03-28T23:00:00+00:00"
    assert run.conf == {"when": datetime(2026, 1, 1, 12, tzinfo=PARIS), "days": (1, 2), "n": 3}
    assert isinstance(run.conf["days"], tuple)
    assert run.state == "queued"
    assert run.clear_number == 0
    assert run.updated_at.tzinfo is UTC
    # Stored in UTC, so it is found by a UTC bound as well as by the zoned one.
    found = session.scalars(
        select(DagRun.run_id).where(DagRun.logical_date >= datetime(2026, 3, 28, 23, tzinfo=UTC))
    ).all()
    assert found == ["manual__1"]


def test_a_naive_datetime_is_refused_with_a_clear_message(session: Session) -> None:
    session.add(DagModel(dag_id="etl", next_dagrun=datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="cannot store the naive datetime 2026-01-01T00:00:00"):
        session.flush()


def test_a_conf_the_serializer_cannot_store_is_refused(session: Session) -> None:
    run = _add_run(session)
    run.conf = {"callback": object()}
    with pytest.raises(StatementError) as info:
        session.flush()
    assert isinstance(info.value.orig, SerializationError)


def test_a_run_id_is_unique_per_dag(session: Session) -> None:
    _add_run(session, "etl", "manual__1")
    _add_run(session, "other", "manual__1")  # same run id, another DAG: fine
    session.commit()
    with pytest.raises(IntegrityError):
        _add_run(session, "etl", "manual__1")


def test_a_task_instance_round_trips_with_its_defaults(session: Session) -> None:
    run = _add_run(session)
    session.add(
        TaskInstance(
            dag_id=run.dag_id,
            run_id=run.run_id,
            task_id="extract",
            state="success",
            try_number=1,
            max_tries=3,
            start_date=JAN_1,
            end_date=JAN_1 + timedelta(seconds=1.5),
            duration=1.5,
            next_retry_at=None,
            rendered_fields={"bash_command": "echo 2026-01-01", "env": {"DAY": date(2026, 1, 1)}},
            operator="BashOperator",
        )
    )
    _add_ti(session, run, "load")
    _reload(session)

    extract = session.scalars(select(TaskInstance).where(TaskInstance.task_id == "extract")).one()
    assert uuid.UUID(extract.id).version == 7
    assert len(extract.id) == 36
    assert extract.key == TaskInstanceKey("etl", run.run_id, "extract", -1)
    assert extract.rendered_fields == {
        "bash_command": "echo 2026-01-01",
        "env": {"DAY": date(2026, 1, 1)},
    }
    assert extract.end_date - extract.start_date == timedelta(seconds=1.5)
    assert extract.duration == 1.5
    load = session.scalars(select(TaskInstance).where(TaskInstance.task_id == "load")).one()
    assert (load.state, load.try_number, load.max_tries, load.map_index) == (None, 0, 0, -1)
    assert (load.pool, load.pool_slots, load.priority_weight) == ("default_pool", 1, 1)
    assert load.id > extract.id, "UUIDv7 ids sort in creation order"


def test_the_task_instance_key_is_unique(session: Session) -> None:
    run = _add_run(session)
    _add_ti(session, run, "extract")
    _add_ti(session, run, "fan_out", map_index=0)
    _add_ti(session, run, "fan_out", map_index=1)  # mapped instances differ by map_index
    session.commit()
    with pytest.raises(IntegrityError):
        _add_ti(session, run, "extract")


def test_a_task_instance_needs_an_existing_run(session: Session) -> None:
    session.add(DagModel(dag_id="etl"))
    session.flush()
    session.add(TaskInstance(dag_id="etl", run_id="no_such_run", task_id="extract"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_history_keeps_one_row_per_try(session: Session) -> None:
    run = _add_run(session)
    _add_ti(session, run)
    ti = session.scalars(select(TaskInstance)).one()
    for try_number, state in ((1, "up_for_retry"), (2, "failed")):
        session.add(
            TaskInstanceHistory(
                task_instance_id=ti.id,
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                try_number=try_number,
                state=state,
                start_date=JAN_1,
            )
        )
    _reload(session)
    tries = session.scalars(select(TaskInstanceHistory).order_by("try_number")).all()
    assert [(t.try_number, t.state, t.map_index) for t in tries] == [
        (1, "up_for_retry", -1),
        (2, "failed", -1),
    ]
    session.add(
        TaskInstanceHistory(
            task_instance_id=ti.id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            try_number=2,
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()


def test_an_xcom_value_round_trips_through_the_serializer(session: Session) -> None:
    run = _add_run(session)
    _add_ti(session, run)
    xcom = XComModel(dag_id="etl", run_id=run.run_id, task_id="extract", key="return_value")
    value = {"rows": [1, 2], "at": datetime(2026, 1, 1, tzinfo=UTC), "tags": {"a"}}
    xcom.set_value(value)
    session.add(xcom)
    _reload(session)

    stored = session.scalars(select(XComModel)).one()
    assert stored.get_value() == value
    assert stored.map_index == -1
    assert '"__dw__":"datetime"' in (stored.value or "")
    session.add(XComModel(dag_id="etl", run_id=run.run_id, task_id="extract", key="return_value"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_deleting_a_run_deletes_its_task_instances_history_and_xcoms(session: Session) -> None:
    run = _add_run(session)
    _add_ti(session, run)
    ti = session.scalars(select(TaskInstance)).one()
    session.add(
        TaskInstanceHistory(
            task_instance_id=ti.id,
            dag_id="etl",
            run_id=run.run_id,
            task_id="extract",
            try_number=1,
        )
    )
    session.add(XComModel(dag_id="etl", run_id=run.run_id, task_id="extract", key="k", value="1"))
    session.commit()

    session.execute(delete(DagRun).where(DagRun.id == run.id))
    session.commit()
    for model in (TaskInstance, TaskInstanceHistory, XComModel):
        assert session.scalar(select(func.count()).select_from(model)) == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: VariableModel(key="bucket", val="s3://a"),
        lambda: ConnectionModel(conn_id="warehouse", conn_type="postgres"),
        lambda: Pool(pool="api", slots=4),
    ],
    ids=["variable", "connection", "pool"],
)
def test_variables_connections_and_pools_have_unique_names(session: Session, make: object) -> None:
    session.add(make())  # type: ignore[operator]
    session.commit()
    session.add(make())  # type: ignore[operator]
    with pytest.raises(IntegrityError):
        session.flush()


def test_variables_and_connections_round_trip(session: Session) -> None:
    session.add(VariableModel(key="bucket", val="s3://a", description="where files go"))
    session.add(
        ConnectionModel(
            conn_id="warehouse",
            conn_type="postgres",
            host="db.internal",
            schema="analytics",
            login="etl",
            password="gAAAA-encrypted",
            port=5432,
            extra='{"sslmode": "require"}',
            is_encrypted=True,
        )
    )
    _reload(session)
    variable = session.scalars(select(VariableModel)).one()
    assert (variable.val, variable.description, variable.is_encrypted) == (
        "s3://a",
        "where files go",
        False,
    )
    conn = session.scalars(select(ConnectionModel)).one()
    assert (conn.host, conn.schema, conn.port, conn.is_encrypted, conn.is_extra_encrypted) == (
        "db.internal",
        "analytics",
        5432,
        True,
        False,
    )
    assert "gAAAA" not in repr(conn)


def test_import_errors_jobs_audit_log_and_backfills_round_trip(session: Session) -> None:
    session.add(DagModel(dag_id="etl"))
    session.add(ParseImportError(filename="/dags/broken.py", stacktrace="SyntaxError: ..."))
    session.add(
        Job(job_type="scheduler", state="running", hostname="h", pid=42, latest_heartbeat=JAN_1)
    )
    session.add(
        AuditLog(
            event="trigger",
            owner="admin",
            dag_id="etl",
            run_id="manual__1",
            logical_date=JAN_1,
            extra={"conf": {"n": 1}, "at": JAN_1},
        )
    )
    session.flush()
    session.add(
        Backfill(
            dag_id="etl",
            from_date=JAN_1,
            to_date=JAN_1 + timedelta(days=9),
            dag_run_conf={"full": True},
            reprocess_behavior="failed",
        )
    )
    _reload(session)

    error = session.scalars(select(ParseImportError)).one()
    assert (error.filename, error.stacktrace) == ("/dags/broken.py", "SyntaxError: ...")
    assert error.timestamp.tzinfo is UTC
    job = session.scalars(select(Job)).one()
    assert (job.job_type, job.state, job.pid, job.latest_heartbeat) == (
        "scheduler",
        "running",
        42,
        JAN_1,
    )
    entry = session.scalars(select(AuditLog)).one()
    assert entry.extra == {"conf": {"n": 1}, "at": JAN_1}
    assert entry.dttm.tzinfo is UTC
    backfill = session.scalars(select(Backfill)).one()
    assert (backfill.state, backfill.is_paused, backfill.max_active_runs) == ("queued", False, 10)
    assert backfill.to_date - backfill.from_date == timedelta(days=9)
    assert backfill.dag_run_conf == {"full": True}

    run = _add_run(session)
    run.backfill_id = backfill.id
    _reload(session)
    assert session.scalars(select(DagRun.backfill_id)).one() == backfill.id


def test_updated_at_moves_on_update(session: Session) -> None:
    run = _add_run(session)
    session.commit()
    created = run.updated_at
    run.state = "running"
    session.commit()
    assert run.updated_at > created
