"""Serialized DAGs: what the scheduler, API and UI read instead of importing DAG files."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from downwind import DAG, dag, task
from downwind.config import reset_config_cache
from downwind.exceptions import (
    DagDefinitionError,
    ParamValidationError,
    SerializationError,
    TaskNotFound,
)
from downwind.operators.bash import BashOperator
from downwind.operators.empty import EmptyOperator
from downwind.operators.python import BranchPythonOperator, PythonOperator
from downwind.sdk.baseoperator import BaseOperator, chain
from downwind.sdk.params import Param, ParamsDict
from downwind.sdk.serialization import (
    FORMAT_VERSION,
    SerializedDAG,
    SerializedTask,
    canonical_json,
    dag_hash,
    deserialize_dag,
    serialize_dag,
)
from downwind.sdk.trigger_rule import TriggerRule
from downwind.timetables import CronTimetable, DeltaTimetable, NullTimetable, OnceTimetable
from downwind.utils.dates import days_ago

pytestmark = pytest.mark.usefixtures("downwind_home")

START = datetime(2026, 1, 1, tzinfo=UTC)


def _through_json(dag_obj: DAG) -> tuple[dict, SerializedDAG]:
    """Serialize, store as JSON text and read back, as the metastore will."""
    data = serialize_dag(dag_obj)
    stored = json.loads(json.dumps(data))
    return data, deserialize_dag(stored)


def _callback(context):
    return None


def _helper(x):
    return x


class Report(BaseOperator):
    """A custom operator: its own template fields, extensions and colours."""

    template_fields = ("query", "targets", "options")
    template_ext = (".sql",)
    ui_color = "#123456"
    ui_fgcolor = "#fedcba"

    def __init__(self, *, query, targets=None, options=None, **kwargs):
        super().__init__(**kwargs)
        self.query = query
        self.targets = targets
        self.options = options

    def execute(self, context):
        return None


# Round trip -------------------------------------------------------------------------------


def _every_attribute_dag() -> DAG:
    """A DAG where every stored attribute differs from its default."""
    tz = ZoneInfo("Europe/Paris")
    with DAG(
        "everything",
        description="All the settings",
        schedule="30 6 * * 1-5",
        start_date=datetime(2026, 1, 5, tzinfo=tz),
        end_date=datetime(2026, 12, 31, tzinfo=tz),
        catchup=False,
        params={"n": Param(5, type="integer", maximum=10, description="how many"), "who": "me"},
        max_active_runs=3,
        max_active_tasks=7,
        tags=["b", "a"],
        doc_md="# Everything",
        dagrun_timeout=timedelta(hours=2),
        on_success_callback=_callback,
        on_failure_callback=[_callback],
        template_searchpath=["/srv/sql", "/srv/more"],
        is_paused_upon_creation=False,
        owner_links={"ops": "https://example.com/ops"},
    ) as d:
        first = EmptyOperator(task_id="first")
        report = Report(
            task_id="report",
            query="select * from t where day = '{{ ds }}'",
            targets={"b", "a", "c"},
            options={"fn": _helper, "limit": 10},
            owner="analytics",
            email=["a@example.com", "b@example.com"],
            email_on_failure=False,
            email_on_retry=False,
            retries=4,
            retry_delay=timedelta(seconds=90.5),
            retry_exponential_backoff=True,
            max_retry_delay=timedelta(minutes=30),
            execution_timeout=timedelta(minutes=5),
            start_date=datetime(2026, 2, 1, tzinfo=UTC),
            end_date=datetime(2026, 6, 1, tzinfo=UTC),
            depends_on_past=True,
            trigger_rule="none_failed",
            pool="reports",
            pool_slots=2,
            priority_weight=9,
            weight_rule="absolute",
            queue="heavy",
            max_active_tis_per_dag=1,
            do_xcom_push=False,
            multiple_outputs=True,
            on_execute_callback=_callback,
            on_success_callback=_callback,
            on_failure_callback=_callback,
            on_retry_callback=_callback,
            on_skipped_callback=_callback,
            doc_md="Builds the report",
            task_display_name="Build the report",
        )
        first >> report
    return d


TASK_ATTRIBUTES = (
    "task_id",
    "trigger_rule",
    "retries",
    "retry_delay",
    "retry_exponential_backoff",
    "max_retry_delay",
    "execution_timeout",
    "depends_on_past",
    "pool",
    "pool_slots",
    "priority_weight",
    "weight_rule",
    "queue",
    "max_active_tis_per_dag",
    "owner",
    "email",
    "email_on_failure",
    "email_on_retry",
    "doc_md",
    "ui_color",
    "ui_fgcolor",
    "task_display_name",
    "start_date",
    "end_date",
    "do_xcom_push",
    "multiple_outputs",
    "upstream_task_ids",
    "downstream_task_ids",
)


def test_every_dag_attribute_round_trips_through_json():
    original = _every_attribute_dag()
    data, sdag = _through_json(original)

    assert data["__version"] == FORMAT_VERSION
    for name in (
        "dag_id",
        "description",
        "doc_md",
        "fileloc",
        "start_date",
        "end_date",
        "catchup",
        "max_active_runs",
        "max_active_tasks",
        "dagrun_timeout",
        "tags",
        "params",
        "owner",
        "template_searchpath",
        "is_paused_upon_creation",
        "owner_links",
    ):
        assert getattr(sdag, name) == getattr(original, name), name
    assert sdag.timezone == ZoneInfo("Europe/Paris")
    assert sdag.start_date.tzinfo == ZoneInfo("Europe/Paris")
    assert sdag.tags == ["a", "b"]
    assert sdag.owner == "analytics, downwind"
    assert sdag.dagrun_timeout == timedelta(hours=2)
    assert isinstance(sdag.timetable, CronTimetable)
    assert sdag.timetable == original.timetable
    assert sdag.has_on_success_callback is True
    assert sdag.has_on_failure_callback is True


def test_every_task_attribute_round_trips_with_python_types():
    original = _every_attribute_dag()
    _, sdag = _through_json(original)

    for task_id, task_obj in original.task_dict.items():
        stask = sdag.get_task(task_id)
        assert isinstance(stask, SerializedTask)
        for name in TASK_ATTRIBUTES:
            assert getattr(stask, name) == getattr(task_obj, name), (task_id, name)
        assert stask.template_fields == tuple(task_obj.template_fields)
        assert stask.template_ext == tuple(task_obj.template_ext)
        assert stask.task_type == type(task_obj).__name__
        assert stask.task_module == type(task_obj).__module__
        assert stask.dag is sdag and stask.dag_id == "everything"

    report = sdag.get_task("report")
    assert report.trigger_rule is TriggerRule.NONE_FAILED
    assert report.retry_delay == timedelta(seconds=90.5)
    assert report.max_retry_delay == timedelta(minutes=30)
    assert report.execution_timeout == timedelta(minutes=5)
    assert report.upstream_task_ids == {"first"}
    assert report.start_date == datetime(2026, 2, 1, tzinfo=UTC)
    assert report.task_type == "Report"
    for name in ("execute", "success", "failure", "retry", "skipped"):
        assert getattr(report, f"has_on_{name}_callback") is True
    first = sdag.get_task("first")
    assert first.downstream_task_ids == {"report"}
    assert first.has_on_success_callback is False
    assert first.start_date == original.start_date  # inherited from the DAG


def test_serializing_a_deserialized_dag_gives_the_original_dict():
    for original in (_every_attribute_dag(), _rocket_dag(), _minimal_dag()):
        data, sdag = _through_json(original)
        assert serialize_dag(sdag) == data
        assert dag_hash(serialize_dag(sdag)) == dag_hash(data)


def test_templated_values_are_stored_as_text_for_the_template_view():
    _, sdag = _through_json(_every_attribute_dag())
    values = sdag.get_task("report").template_values
    assert values == {
        "query": "select * from t where day = '{{ ds }}'",
        "targets": "{'a', 'b', 'c'}",
        "options": f"{{'fn': {__name__}._helper, 'limit': 10}}",
    }


def test_template_text_is_free_of_memory_addresses():
    class Thing:
        pass

    with DAG("addr", start_date=START) as d:
        PythonOperator(task_id="p", python_callable=_helper, op_args=[Thing(), None, (1,)])
    data = serialize_dag(d)
    text = data["tasks"][0]["template_values"]["op_args"]
    assert " at 0x" not in text
    assert text.endswith("Thing object>, None, (1,)]")


# Defaults ---------------------------------------------------------------------------------


def _minimal_dag() -> DAG:
    with DAG("minimal") as d:
        EmptyOperator(task_id="only")
    return d


def test_keys_equal_to_their_defaults_are_left_out():
    d = _minimal_dag()
    assert serialize_dag(d) == {
        "__version": FORMAT_VERSION,
        "dag_id": "minimal",
        "fileloc": __file__,
        "timetable": {"type": NullTimetable.type_name},
        "tasks": [{"task_id": "only", "task_module": "downwind.operators.empty",
                   "task_type": "EmptyOperator", "ui_color": "#e8f7e4"}],
    }  # fmt: skip


def test_defaults_of_a_deserialized_task_have_the_types_of_an_operator():
    _, sdag = _through_json(_minimal_dag())
    only = sdag.get_task("only")
    assert only.retries == 0
    assert only.retry_delay == timedelta(seconds=300)
    assert only.trigger_rule is TriggerRule.ALL_SUCCESS
    assert only.upstream_task_ids == set() and only.downstream_task_ids == set()
    assert only.pool == "default_pool" and only.pool_slots == 1
    assert only.weight_rule == "downstream" and only.priority_weight == 1
    assert only.task_display_name == "only"
    assert only.template_fields == () and only.template_values == {}
    assert only.max_retry_delay is None and only.execution_timeout is None
    assert sdag.catchup is True and sdag.max_active_runs == 16
    assert sdag.params == ParamsDict() and sdag.tags == []


def test_a_stored_dag_means_the_same_under_another_configuration(monkeypatch):
    """Defaults the configuration gave at parse time are stored, not re-read later."""
    monkeypatch.setenv("DOWNWIND__CORE__DEFAULT_TASK_RETRIES", "3")
    monkeypatch.setenv("DOWNWIND__CORE__MAX_ACTIVE_RUNS_PER_DAG", "2")
    monkeypatch.setenv("DOWNWIND__SCHEDULER__CATCHUP_BY_DEFAULT", "false")
    reset_config_cache()
    data = serialize_dag(_minimal_dag())
    assert data["tasks"][0]["retries"] == 3
    assert data["max_active_runs"] == 2 and data["catchup"] is False

    for name in ("DOWNWIND__CORE__DEFAULT_TASK_RETRIES", "DOWNWIND__CORE__MAX_ACTIVE_RUNS_PER_DAG",
                 "DOWNWIND__SCHEDULER__CATCHUP_BY_DEFAULT"):  # fmt: skip
        monkeypatch.delenv(name)
    reset_config_cache()
    sdag = deserialize_dag(json.loads(json.dumps(data)))
    assert sdag.get_task("only").retries == 3
    assert sdag.max_active_runs == 2 and sdag.catchup is False


# Determinism and the version hash -----------------------------------------------------------


def _rocket_dag(retries: int = 0, extra_edge: bool = False, reverse: bool = False) -> DAG:
    with DAG("rockets", start_date=START, schedule="@daily", tags=["x"]) as d:
        specs = [
            ("download", lambda: BashOperator(task_id="download", bash_command="curl {{ ds }}")),
            ("pictures", lambda: PythonOperator(task_id="pictures", python_callable=_helper,
                                                op_kwargs={"x": 1}, retries=retries)),
            ("notify", lambda: BashOperator(task_id="notify", bash_command="echo done")),
        ]  # fmt: skip
        made = {name: make() for name, make in (reversed(specs) if reverse else specs)}
        made["download"] >> made["pictures"] >> made["notify"]
        if extra_edge:
            made["download"] >> made["notify"]
    return d


def test_two_identical_dags_hash_the_same_whatever_order_the_file_creates_tasks_in():
    first, second = serialize_dag(_rocket_dag()), serialize_dag(_rocket_dag(reverse=True))
    assert first == second
    assert dag_hash(first) == dag_hash(second)
    assert len(dag_hash(first)) == 64


def test_a_changed_retry_count_or_edge_changes_the_hash():
    base = dag_hash(serialize_dag(_rocket_dag()))
    assert dag_hash(serialize_dag(_rocket_dag(retries=2))) != base
    assert dag_hash(serialize_dag(_rocket_dag(extra_edge=True))) != base


def test_a_changed_start_date_changes_the_hash_but_days_ago_is_stable_within_a_day():
    def build(start):
        with DAG("daily", start_date=start, schedule="@daily") as d:
            EmptyOperator(task_id="t")
        return dag_hash(serialize_dag(d))

    today = days_ago(0)
    first, second = build(days_ago(14)), build(days_ago(14))
    if days_ago(0) == today:  # not across midnight
        assert first == second
    assert build(days_ago(13)) != first


def test_the_hash_is_the_same_in_another_process(tmp_path):
    """Set elements and param schemas must not depend on the process's hash seed."""
    dag_file = tmp_path / "seeded.py"
    dag_file.write_text(
        textwrap.dedent(
            """
            from datetime import datetime, UTC
            from downwind import DAG
            from downwind.sdk.params import Param
            from downwind.operators.python import PythonOperator

            def work(**kwargs):
                return None

            with DAG("seeded", start_date=datetime(2026, 1, 1, tzinfo=UTC), schedule="@daily",
                     tags={"t1", "t2", "t3", "t4"},
                     params={"p": Param("a", enum=["a", "b"])}) as dag:
                PythonOperator(task_id="w", python_callable=work,
                               op_kwargs={"names": {"alpha", "beta", "gamma", "delta"}})
            """
        )
    )
    script = (
        "import sys; from pathlib import Path; "
        "from downwind.sdk.discovery import load_dag_file; "
        "from downwind.sdk.serialization import serialize_dag, dag_hash; "
        "dags, err = load_dag_file(Path(sys.argv[1])); "
        "print(dag_hash(serialize_dag(dags[0])))"
    )
    hashes = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script, str(dag_file)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        hashes.add(out.stdout.strip())
    assert len(hashes) == 1


def test_canonical_json_sorts_keys_compactly():
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": None}}) == (
        '{"a":{"c":null,"d":[1,2]},"b":1}'
    )


# Params, timetables, time zones ---------------------------------------------------------------


def test_params_keep_their_schema_and_validate_a_run_conf_without_the_dag_file():
    with DAG(
        "with_params",
        params={
            "n": Param(5, type="integer", minimum=1, maximum=10, description="Count"),
            "day": Param(type="string", format="date"),
            "plain": [1, 2],
            "when": datetime(2026, 1, 1, tzinfo=UTC),
        },
    ) as d:
        EmptyOperator(task_id="t")
    _, sdag = _through_json(d)

    assert sdag.params["n"].schema == {"type": "integer", "minimum": 1, "maximum": 10}
    assert sdag.params["n"].description == "Count"
    assert not sdag.params["day"].has_value
    assert sdag.params["when"].value == datetime(2026, 1, 1, tzinfo=UTC)
    assert sdag.params.resolve({"day": "2026-03-01"})["n"] == 5
    with pytest.raises(ParamValidationError, match=r"param 'n': must be <= 10, got 12"):
        sdag.params.resolve({"n": 12, "day": "2026-03-01"})
    with pytest.raises(ParamValidationError, match="param 'day' is required"):
        sdag.params.resolve({})


@pytest.mark.parametrize(
    ("schedule", "kind"),
    [
        (None, NullTimetable),
        ("@once", OnceTimetable),
        ("@hourly", CronTimetable),
        (timedelta(hours=6), DeltaTimetable),
    ],
)
def test_the_timetable_comes_back_as_a_real_timetable(schedule, kind):
    with DAG("sched", schedule=schedule, start_date=START) as d:
        EmptyOperator(task_id="t")
    _, sdag = _through_json(d)
    assert isinstance(sdag.timetable, kind)
    assert sdag.timetable == d.timetable
    now = datetime(2026, 1, 3, 12, tzinfo=UTC)
    kwargs = {"last_interval": None, "start_date": sdag.start_date, "end_date": None,
              "catchup": True, "now": now}  # fmt: skip
    assert sdag.timetable.next_dagrun_interval(**kwargs) == d.timetable.next_dagrun_interval(
        **kwargs
    )


def test_dates_are_stored_in_utc_and_read_back_in_the_dag_time_zone():
    tz = ZoneInfo("America/New_York")
    with DAG("ny", schedule="0 9 * * *", start_date=datetime(2026, 3, 1, tzinfo=tz)) as d:
        EmptyOperator(task_id="t")
    data, sdag = _through_json(d)
    assert data["timezone"] == "America/New_York"
    assert data["start_date"] == "2026-03-01T05:00:00+00:00"
    assert sdag.start_date == d.start_date
    assert sdag.start_date.tzinfo == tz
    assert sdag.timetable.timezone == tz


# Operators and TaskFlow -------------------------------------------------------------------------


def test_taskflow_tasks_keep_their_operator_dependencies_and_arguments():
    @dag(start_date=START, schedule=None)
    def etl(limit: int = 3):
        @task(retries=2)
        def extract() -> dict[str, int]:
            """Fetch the rows."""
            return {"a": 1}

        @task.branch
        def choose(rows):
            return "load"

        @task
        def load(rows, limit):
            return None

        @task
        def skip_it():
            return None

        rows = extract()
        choice = choose(rows)
        choice >> [load(rows, limit), skip_it()]

    _, sdag = _through_json(etl())
    extract_t = sdag.get_task("extract")
    assert extract_t.task_type == "PythonOperator"
    assert extract_t.task_module == "downwind.operators.python"
    assert extract_t.retries == 2 and extract_t.multiple_outputs is True
    assert extract_t.doc_md == "Fetch the rows."
    assert extract_t.downstream_task_ids == {"choose", "load"}
    assert sdag.get_task("choose").task_type == "BranchPythonOperator"
    assert sdag.get_task("load").upstream_task_ids == {"extract", "choose"}
    assert sdag.get_task("load").template_values["op_args"] == (
        "[XComArg('extract', key='return_value'), DagParam('limit')]"
    )
    assert sdag.params["limit"].value == 3
    assert sdag.doc_md is None


def test_bash_python_and_branch_operators_keep_their_class_and_template_fields():
    with DAG("ops", start_date=START) as d:
        bash = BashOperator(task_id="bash", bash_command="echo {{ ds }}", env={"A": "1"})
        py = PythonOperator(task_id="py", python_callable=_helper, op_args=[1])
        branch = BranchPythonOperator(task_id="branch", python_callable=_helper)
        bash >> branch >> py
    _, sdag = _through_json(d)

    sbash, spy, sbranch = (sdag.get_task(t) for t in ("bash", "py", "branch"))
    assert (sbash.task_type, sbash.task_module) == ("BashOperator", "downwind.operators.bash")
    assert sbash.template_fields == ("bash_command", "env", "cwd")
    assert sbash.template_ext == (".sh", ".bash")
    assert sbash.ui_color == BashOperator.ui_color
    assert sbash.template_values == {
        "bash_command": "echo {{ ds }}",
        "env": "{'A': '1'}",
        "cwd": "None",
    }
    assert (spy.task_type, spy.ui_color) == ("PythonOperator", PythonOperator.ui_color)
    assert spy.template_values["op_args"] == "[1]"
    assert sbranch.task_type == "BranchPythonOperator"
    assert sbranch.ui_color == BranchPythonOperator.ui_color


# The task graph -------------------------------------------------------------------------------


def test_tasks_are_stored_in_topological_order_with_ties_broken_by_id():
    with DAG("order", start_date=START) as d:
        z, m, a, end = (EmptyOperator(task_id=t) for t in ("z", "m", "a", "end"))
        z >> end
        m >> a
        a >> end
    data, sdag = _through_json(d)
    assert [t["task_id"] for t in data["tasks"]] == ["m", "a", "z", "end"]
    assert sdag.task_ids == ["m", "a", "z", "end"]
    assert [t.task_id for t in sdag.topological_sort()] == ["m", "a", "z", "end"]
    assert [t.task_id for t in sdag.tasks] == ["m", "a", "z", "end"]
    assert {t.task_id for t in sdag.roots} == {"m", "z"}
    assert [t.task_id for t in sdag.leaves] == ["end"]
    assert [t.task_id for t in sdag.get_task("end").upstream_list] == ["a", "z"]
    assert sdag.get_task("m").get_flat_relative_ids() == {"a", "end"}
    assert sdag.get_task("end").get_flat_relative_ids(upstream=True) == {"a", "m", "z"}
    assert sdag.has_task("a") and not sdag.has_task("nope")


def test_get_task_of_an_unknown_id_names_it():
    _, sdag = _through_json(_minimal_dag())
    with pytest.raises(TaskNotFound, match="task 'nope' not found in DAG 'minimal'"):
        sdag.get_task("nope")


def test_serialized_objects_are_read_only():
    _, sdag = _through_json(_minimal_dag())
    with pytest.raises(AttributeError, match="read-only"):
        sdag.catchup = False
    with pytest.raises(AttributeError, match="read-only"):
        sdag.get_task("only").retries = 5
    with pytest.raises(TypeError, match="deserialize_dag"):
        SerializedDAG()


def test_a_5000_task_chain_round_trips_without_recursion_errors():
    with DAG("long", start_date=START) as d:
        tasks = [EmptyOperator(task_id=f"t{i:05d}") for i in range(5000)]
        chain(*tasks)
    data, sdag = _through_json(d)
    assert sdag.task_ids == [f"t{i:05d}" for i in range(5000)]
    assert serialize_dag(sdag) == data
    assert sdag.get_task("t00000").priority_weight_total == 5000
    assert sdag.get_task("t04999").priority_weight_total == 1
    assert len(sdag.get_task("t00000").get_flat_relative_ids()) == 4999


# Priority weights -------------------------------------------------------------------------------


def _diamond(rule: str) -> SerializedDAG:
    with DAG(f"diamond_{rule}", start_date=START) as d:
        a, b, c, e = (
            EmptyOperator(task_id=t, priority_weight=w, weight_rule=rule)
            for t, w in (("a", 1), ("b", 2), ("c", 3), ("d", 4))
        )
        a >> [b, c] >> e
    return _through_json(d)[1]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # the far end of the diamond counts once, not once per path
        ("downstream", {"a": 1 + 2 + 3 + 4, "b": 2 + 4, "c": 3 + 4, "d": 4}),
        ("upstream", {"a": 1, "b": 2 + 1, "c": 3 + 1, "d": 4 + 1 + 2 + 3}),
        ("absolute", {"a": 1, "b": 2, "c": 3, "d": 4}),
    ],
)
def test_priority_weight_total_follows_the_weight_rule_on_a_diamond(rule, expected):
    sdag = _diamond(rule)
    assert {t.task_id: t.priority_weight_total for t in sdag.tasks} == expected
    assert sdag.priority_weight_totals() == expected


@pytest.mark.parametrize(
    "weights",
    [(1, 5, 100), tuple(range(-5, 500))],  # few distinct weights; many (and negative)
    ids=["few-weights", "many-weights"],
)
def test_priority_weight_total_matches_the_definition_on_a_random_dag(weights):
    """Own weight plus the weights of every related task, each counted once."""
    rng = random.Random(len(weights))
    with DAG("random", start_date=START) as d:
        tasks = [
            EmptyOperator(
                task_id=f"t{i}",
                priority_weight=rng.choice(weights),
                weight_rule=rng.choice(["downstream", "upstream", "absolute"]),
            )
            for i in range(300)
        ]
        for i, up in enumerate(tasks):
            for down in rng.sample(tasks[i + 1 :], min(3, len(tasks) - i - 1)):
                up >> down
    _, sdag = _through_json(d)
    for stask in sdag.tasks:
        if stask.weight_rule == "absolute":
            related: set[str] = set()
        else:
            related = stask.get_flat_relative_ids(upstream=stask.weight_rule == "upstream")
        expected = stask.priority_weight + sum(sdag.get_task(t).priority_weight for t in related)
        assert stask.priority_weight_total == expected, stask.task_id


# Bad input --------------------------------------------------------------------------------------


def _valid_data() -> dict:
    return json.loads(json.dumps(serialize_dag(_rocket_dag())))


def test_an_unknown_format_version_is_refused_with_both_versions():
    data = _valid_data()
    data["__version"] = 99
    with pytest.raises(SerializationError) as info:
        deserialize_dag(data)
    message = str(info.value)
    assert "serialized DAG 'rockets' has format version 99" in message
    assert f"reads version {FORMAT_VERSION}" in message


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d.pop("timetable"),
         "malformed serialized DAG 'rockets': missing key 'timetable'"),
        (lambda d: d["tasks"][1].pop("task_type"), "task 'pictures': missing key 'task_type'"),
        (lambda d: d["tasks"][1].update(retries="3"),
         "task 'pictures': retries: expected a whole number, got str '3'"),
        (lambda d: d["tasks"][1].update(trigger_rule="sometimes"),
         "task 'pictures': trigger_rule: expected one of all_success"),
        (lambda d: d["tasks"][1].update(retry_delay="soon"),
         "retry_delay: expected a number of seconds"),
        (lambda d: d["tasks"][0].update(colour="red"), "task 'download': unknown key(s) colour"),
        (lambda d: d.update(catchup="yes"), "catchup: expected true or false"),
        (lambda d: d.update(tags="etl"), "tags: expected a list of strings"),
        (lambda d: d.update(timezone="Mars/Olympus"), "unknown timezone 'Mars/Olympus'"),
        (lambda d: d.update(start_date="yesterday"), "start_date:"),
        (lambda d: d["tasks"].append(dict(d["tasks"][0])), "task id 'download' appears twice"),
        (lambda d: d["tasks"][2].update(upstream_task_ids=["ghost", "pictures"]),
         "task 'notify': unknown upstream task 'ghost'"),
        (lambda d: d["tasks"][2].update(upstream_task_ids=["download", "pictures"]),
         "task 'notify' lists 'download' upstream, but 'download' does not list 'notify'"),
        (lambda d: d["tasks"].reverse(), "tasks are not in topological order"),
        (lambda d: d.update(tasks={}), "tasks: expected a list"),
    ],
)  # fmt: skip
def test_malformed_data_is_refused_naming_the_dag_task_and_key(damage, message):
    data = _valid_data()
    damage(data)
    with pytest.raises(SerializationError) as info:
        deserialize_dag(data)
    assert message in str(info.value)


def test_data_that_is_not_an_object_is_refused():
    with pytest.raises(SerializationError, match="must be a JSON object, got list"):
        deserialize_dag([])  # type: ignore[arg-type]


def test_a_task_attribute_of_the_wrong_type_is_reported_when_serializing():
    with DAG("bad_weight", start_date=START) as d:
        EmptyOperator(task_id="t", priority_weight=1.5)
    with pytest.raises(DagDefinitionError) as info:
        serialize_dag(d)
    assert "DAG 'bad_weight', task 't' cannot be serialized" in str(info.value)
    assert "priority_weight: expected a whole number, got float 1.5" in str(info.value)


def test_a_timetable_that_cannot_be_read_back_is_reported_when_serializing():
    class Custom(DeltaTimetable):
        type_name = "custom"

        def serialize(self):
            return {"type": "custom"}

    with DAG("custom_tt", schedule=Custom(timedelta(hours=1)), start_date=START) as d:
        EmptyOperator(task_id="t")
    with pytest.raises(DagDefinitionError) as info:
        serialize_dag(d)
    message = str(info.value)
    assert "DAG 'custom_tt' cannot be serialized" in message
    assert "its timetable Custom cannot be stored and read back" in message
    assert "unknown timetable type 'custom'" in message


@pytest.mark.slow
def test_a_10000_task_dag_round_trips_in_a_few_seconds():
    """The scheduler reads big DAGs often; the benchmark measures, this only guards."""
    import time

    with DAG("huge", start_date=START, schedule="@daily") as d:
        root = EmptyOperator(task_id="root")
        lanes = [[EmptyOperator(task_id=f"l{i}_{j}") for j in range(100)] for i in range(100)]
        end = EmptyOperator(task_id="end", weight_rule="upstream")
        for lane in lanes:
            chain(root, *lane, end)
    started = time.perf_counter()
    data, sdag = _through_json(d)
    totals = sdag.priority_weight_totals()
    elapsed = time.perf_counter() - started
    assert totals["root"] == 10002 and totals["end"] == 10002
    assert serialize_dag(sdag) == data
    assert elapsed < 5
