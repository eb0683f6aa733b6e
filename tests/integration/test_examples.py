"""The example DAGs shipped with downwind load cleanly and run green."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from downwind.cli.main import main
from downwind.config import reset_config_cache
from downwind.runner.console import ConsoleReporter
from downwind.runner.dag_test import InProcessRun, run_dag_in_process
from downwind.sdk.dag import DAG
from downwind.sdk.discovery import EXAMPLE_DAGS_FOLDER, collect_dags, load_dag_file
from downwind.states import DagRunState, TaskInstanceState

TI = TaskInstanceState
EXAMPLE_IDS = {"download_rocket_launches", "example_taskflow_etl", "example_branching"}


@pytest.fixture(autouse=True)
def examples_on(downwind_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared empty ``$DOWNWIND_HOME``, with the examples on and no variables set."""
    for name in list(os.environ):
        if name.startswith("DOWNWIND_VAR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DOWNWIND__CORE__LOAD_EXAMPLES", "true")
    reset_config_cache()
    return downwind_home


def _load_example(dag_id: str) -> DAG:
    dags, error = load_dag_file(EXAMPLE_DAGS_FOLDER / f"{dag_id}.py")
    assert error is None, error
    (found,) = dags
    assert found.dag_id == dag_id
    return found


def _run(dag: DAG, day: str) -> tuple[InProcessRun, str]:
    """Run ``dag`` for the logical date ``day``; return the run and its printed output."""
    out = io.StringIO()
    run = run_dag_in_process(
        dag,
        logical_date=datetime.fromisoformat(day).replace(tzinfo=UTC),
        reporter=ConsoleReporter(out, color=False),
    )
    return run, out.getvalue()


def _states(run: InProcessRun) -> dict[str, TaskInstanceState | None]:
    return {tid: ti.state for tid, ti in run.task_instances.items()}


def test_every_shipped_example_loads_without_import_errors(downwind_home: Path) -> None:
    bag = collect_dags(downwind_home / "dags", include_examples=True)

    assert bag.import_errors == {}
    assert set(bag.dags) == EXAMPLE_IDS
    shipped = sorted(p.name for p in EXAMPLE_DAGS_FOLDER.glob("*.py") if p.name != "__init__.py")
    assert sorted(Path(f).name for f in bag.files) == shipped
    for dag in bag.dags.values():
        assert "example" in dag.tags
        assert dag.description or dag.doc_md, f"{dag.dag_id} has no description"


def test_examples_are_listed_by_the_cli_when_load_examples_is_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["dags", "list", "--output", "json"]) == 0
    listed = capsys.readouterr().out
    for dag_id in EXAMPLE_IDS:
        assert f'"{dag_id}"' in listed


def test_no_example_is_loaded_when_load_examples_is_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOWNWIND__CORE__LOAD_EXAMPLES", "false")
    reset_config_cache()

    assert main(["dags", "test", "example_branching", "2026-01-03"]) == 1
    assert "DAG 'example_branching' not found" in capsys.readouterr().err


def test_rocket_example_has_the_classic_shape() -> None:
    dag = _load_example("download_rocket_launches")

    assert dag.schedule == "@daily"
    assert dag.catchup is True
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert dag.start_date == start - timedelta(days=14)
    assert [t.task_id for t in dag.topological_sort()] == [
        "download_launches",
        "get_pictures",
        "notify",
    ]
    assert [t.task_type for t in dag.topological_sort()] == [
        "BashOperator",
        "PythonOperator",
        "BashOperator",
    ]
    assert "{{ ds }}" in dag.get_task("get_pictures").op_kwargs["run_dir"]


def test_taskflow_etl_example_passes_values_through_xcom() -> None:
    dag = _load_example("example_taskflow_etl")
    assert dag.get_task("transform").multiple_outputs is True
    assert dag.get_task("transform").upstream_task_ids == {"extract"}
    assert dag.get_task("load").upstream_task_ids == {"transform"}

    run, output = _run(dag, "2026-01-01")

    assert run.state is DagRunState.SUCCESS, output
    assert set(_states(run).values()) == {TI.SUCCESS}
    assert run.xcom("extract") == {"1001": 301.27, "1002": 433.21, "1003": 502.22}
    assert run.xcom("transform", "total_order_value") == 1236.7
    assert run.xcom("transform", "order_count") == 3
    assert run.xcom("load") == "2026-01-01: 3 orders, total 1236.70"
    assert "load | 2026-01-01: 3 orders, total 1236.70" in output


@pytest.mark.parametrize(
    ("day", "taken", "not_taken", "weekday"),
    [
        ("2026-01-03", "weekend_report", "weekday_report", "Saturday"),
        ("2026-01-04", "weekend_report", "weekday_report", "Sunday"),
        ("2026-01-05", "weekday_report", "weekend_report", "Monday"),
        ("2026-01-09", "weekday_report", "weekend_report", "Friday"),
    ],
)
def test_branching_example_follows_the_path_of_the_weekday(
    day: str, taken: str, not_taken: str, weekday: str
) -> None:
    dag = _load_example("example_branching")

    run, output = _run(dag, day)

    assert run.state is DagRunState.SUCCESS, output
    assert run.xcom("choose_path") == taken
    states = _states(run)
    assert states[taken] is TI.SUCCESS
    assert states[not_taken] is TI.SKIPPED
    assert states["report"] is TI.SUCCESS  # the join runs although one path was skipped
    assert run.task_instances[not_taken].try_number == 0  # never started
    assert f"{weekday}: following {taken}" in output
    assert f"Report for {day} done" in output


def test_branching_example_runs_green_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dags", "test", "example_branching", "2026-01-03", "--no-color"]) == 0
    out = capsys.readouterr().out
    assert "Weekend 2026-01-03: short report" in out
    assert "Weekday" not in out
