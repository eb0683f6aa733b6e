"""DAG arguments: ids, schedules, dates and time zones, defaults from the configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from downwind import DAG
from downwind.config import reset_config_cache
from downwind.exceptions import DagDefinitionError, TaskNotFound
from downwind.operators.bash import BashOperator
from downwind.operators.empty import EmptyOperator
from downwind.operators.python import PythonOperator
from downwind.sdk.params import Param
from downwind.timetables.cron import CronTimetable
from downwind.timetables.delta import DeltaTimetable
from downwind.timetables.simple import NullTimetable, OnceTimetable

pytestmark = pytest.mark.usefixtures("downwind_home")

START = datetime(2026, 1, 1, tzinfo=UTC)


# dag_id ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dag_id", ["etl", "my-dag.v2", "A_1", "x" * 250])
def test_valid_dag_ids(dag_id):
    assert DAG(dag_id).dag_id == dag_id


@pytest.mark.parametrize(
    "dag_id", ["", "has space", "slash/id", "é", "trailing\n", "x" * 251, 42, None]
)
def test_invalid_dag_id_is_refused_with_the_rule(dag_id):
    with pytest.raises(DagDefinitionError) as info:
        DAG(dag_id)
    message = str(info.value)
    assert f"invalid dag_id {dag_id!r}" in message
    assert "letters, digits, '_', '-' and '.'" in message
    assert "at most 250 characters" in message


# schedule / schedule_interval -----------------------------------------------------------


def test_schedule_and_schedule_interval_are_both_accepted():
    new = DAG("new", schedule="@daily", start_date=START)
    old = DAG("old", schedule_interval="@daily", start_date=START)
    for dag in (new, old):
        assert dag.schedule == "@daily"
        assert isinstance(dag.timetable, CronTimetable)
        assert dag.timetable.expression == "0 0 * * *"


def test_schedule_and_schedule_interval_together_is_an_error_naming_both():
    with pytest.raises(DagDefinitionError) as info:
        DAG("both", schedule="@daily", schedule_interval="@hourly", start_date=START)
    message = str(info.value)
    assert "'both'" in message
    assert "schedule" in message
    assert "schedule_interval" in message
    assert "not both" in message


def test_schedule_interval_none_means_manual_runs_only_and_needs_no_start_date():
    dag = DAG("manual", schedule_interval=None)
    assert dag.schedule is None
    assert isinstance(dag.timetable, NullTimetable)
    assert dag.timetable.can_be_scheduled is False
    assert dag.start_date is None


def test_no_schedule_at_all_means_manual_runs():
    assert isinstance(DAG("nothing").timetable, NullTimetable)


def test_once_and_timedelta_schedules():
    assert isinstance(DAG("once", schedule="@once", start_date=START).timetable, OnceTimetable)
    every = DAG("every", schedule=timedelta(hours=6), start_date=START)
    assert isinstance(every.timetable, DeltaTimetable)


def test_a_schedule_without_start_date_is_an_error():
    with pytest.raises(DagDefinitionError, match=r"DAG 'nostart' has schedule .* no start_date"):
        DAG("nostart", schedule="@daily")


def test_an_invalid_cron_string_names_the_dag_and_the_expression():
    with pytest.raises(DagDefinitionError) as info:
        DAG("badcron", schedule="61 * * * *", start_date=START)
    assert str(info.value).startswith("DAG 'badcron': invalid cron expression '61 * * * *'")


# dates and time zones -------------------------------------------------------------------


def test_naive_start_date_gets_the_default_timezone_utc():
    dag = DAG("naive", schedule="@daily", start_date=datetime(2026, 1, 1))
    assert dag.start_date == datetime(2026, 1, 1, tzinfo=UTC)
    assert dag.start_date.tzinfo == ZoneInfo("UTC")
    assert dag.timezone == ZoneInfo("UTC")


def test_naive_start_date_gets_the_configured_default_timezone(monkeypatch):
    monkeypatch.setenv("DOWNWIND__CORE__DEFAULT_TIMEZONE", "Europe/Amsterdam")
    reset_config_cache()
    dag = DAG(
        "ams", schedule="@daily", start_date=datetime(2026, 1, 1), end_date=datetime(2026, 2, 1)
    )
    amsterdam = ZoneInfo("Europe/Amsterdam")
    assert dag.timezone == amsterdam
    assert dag.start_date == datetime(2026, 1, 1, tzinfo=amsterdam)
    assert dag.start_date.utcoffset() == timedelta(hours=1)
    assert dag.end_date == datetime(2026, 2, 1, tzinfo=amsterdam)
    assert dag.timetable.timezone == amsterdam


def test_aware_start_date_keeps_its_zone_and_sets_the_dag_timezone(monkeypatch):
    monkeypatch.setenv("DOWNWIND__CORE__DEFAULT_TIMEZONE", "Europe/Amsterdam")
    reset_config_cache()
    tokyo = ZoneInfo("Asia/Tokyo")
    dag = DAG("tokyo", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=tokyo))
    assert dag.timezone == tokyo
    # datetime.UTC (what days_ago returns) means UTC, not the configured default zone
    utc = DAG("utc", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=UTC))
    assert utc.timezone == ZoneInfo("UTC")
    plus2 = timezone(timedelta(hours=2))
    fixed = DAG("fixed", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=plus2))
    assert fixed.timezone == plus2


def test_start_date_must_be_a_datetime():
    with pytest.raises(DagDefinitionError, match="start_date must be a datetime, got str"):
        DAG("strdate", schedule="@daily", start_date="2026-01-01")


def test_start_date_may_come_from_default_args():
    dag = DAG("fromargs", schedule="@daily", default_args={"start_date": datetime(2026, 3, 1)})
    assert dag.start_date == datetime(2026, 3, 1, tzinfo=UTC)


def test_task_dates_from_default_args_are_made_aware_in_the_dag_timezone(monkeypatch):
    monkeypatch.setenv("DOWNWIND__CORE__DEFAULT_TIMEZONE", "Europe/Paris")
    reset_config_cache()
    with DAG("dates", schedule="@daily", default_args={"start_date": datetime(2026, 1, 1)}):
        own = EmptyOperator(task_id="own", end_date=datetime(2026, 6, 1))
    paris = ZoneInfo("Europe/Paris")
    assert own.start_date == datetime(2026, 1, 1, tzinfo=paris)
    assert own.end_date == datetime(2026, 6, 1, tzinfo=paris)


# catchup, limits, tags, other settings ----------------------------------------------------


def test_catchup_defaults_to_true_from_the_configuration():
    assert DAG("c", schedule="@daily", start_date=START).catchup is True


def test_catchup_default_follows_the_environment(monkeypatch):
    monkeypatch.setenv("DOWNWIND__SCHEDULER__CATCHUP_BY_DEFAULT", "false")
    reset_config_cache()
    assert DAG("c", schedule="@daily", start_date=START).catchup is False
    assert DAG("c2", schedule="@daily", start_date=START, catchup=True).catchup is True


def test_catchup_argument_wins_over_the_default():
    assert DAG("c", schedule="@daily", start_date=START, catchup=False).catchup is False


def test_max_active_runs_and_tasks_default_from_the_configuration(monkeypatch):
    dag = DAG("limits")
    assert dag.max_active_runs == 16
    assert dag.max_active_tasks == 16
    custom = DAG("limits2", max_active_runs=1, max_active_tasks=4)
    assert (custom.max_active_runs, custom.max_active_tasks) == (1, 4)
    monkeypatch.setenv("DOWNWIND__CORE__MAX_ACTIVE_RUNS_PER_DAG", "3")
    reset_config_cache()
    assert DAG("limits3").max_active_runs == 3


def test_tags_are_sorted_and_deduplicated():
    assert DAG("t", tags=["etl", "daily", "etl"]).tags == ["daily", "etl"]
    assert DAG("t2", tags=(tag for tag in ["b", "a"])).tags == ["a", "b"]
    assert DAG("t3").tags == []


@pytest.mark.parametrize("tags", ["etl", ["ok", 3]])
def test_tags_must_be_a_list_of_strings(tags):
    with pytest.raises(DagDefinitionError) as info:
        DAG("badtags", tags=tags)
    assert str(info.value) == (
        f"DAG 'badtags': tags must be a list of strings, e.g. tags=[\"etl\"], got {tags!r}"
    )


def test_descriptive_arguments_are_kept():
    def on_fail(context):
        return None

    dag = DAG(
        "described",
        description="loads things",
        doc_md="# Title",
        dagrun_timeout=timedelta(hours=1),
        on_failure_callback=on_fail,
        params={"n": 1, "name": Param("x", type="string")},
    )
    assert dag.description == "loads things"
    assert dag.doc_md == "# Title"
    assert dag.dagrun_timeout == timedelta(hours=1)
    assert dag.on_failure_callback is on_fail
    assert dag.params.resolve() == {"n": 1, "name": "x"}
    assert dag.fileloc == __file__


def test_owner_lists_the_task_owners():
    with DAG("owners") as dag:
        EmptyOperator(task_id="a", owner="bob")
        EmptyOperator(task_id="b", owner="alice")
    assert dag.owner == "alice, bob"
    assert DAG("empty").owner == "downwind"


# default_args --------------------------------------------------------------------------


def test_default_args_fill_in_task_arguments_and_explicit_ones_win():
    default_args = {"retries": 3, "retry_delay": timedelta(minutes=1), "owner": "data"}
    with DAG("defaults", default_args=default_args):
        plain = EmptyOperator(task_id="plain")
        own = BashOperator(task_id="own", bash_command="true", retries=0, owner="me")
        python = PythonOperator(task_id="python", python_callable=print)
    assert (plain.retries, plain.retry_delay, plain.owner) == (3, timedelta(minutes=1), "data")
    assert (own.retries, own.retry_delay, own.owner) == (0, timedelta(minutes=1), "me")
    assert python.retries == 3


def test_default_args_apply_with_the_dag_argument_style_too():
    dag = DAG("styles", default_args={"retries": 2})
    task = EmptyOperator(task_id="t", dag=dag)
    assert task.retries == 2


def test_default_args_params_are_merged_with_the_task_params():
    with DAG("p", params={"dag_level": 0}, default_args={"params": {"a": 1, "b": 2}}):
        merged = EmptyOperator(task_id="merged", params={"b": 20, "c": 30})
        inherited = EmptyOperator(task_id="inherited")
        explicit_none = EmptyOperator(task_id="explicit_none", params=None)
    assert merged.params.resolve() == {"dag_level": 0, "a": 1, "b": 20, "c": 30}
    assert inherited.params.resolve() == {"dag_level": 0, "a": 1, "b": 2}
    assert explicit_none.params.resolve() == {"dag_level": 0, "a": 1, "b": 2}


def test_default_args_keys_an_operator_does_not_take_are_ignored():
    with DAG("ignored", default_args={"bash_command": "echo hi", "retries": 1}):
        empty = EmptyOperator(task_id="empty")
        bash = BashOperator(task_id="bash")
    assert empty.retries == 1
    assert not hasattr(empty, "bash_command")
    assert bash.bash_command == "echo hi"


def test_task_level_default_args_override_the_dag_ones():
    with DAG("twolevels", default_args={"retries": 1, "owner": "dag"}):
        task = EmptyOperator(task_id="t", default_args={"retries": 5})
    assert (task.retries, task.owner) == (5, "dag")


def test_default_args_are_not_shared_with_the_caller():
    default_args = {"retries": 1}
    dag = DAG("copy", default_args=default_args)
    default_args["retries"] = 9
    assert dag.default_args == {"retries": 1}


# tasks of a DAG ------------------------------------------------------------------------


def test_context_manager_and_dag_argument_styles_build_the_same_dag():
    with DAG("with_style") as with_dag:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        a >> b
    arg_dag = DAG("arg_style")
    c = EmptyOperator(task_id="a", dag=arg_dag)
    d = EmptyOperator(task_id="b", dag=arg_dag)
    c >> d
    for dag in (with_dag, arg_dag):
        assert dag.task_ids == ["a", "b"]
        assert dag.get_task("a").downstream_task_ids == {"b"}
        assert all(task.dag is dag for task in dag.tasks)
    assert a.dag_id == "with_style" and c.dag_id == "arg_style"


def test_a_task_outside_any_dag_has_none():
    task = EmptyOperator(task_id="alone")
    assert task.dag is None and task.dag_id is None


def test_explicit_dag_argument_wins_inside_a_with_block():
    other = DAG("other")
    with DAG("outer") as outer:
        inside = EmptyOperator(task_id="inside")
        elsewhere = EmptyOperator(task_id="elsewhere", dag=other)
    assert outer.task_ids == ["inside"]
    assert inside.dag is outer
    assert elsewhere.dag is other


def test_nested_with_blocks_use_the_innermost_dag():
    with DAG("outer") as outer:
        with DAG("inner") as inner:
            EmptyOperator(task_id="in_inner")
        EmptyOperator(task_id="in_outer")
    assert inner.task_ids == ["in_inner"]
    assert outer.task_ids == ["in_outer"]


def test_get_task_of_an_unknown_id_names_task_and_dag():
    dag = DAG("lookup")
    with pytest.raises(TaskNotFound, match="task 'nope' not found in DAG 'lookup'"):
        dag.get_task("nope")
    assert dag.has_task("nope") is False


def test_roots_and_leaves():
    with DAG("shape") as dag:
        a, b, c, d = (EmptyOperator(task_id=x) for x in "abcd")
        a >> [b, c] >> d
    assert [t.task_id for t in dag.roots] == ["a"]
    assert [t.task_id for t in dag.leaves] == ["d"]


# the authoring API -----------------------------------------------------------------------


def test_the_authoring_api_is_importable_from_the_package():
    import downwind
    from downwind.sdk.baseoperator import BaseOperator, chain, cross_downstream
    from downwind.sdk.taskflow import task

    assert downwind.DAG is DAG
    assert downwind.BaseOperator is BaseOperator
    assert (downwind.chain, downwind.cross_downstream) == (chain, cross_downstream)
    assert downwind.task is task
    from downwind.sdk.taskflow import dag as dag_decorator

    assert downwind.dag is dag_decorator
    assert set(downwind.__all__) <= set(dir(downwind))
    with pytest.raises(AttributeError, match="module 'downwind' has no attribute 'Dag'"):
        downwind.Dag  # noqa: B018


def test_importing_downwind_stays_cheap():
    import subprocess
    import sys

    code = (
        "import sys, downwind\n"
        "heavy = ('jinja2', 'sqlalchemy', 'downwind.sdk.dag', 'downwind.operators', "
        "'downwind.cli')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.stdout, result.stderr) == ("[]\n", "")


# the classic style, end to end -----------------------------------------------------------


@pytest.mark.parametrize("schedule_interval", ["@daily", None])
def test_rocket_launch_style_dag_runs_with_dag_test(tmp_path, schedule_interval):
    from downwind.states import DagRunState, TaskInstanceState
    from downwind.utils.dates import days_ago

    def _get_pictures(ds):
        (tmp_path / ds).mkdir()
        for name in ("a.png", "b.png"):
            (tmp_path / ds / name).write_bytes(b"x")

    dag = DAG(
        dag_id="download_rocket_launches",
        start_date=days_ago(14),
        schedule_interval=schedule_interval,
    )
    download_launches = BashOperator(
        task_id="download_launches", bash_command="echo '{{ ds }}'", dag=dag
    )
    get_pictures = PythonOperator(task_id="get_pictures", python_callable=_get_pictures, dag=dag)
    notify = BashOperator(
        task_id="notify",
        bash_command=f'echo "There are now $(ls {tmp_path}/{{{{ ds }}}} | wc -l) images."',
        dag=dag,
    )
    download_launches >> get_pictures >> notify
    assert dag.catchup is True
    run = dag.test(datetime(2026, 1, 1))
    assert run.state is DagRunState.SUCCESS
    assert [run.task_instances[t].state for t in dag.task_ids] == [TaskInstanceState.SUCCESS] * 3
    assert run.xcom("download_launches") == "2026-01-01"
    assert run.xcom("notify") == "There are now 2 images."
