"""`downwind dags test` records its run in a migrated metastore (unless --no-db)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from downwind.cli.main import main
from downwind.metastore.engine import get_engine, session_factory
from downwind.metastore.migrate import upgrade
from downwind.metastore.models import DagRun, TaskInstance, TaskInstanceHistory, XComModel
from downwind.runtime import serde
from downwind.services.variables import set_variable

RUN_ID = "test__2026-01-05T00:00:00+00:00"


@pytest.fixture
def home(db_home: Path) -> Path:
    (db_home / "dags").mkdir(exist_ok=True)
    (db_home / "dags" / "recorded.py").write_text(
        textwrap.dedent(
            """
            from datetime import datetime, timedelta
            from downwind import DAG, Variable
            from downwind.operators.python import PythonOperator

            attempts = []

            def flaky():
                attempts.append(1)
                if len(attempts) == 1:
                    raise RuntimeError("first try fails")
                return Variable.get("greeting", default_var="nobody")

            with DAG("recorded", start_date=datetime(2026, 1, 1), schedule="@daily"):
                PythonOperator(task_id="flaky", python_callable=flaky, retries=1,
                               retry_delay=timedelta(hours=1))
            """
        )
    )
    return db_home


def _sessions():
    return session_factory(get_engine())


def test_a_test_run_is_recorded_with_its_tries_and_xcoms(home: Path, capsys):
    upgrade(get_engine())
    with _sessions().begin() as session:
        set_variable(session, "greeting", "hello from the metastore", now=_now())
    assert main(["dags", "test", "recorded", "2026-01-05", "--no-color"]) == 0
    assert "Recorded as run" in capsys.readouterr().err
    with _sessions()() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == "recorded"))
        ti = session.scalar(select(TaskInstance).where(TaskInstance.run_id == RUN_ID))
        tries = session.scalars(select(TaskInstanceHistory)).all()
        xcom = session.scalar(select(XComModel.value).where(XComModel.run_id == RUN_ID))
    assert (run.run_id, run.run_type, run.triggered_by, run.state) == (
        RUN_ID,
        "manual",
        "test",
        "success",
    )
    assert (ti.state, ti.try_number) == ("success", 2)
    assert [(t.try_number, t.state) for t in tries] == [(1, "up_for_retry")]
    assert serde.loads(xcom) == "hello from the metastore"


def test_a_second_test_of_the_same_date_replaces_the_first(home: Path):
    upgrade(get_engine())
    assert main(["dags", "test", "recorded", "2026-01-05", "--no-color"]) == 0
    assert main(["dags", "test", "recorded", "2026-01-05", "--no-color"]) == 0
    with _sessions()() as session:
        runs = session.scalars(select(DagRun.run_id)).all()
        tis = session.scalars(select(TaskInstance.id)).all()
    assert runs == [RUN_ID]
    assert len(tis) == 1


def test_no_db_records_nothing_and_an_unmigrated_home_is_fine(home: Path):
    assert main(["dags", "test", "recorded", "2026-01-05", "--no-color"]) == 0  # not migrated
    upgrade(get_engine())
    assert main(["dags", "test", "recorded", "2026-01-05", "--no-db", "--no-color"]) == 0
    with _sessions()() as session:
        assert session.scalars(select(DagRun)).all() == []


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_clearing_a_dag_leaves_its_recorded_test_runs_alone_unless_named(home: Path):
    from downwind.services.clear import clear_task_instances

    upgrade(get_engine())
    assert main(["dags", "test", "recorded", "2026-01-05", "--no-color"]) == 0
    with _sessions().begin() as session:
        assert clear_task_instances(session, "recorded", now=_now()) == []
        named = clear_task_instances(session, "recorded", run_ids=[RUN_ID], now=_now())
    assert [ti.task_id for ti in named] == ["flaky"]
