"""``services.dag_registry``: what the DAG processor stores, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from downwind.exceptions import DagNotFound
from downwind.metastore.models import DagModel, DagRun, DagVersion, ParseImportError
from downwind.operators.bash import BashOperator
from downwind.operators.empty import EmptyOperator
from downwind.sdk.dag import DAG
from downwind.sdk.serialization import SerializedDAG, serialize_dag
from downwind.services.dag_registry import (
    DUPLICATE_DAG_ID,
    FileRecord,
    ParsedDag,
    deactivate_missing_files,
    latest_version,
    load_serialized_dag,
    record_parsed_file,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
START = datetime(2026, 1, 1, tzinfo=UTC)
FILE = "/dags/etl.py"
SYNTAX_ERROR = (
    '  File "/dags/etl.py", line 3\n    with DAG("etl" as dag:\n'
    "SyntaxError: '(' was never closed\n"
)


def parsed(
    dag_id: str = "etl",
    *,
    tasks: tuple[str, ...] = ("extract", "load"),
    fileloc: str = FILE,
    source: str | None = "# the source\n",
    **dag_args: Any,
) -> ParsedDag:
    """A DAG of a chain of ``tasks`` as the DAG processor hands it over."""
    dag_args.setdefault("start_date", START)
    dag_args.setdefault("schedule", "@daily")
    with DAG(dag_id, fileloc=fileloc, **dag_args) as dag:
        previous = None
        for task_id in tasks:
            task = EmptyOperator(task_id=task_id)
            if previous is not None:
                previous >> task
            previous = task
    return ParsedDag(serialize_dag(dag), source)


def record(
    session: Session,
    *dags: ParsedDag,
    fileloc: str = FILE,
    error: str | None = None,
    now: datetime = NOW,
    paused_at_creation: bool = True,
) -> FileRecord:
    result = record_parsed_file(
        session,
        fileloc=fileloc,
        dags=dags,
        import_error=error,
        now=now,
        paused_at_creation=paused_at_creation,
    )
    session.flush()
    return result


def dag_row(session: Session, dag_id: str = "etl") -> DagModel:
    row = session.get(DagModel, dag_id)
    assert row is not None
    session.refresh(row)
    return row


def versions(session: Session, dag_id: str = "etl") -> list[DagVersion]:
    return list(
        session.scalars(
            select(DagVersion).where(DagVersion.dag_id == dag_id).order_by(DagVersion.id)
        )
    )


def import_errors(session: Session) -> dict[str, str | None]:
    rows = session.scalars(select(ParseImportError).order_by(ParseImportError.filename))
    return {row.filename: row.stacktrace for row in rows}


def test_a_new_dag_gets_a_row_and_version_1(session: Session) -> None:
    result = record(session, parsed(description="nightly load", tags=["sales", "etl"]))

    row = dag_row(session)
    assert (row.is_active, row.is_paused, row.has_import_errors) == (True, True, False)
    assert row.fileloc == FILE
    assert row.description == "nightly load"
    assert [tag.name for tag in row.tags] == ["etl", "sales"]
    assert row.last_parsed_time == NOW
    assert row.timetable_summary == "@daily"
    assert [(v.dag_id, v.version_number) for v in result.versions] == [("etl", 1)]
    assert versions(session)[0].source_code == "# the source\n"
    assert versions(session)[0].fileloc == FILE
    assert import_errors(session) == {}


@pytest.mark.parametrize(
    ("paused_at_creation", "is_paused_upon_creation", "paused"),
    [(True, None, True), (False, None, False), (True, False, False), (False, True, True)],
)
def test_new_dags_are_paused_per_config_unless_the_dag_says(
    session: Session,
    paused_at_creation: bool,
    is_paused_upon_creation: bool | None,
    paused: bool,
) -> None:
    dag = parsed(is_paused_upon_creation=is_paused_upon_creation)
    record(session, dag, paused_at_creation=paused_at_creation)
    assert dag_row(session).is_paused is paused


def test_parsing_again_never_changes_whether_a_dag_is_paused(session: Session) -> None:
    record(session, parsed())
    dag_row(session).is_paused = False  # the user switched it on
    session.flush()
    record(session, parsed(tasks=("extract", "transform", "load")), paused_at_creation=True)
    assert dag_row(session).is_paused is False


def test_a_version_is_stored_only_when_the_dag_changes(session: Session) -> None:
    assert len(record(session, parsed()).versions) == 1
    assert record(session, parsed(), now=NOW + timedelta(minutes=1)).versions == []
    assert dag_row(session).last_parsed_time == NOW + timedelta(minutes=1)

    changed = record(session, parsed(tasks=("extract", "transform", "load")))

    assert [v.version_number for v in changed.versions] == [2]
    stored = versions(session)
    assert [v.version_number for v in stored] == [1, 2]
    assert stored[0].dag_hash != stored[1].dag_hash
    assert load_serialized_dag(session, "etl", stored[0].id).task_ids == ["extract", "load"]
    assert load_serialized_dag(session, "etl").task_ids == ["extract", "transform", "load"]


def test_a_comment_edit_updates_the_source_but_makes_no_new_version(session: Session) -> None:
    record(session, parsed(source="# v1\n"))
    assert record(session, parsed(source="# v1, with a better comment\n")).versions == []
    (only,) = versions(session)
    assert only.source_code == "# v1, with a better comment\n"


def test_tags_follow_the_file(session: Session) -> None:
    record(session, parsed(tags=["a"]))
    record(session, parsed(tags=["a", "b"]))
    assert [tag.name for tag in dag_row(session).tags] == ["a", "b"]
    record(session, parsed(tags=["b", "c"]))
    assert [tag.name for tag in dag_row(session).tags] == ["b", "c"]
    record(session, parsed())
    assert dag_row(session).tags == []


def test_an_import_error_leaves_the_dag_and_its_runs_alone_until_the_file_is_fixed(
    session: Session,
) -> None:
    record(session, parsed())
    (v1,) = versions(session)
    session.add(
        DagRun(
            dag_id="etl",
            run_id="scheduled__2026-01-01",
            run_type="scheduled",
            run_after=START,
            dag_version_id=v1.id,
            state="success",
        )
    )
    session.flush()

    failed = record(session, error=SYNTAX_ERROR, now=NOW + timedelta(minutes=1))

    assert failed.import_error == SYNTAX_ERROR
    assert import_errors(session) == {FILE: SYNTAX_ERROR}
    error_row = session.scalar(select(ParseImportError))
    assert error_row is not None and error_row.timestamp == NOW + timedelta(minutes=1)
    row = dag_row(session)
    assert (row.is_active, row.has_import_errors) == (True, True)
    assert row.last_parsed_time == NOW
    assert [v.version_number for v in versions(session)] == [1]
    assert load_serialized_dag(session, "etl").task_ids == ["extract", "load"]
    run = session.scalar(select(DagRun).where(DagRun.dag_id == "etl"))
    assert run is not None and (run.state, run.dag_version_id) == ("success", v1.id)

    # The same error again replaces the old one rather than adding a second row.
    record(session, error=SYNTAX_ERROR)
    assert session.scalar(select(func.count()).select_from(ParseImportError)) == 1

    fixed = record(session, parsed(), now=NOW + timedelta(minutes=2))

    assert fixed.import_error is None and fixed.versions == []
    assert import_errors(session) == {}
    assert dag_row(session).has_import_errors is False


def test_an_import_error_in_a_new_file_records_only_the_error(session: Session) -> None:
    record(session, error=SYNTAX_ERROR)
    assert import_errors(session) == {FILE: SYNTAX_ERROR}
    assert session.scalar(select(func.count()).select_from(DagModel)) == 0


def test_a_dag_removed_from_its_file_becomes_inactive_and_comes_back(session: Session) -> None:
    record(session, parsed("etl"), parsed("report"))

    result = record(session, parsed("etl"))

    assert result.deactivated == ["report"]
    assert dag_row(session, "report").is_active is False
    assert dag_row(session, "etl").is_active is True
    assert [v.version_number for v in versions(session, "report")] == [1], "history kept"

    assert record(session, parsed("etl"), parsed("report")).versions == []
    assert dag_row(session, "report").is_active is True


def test_a_deleted_file_deactivates_its_dags_and_drops_its_import_error(
    session: Session,
) -> None:
    record(session, parsed("etl"), parsed("report"))
    record(session, parsed("other", fileloc="/dags/other.py"), fileloc="/dags/other.py")
    record(session, fileloc="/dags/broken.py", error=SYNTAX_ERROR)
    record(session, fileloc="/dags/fine_again.py", error=SYNTAX_ERROR)

    gone = deactivate_missing_files(session, ["/dags/other.py", "/dags/fine_again.py"])
    session.flush()

    assert gone == ["etl", "report"]
    assert [dag_row(session, d).is_active for d in ("etl", "report", "other")] == [
        False,
        False,
        True,
    ]
    assert list(import_errors(session)) == ["/dags/fine_again.py"]
    assert deactivate_missing_files(session, ["/dags/other.py", "/dags/fine_again.py"]) == []


def test_a_dag_id_already_used_by_another_file_is_an_import_error(session: Session) -> None:
    record(session, parsed("etl"))
    copy = "/dags/etl_copy.py"

    result = record(session, parsed("etl", fileloc=copy, tasks=("x",)), fileloc=copy)

    assert result.duplicate_ids == ["etl"]
    message = import_errors(session)[copy]
    assert message is not None
    assert f"{DUPLICATE_DAG_ID}: the DAG id 'etl' is already used by {FILE}" in message
    assert dag_row(session).fileloc == FILE
    assert [v.version_number for v in versions(session)] == [1], "the first file keeps it"

    # Once the first file no longer defines it, the copy takes it over.
    record(session)
    record(session, parsed("etl", fileloc=copy, tasks=("x",)), fileloc=copy)
    assert copy not in import_errors(session)
    row = dag_row(session)
    assert (row.fileloc, row.is_active) == (copy, True)
    assert load_serialized_dag(session, "etl").task_ids == ["x"]


def test_load_serialized_dag_reads_the_latest_or_a_given_version(session: Session) -> None:
    with DAG("shell", start_date=START, schedule="@hourly", fileloc=FILE) as dag:
        BashOperator(task_id="hello", bash_command="echo {{ ds }}", retries=3)
    record(session, ParsedDag(serialize_dag(dag)))
    record(session, parsed("shell", tasks=("a", "b", "c"), schedule="@hourly"))
    first, second = versions(session, "shell")

    latest = load_serialized_dag(session, "shell")
    assert isinstance(latest, SerializedDAG)
    assert latest.task_ids == ["a", "b", "c"]
    old = load_serialized_dag(session, "shell", first.id)
    assert old.get_task("hello").retries == 3
    assert old.get_task("hello").template_values["bash_command"] == "echo {{ ds }}"
    assert latest_version(session, "shell") is not None
    assert latest_version(session, "shell").id == second.id  # type: ignore[union-attr]


def test_load_serialized_dag_of_an_unknown_dag_or_version_says_so(session: Session) -> None:
    with pytest.raises(DagNotFound, match="DAG 'nope' has no stored version: is it in the"):
        load_serialized_dag(session, "nope")
    assert latest_version(session, "nope") is None
    record(session, parsed("etl"), parsed("report"))
    report_version = versions(session, "report")[0].id
    with pytest.raises(
        DagNotFound, match=f"DAG 'etl' has no stored version with id {report_version}"
    ):
        load_serialized_dag(session, "etl", report_version)
    with pytest.raises(DagNotFound, match="no stored version with id 999999"):
        load_serialized_dag(session, "etl", 999999)
