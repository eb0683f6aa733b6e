"""``downwind dags trigger|pause|unpause|list-runs|state|set-state`` on a migrated SQLite
metastore (one flow also on PostgreSQL), through ``main([...])``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from metastore_dags import (
    etl_dag,
    finish_try,
    in_configured_metastore,
    migrate_configured_metastore,
    register,
    register_in_configured_metastore,
    states,
)
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from downwind.cli.main import main
from downwind.config import reset_config_cache
from downwind.metastore.engine import create_engine_from_url, dispose_engines
from downwind.metastore.models import AuditLog, DagModel

RUN = "manual__2026-01-05T00:00:00+00:00"


@pytest.fixture
def home(downwind_home: Path) -> Iterator[Path]:
    """A migrated SQLite home where DAG ``etl`` is registered, paused as new DAGs are."""
    migrate_configured_metastore()
    register_in_configured_metastore(etl_dag(), paused=True)
    yield downwind_home
    dispose_engines()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_trigger_queues_a_run_with_conf_and_says_the_dag_is_paused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(
        capsys, "dags", "trigger", "etl", "--conf", '{"rows": 9}', "--logical-date", "2026-01-05"
    )
    assert (status, err) == (0, "")
    assert out == (
        f"Triggered DAG 'etl': run {RUN} (logical date 2026-01-05T00:00:00+00:00) is queued.\n"
        "Note: DAG 'etl' is paused: the run starts once it is unpaused "
        "(downwind dags unpause etl).\n"
    )
    status, out, _ = _run(capsys, "dags", "list-runs", "etl")
    assert status == 0
    header, _rule, row = out.splitlines()
    assert header.split() == [
        "run_id",
        "state",
        "run_type",
        "logical_date",
        "start_date",
        "end_date",
    ]
    assert row.split() == [RUN, "queued", "manual", "2026-01-05T00:00:00+00:00", "-", "-"]
    status, out, _ = _run(capsys, "dags", "list-runs", "etl", "-o", "json")
    (record,) = json.loads(out)
    assert record["conf"] == {"rows": 9}
    assert record["data_interval_start"] == "2026-01-04T00:00:00+00:00"
    assert record["triggered_by"] == "cli"
    assert _run(capsys, "dags", "state", "etl", RUN) == (0, "queued\n", "")

    audit = in_configured_metastore(lambda s: s.scalars(select(AuditLog)).one())
    assert audit.event == "trigger" and audit.owner  # the OS user


def test_trigger_with_a_run_id_and_json_output(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(capsys, "dags", "trigger", "etl", "-r", "my_run", "-o", "json")
    assert status == 0
    assert json.loads(out)["run_id"] == "my_run"
    assert json.loads(out)["state"] == "queued"


#: (argv, the start of the one error line it must print)
BAD_INPUT = [
    (["dags", "trigger", "elt"], "error: DAG 'elt' not found in the metastore"),
    (["dags", "trigger", "etl", "-l", "2026-13-01"], "error: invalid logical date"),
    (["dags", "trigger", "etl", "-c", "{rows: 1}"], "error: --conf is not valid JSON"),
    (["dags", "trigger", "etl", "-c", "[1]"], "error: --conf must be a JSON object"),
    (["dags", "trigger", "etl", "-c", '{"rows": 0}'], "error: param 'rows'"),
    (["dags", "trigger", "etl", "-r", "a/b"], "error: invalid run id 'a/b'"),
    (["dags", "list-runs", "etl", "--state", "done"], "error: invalid DAG run state"),
    (["dags", "list-runs", "etl", "-s", "yesterday"], "error: invalid logical date"),
    (["dags", "list-runs", "nope"], "error: DAG 'nope' not found"),
    (["dags", "state", "etl", "manual__x"], "error: DAG 'etl' has no run 'manual__x'"),
    (["dags", "pause", "nope"], "error: DAG 'nope' not found"),
    (["dags", "set-state", "etl", "manual__x", "success"], "error: DAG 'etl' has no run"),
]


def test_bad_input_is_one_error_line_and_status_1(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv, message in BAD_INPUT:
        status, out, err = _run(capsys, *argv)
        assert status == 1, argv
        assert err.startswith(message), (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        assert out == "", argv


def test_a_duplicate_run_id_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "dags", "trigger", "etl", "-l", "2026-01-05")[0] == 0
    status, _, err = _run(capsys, "dags", "trigger", "etl", "-l", "2026-01-05")
    assert status == 1
    assert err == (
        f"error: DAG 'etl' already has a run with run id '{RUN}'; choose another run id or "
        "logical date\n"
    )


def test_pause_and_unpause(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def paused() -> bool:
        return in_configured_metastore(lambda s: s.get(DagModel, "etl").is_paused)

    assert _run(capsys, "dags", "unpause", "etl") == (0, "Unpaused DAG 'etl'.\n", "")
    assert paused() is False
    status, out, _ = _run(capsys, "dags", "trigger", "etl")
    assert status == 0 and "paused" not in out
    assert _run(capsys, "dags", "pause", "etl") == (0, "Paused DAG 'etl'.\n", "")
    assert paused() is True


def test_set_state_marks_the_run_and_its_unfinished_tasks(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "dags", "trigger", "etl", "-l", "2026-01-05")
    status, out, _ = _run(capsys, "dags", "set-state", "etl", RUN, "failed")
    assert (status, out) == (0, f"Marked run {RUN} of DAG 'etl' failed.\n")
    assert set(in_configured_metastore(states, "etl", RUN).values()) == {"skipped"}
    status, _, err = _run(capsys, "dags", "set-state", "etl", RUN, "running")
    assert status == 1
    assert err == "error: a DAG run can be marked success or failed, not running\n"


def test_list_runs_filters_and_says_when_there_is_none(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "dags", "list-runs", "etl") == (0, "No runs of DAG 'etl' found.\n", "")
    assert _run(capsys, "dags", "list-runs", "etl", "-o", "json") == (0, "[]\n", "")
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        _run(capsys, "dags", "trigger", "etl", "-l", day)
    status, out, _ = _run(
        capsys, "dags", "list-runs", "etl", "-s", "2026-01-02", "-e", "2026-01-02", "-o", "json"
    )
    assert status == 0
    assert [r["logical_date"] for r in json.loads(out)] == ["2026-01-02T00:00:00+00:00"]
    assert _run(capsys, "dags", "list-runs", "etl", "--state", "success") == (
        0,
        "No runs of DAG 'etl' found.\n",
        "",
    )


def test_commands_say_to_migrate_when_the_metastore_is_not_ready(
    downwind_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db_file = downwind_home / "downwind.db"
    status, _, err = _run(capsys, "dags", "list-runs", "etl")
    assert status == 1
    assert (
        err
        == f"error: there is no metastore at sqlite:///{db_file} yet: run `downwind db migrate`\n"
    )
    assert not db_file.exists(), "a command must not create an empty database"

    engine = create_engine_from_url(f"sqlite:///{db_file}")  # an empty database file
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    engine.dispose()
    for argv in (["dags", "trigger", "etl"], ["variables", "list"], ["pools", "list"]):
        status, _, err = _run(capsys, *argv)
        assert status == 1
        assert err == (
            f"error: the metastore at sqlite:///{db_file} is not migrated: run `downwind db "
            "migrate`\n"
        )
    dispose_engines()


def test_an_unreachable_postgres_is_one_error_line(
    downwind_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOWNWIND__DATABASE__URL", "postgresql://dw:s3cret@127.0.0.1:1/downwind")
    reset_config_cache()
    status, _, err = _run(capsys, "variables", "list")
    assert status == 1
    assert err.startswith(
        "error: cannot reach the metastore at postgresql+psycopg://dw:***@127.0.0.1:1/downwind: "
    )
    assert "s3cret" not in err and err.count("\n") == 1
    dispose_engines()


def test_trigger_clear_flow_on_both_databases(
    db_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same commands on SQLite and on PostgreSQL (``DOWNWIND__DATABASE__URL``)."""
    assert _run(capsys, "db", "migrate")[0] == 0
    register_in_configured_metastore(etl_dag())
    assert _run(capsys, "dags", "trigger", "etl", "-l", "2026-01-05", "-c", '{"rows": 2}')[0] == 0

    def fail_transform(session: Session) -> None:
        finish_try(session, "etl", RUN, "extract", "success")
        finish_try(session, "etl", RUN, "transform", "failed")

    in_configured_metastore(fail_transform)
    status, out, _ = _run(capsys, "tasks", "clear", "etl", "--only-failed", "--yes")
    assert status == 0, out
    assert out.endswith(
        "Cleared 1 task instance in 1 run of DAG 'etl'; the scheduler will run it again.\n"
    )
    status, out, _ = _run(capsys, "tasks", "states-for-dag-run", "etl", RUN, "-o", "json")
    assert {r["task_id"]: r["state"] for r in json.loads(out)} == {
        "extract": "success",
        "transform": None,
        "load": None,
        "report": None,
    }
    assert _run(capsys, "dags", "state", "etl", RUN) == (0, "queued\n", "")


def test_dags_list_shows_whether_each_dag_is_paused_once_the_metastore_exists(
    db_home, capsys
) -> None:
    import json as _json
    import textwrap

    from downwind.metastore.engine import get_engine, session_factory

    (db_home / "dags").mkdir(exist_ok=True)
    (db_home / "dags" / "two.py").write_text(
        textwrap.dedent(
            """
            from datetime import datetime
            from downwind import DAG
            from downwind.operators.empty import EmptyOperator

            for name in ("on", "new"):
                with DAG(name, start_date=datetime(2026, 1, 1), schedule=None):
                    EmptyOperator(task_id="t")
            """
        )
    )
    assert main(["dags", "list", "-o", "json"]) == 0
    assert "is_paused" not in _json.loads(capsys.readouterr().out)[0]  # no metastore yet
    migrate_configured_metastore()
    with session_factory(get_engine()).begin() as session:
        from downwind.sdk.discovery import collect_configured_dags

        register(session, collect_configured_dags().dags["on"], paused=False)
    assert main(["dags", "list", "-o", "json"]) == 0
    paused = {row["dag_id"]: row["is_paused"] for row in _json.loads(capsys.readouterr().out)}
    assert paused == {"new": None, "on": False}
    assert main(["dags", "list"]) == 0
    table = capsys.readouterr().out
    assert "paused" in table.splitlines()[0] and "not parsed yet" in table
