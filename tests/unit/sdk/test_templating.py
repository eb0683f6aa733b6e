"""Templating: rendering values and fields, template files, errors naming field and line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from downwind import DAG, task
from downwind.exceptions import TemplateRenderError
from downwind.operators.bash import BashOperator
from downwind.operators.python import PythonOperator
from downwind.sdk.templating import render_template_fields, render_value, template_env
from downwind.sdk.xcom_arg import DagParam
from downwind.states import DagRunState, TaskInstanceState

pytestmark = pytest.mark.usefixtures("downwind_home")

DAY = datetime(2026, 1, 5, tzinfo=UTC)
CONTEXT = {"ds": "2026-01-05", "params": {"name": "world", "n": 3}, "items": [1, 2]}


@pytest.fixture
def env():
    return template_env(DAG("render"))


def test_strings_with_template_markers_are_rendered(env):
    assert render_value("hello {{ params.name }} on {{ ds }}", CONTEXT, env) == (
        "hello world on 2026-01-05"
    )
    assert render_value("{% for i in items %}{{ i }}{% endfor %}", CONTEXT, env) == "12"
    assert render_value("{# a comment #}x", CONTEXT, env) == "x"


def test_strings_without_markers_and_other_values_are_left_alone(env):
    text = "echo $HOME } {"
    assert render_value(text, CONTEXT, env) is text
    for value in (3, None, 2.5, True, DAY):
        assert render_value(value, CONTEXT, env) is value


def test_nested_lists_dicts_tuples_and_sets_are_rendered(env):
    value = {
        "list": ["{{ ds }}", ["{{ params.n }}", 4]],
        "tuple": ("{{ params.name }}", 1),
        "set": {"{{ params.n * 2 }}"},
        "deep": {"k": [{"x": "{{ ds }}"}]},
        "keys are not rendered {{ ds }}": "v",
    }
    assert render_value(value, CONTEXT, env) == {
        "list": ["2026-01-05", ["3", 4]],
        "tuple": ("world", 1),
        "set": {"6"},
        "deep": {"k": [{"x": "2026-01-05"}]},
        "keys are not rendered {{ ds }}": "v",
    }


def test_keep_trailing_newline(env):
    assert render_value("{{ ds }}\n", CONTEXT, env) == "2026-01-05\n"


def test_date_filters(env):
    context = {"d": datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)}
    assert render_value("{{ d | ds }} {{ d | ds_nodash }}", context, env) == "2026-02-03 20260203"
    assert render_value("{{ d | ts_nodash }}", context, env) == "20260203T040506"


def test_dag_params_are_resolved_from_the_run_params(env):
    context = {"params": {"limit": 7}}
    assert render_value(DagParam("limit"), context, env) == 7
    assert render_value({"nested": [DagParam("limit")]}, context, env) == {"nested": [7]}


def test_undefined_variable_names_the_line_and_its_text(env):
    with pytest.raises(TemplateRenderError) as info:
        render_value("line one\n  echo {{ nope }}\nline three", CONTEXT, env)
    assert str(info.value) == "'nope' is undefined (template line 2: echo {{ nope }})"


def test_undefined_variable_in_a_field_names_the_task_the_field_and_the_line():
    with DAG("fields"):
        op = BashOperator(task_id="hello", bash_command="set -e\necho {{ params.nme }}\n")
    with pytest.raises(TemplateRenderError) as info:
        render_template_fields(op, {"params": {"name": "x"}})
    assert str(info.value) == (
        "task 'hello': cannot render field 'bash_command': 'dict object' has no attribute "
        "'nme' (template line 2: echo {{ params.nme }})"
    )


def test_syntax_error_names_the_field_and_the_line():
    with DAG("fields"):
        op = BashOperator(task_id="t", bash_command="echo a\n{% if ds %}\necho b\n", env={})
    with pytest.raises(TemplateRenderError) as info:
        render_template_fields(op, CONTEXT)
    message = str(info.value)
    assert message.startswith("task 't': cannot render field 'bash_command': ")
    assert "Unexpected end of template" in message
    assert "'endif'" in message


def test_syntax_error_on_a_middle_line_quotes_it(env):
    with pytest.raises(TemplateRenderError) as info:
        render_value("a\n{{ ds }\nc", CONTEXT, env)
    assert str(info.value).endswith("(template line 2: {{ ds })")


def test_error_raised_inside_a_template_names_its_type_and_line(env):
    with pytest.raises(TemplateRenderError) as info:
        render_value("{{ 1 // 0 }}", CONTEXT, env)
    assert str(info.value) == (
        "ZeroDivisionError: integer division or modulo by zero (template line 1: {{ 1 // 0 }})"
    )


def test_render_template_fields_sets_the_rendered_values_and_skips_none():
    with DAG("fields"):
        op = BashOperator(task_id="t", bash_command="echo {{ ds }}", env={"N": "{{ params.n }}"})
    rendered = render_template_fields(op, CONTEXT)
    assert rendered == {"bash_command": "echo 2026-01-05", "env": {"N": "3"}}
    assert op.bash_command == "echo 2026-01-05"
    assert op.cwd is None


# template files -----------------------------------------------------------------------


def make_dag_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    (folder / "scripts").mkdir(parents=True)
    (folder / "scripts" / "job.sh").write_text("echo start\necho {{ ds }} {{ params.n }}\n")
    (folder / "bad.sh").write_text("echo a\necho b\necho {{ missing }}\n")
    (folder / "syntax.sh").write_text("echo a\n{% for x %}\n")
    return folder


def test_sh_file_is_read_from_the_dag_folder_and_rendered(tmp_path):
    folder = make_dag_folder(tmp_path)
    with DAG("files", fileloc=str(folder / "files.py")):
        op = BashOperator(task_id="t", bash_command="scripts/job.sh")
    assert render_template_fields(op, CONTEXT) == {
        "bash_command": "echo start\necho 2026-01-05 3\n"
    }


def test_sh_file_is_found_on_the_template_searchpath(tmp_path):
    folder = make_dag_folder(tmp_path)
    extra = tmp_path / "sql"
    extra.mkdir()
    (extra / "load.sh").write_text("load {{ params.name }}")
    with DAG("files", fileloc=str(folder / "files.py"), template_searchpath=str(extra)) as d:
        op = BashOperator(task_id="t", bash_command="load.sh")
    assert d.template_searchpath == [str(extra)]
    assert render_template_fields(op, CONTEXT) == {"bash_command": "load world"}


def test_missing_template_file_lists_the_searched_folders(tmp_path):
    folder = make_dag_folder(tmp_path)
    extra = tmp_path / "more"
    with DAG("files", fileloc=str(folder / "files.py"), template_searchpath=[str(extra)]):
        op = BashOperator(task_id="t", bash_command="nothere.sh")
    with pytest.raises(TemplateRenderError) as info:
        render_template_fields(op, CONTEXT)
    assert str(info.value) == (
        "task 't': cannot render field 'bash_command': template file 'nothere.sh' not found "
        f"(searched: {folder}, {extra})"
    )


def test_undefined_variable_in_a_template_file_names_file_line_and_text(tmp_path):
    folder = make_dag_folder(tmp_path)
    with DAG("files", fileloc=str(folder / "files.py")):
        op = BashOperator(task_id="t", bash_command="bad.sh")
    with pytest.raises(TemplateRenderError) as info:
        render_template_fields(op, CONTEXT)
    assert str(info.value) == (
        "task 't': cannot render field 'bash_command': in template file 'bad.sh': "
        "'missing' is undefined (template line 3: echo {{ missing }})"
    )


def test_syntax_error_in_a_template_file_names_file_and_line(tmp_path):
    folder = make_dag_folder(tmp_path)
    with DAG("files", fileloc=str(folder / "files.py")):
        op = BashOperator(task_id="t", bash_command="syntax.sh")
    with pytest.raises(TemplateRenderError) as info:
        render_template_fields(op, CONTEXT)
    message = str(info.value)
    assert message.startswith(
        "task 't': cannot render field 'bash_command': in template file 'syntax.sh': "
    )
    assert message.endswith("(template line 2: {% for x %})")


def test_template_ext_applies_only_to_strings_ending_with_it(tmp_path):
    folder = make_dag_folder(tmp_path)
    with DAG("files", fileloc=str(folder / "files.py")):
        op = BashOperator(task_id="t", bash_command="bash scripts/job.sh ")
    assert render_template_fields(op, CONTEXT) == {"bash_command": "bash scripts/job.sh "}


# DAG-level options ---------------------------------------------------------------------


def test_user_defined_macros_and_filters():
    dag = DAG(
        "custom",
        user_defined_macros={"project": "rockets", "twice": lambda x: x * 2},
        user_defined_filters={"shout": lambda s: s.upper() + "!"},
    )
    env = template_env(dag)
    assert render_value("{{ project | shout }} {{ twice(params.n) }}", CONTEXT, env) == (
        "ROCKETS! 6"
    )
    assert template_env(dag) is env  # built once per DAG


def test_render_template_as_native_obj_returns_python_values():
    native = template_env(DAG("native", render_template_as_native_obj=True))
    assert render_value("{{ items + [3] }}", CONTEXT, native) == [1, 2, 3]
    assert render_value("{{ params.n }}", CONTEXT, native) == 3
    assert render_value(["{{ params }}"], CONTEXT, native) == [{"name": "world", "n": 3}]
    text = template_env(DAG("text"))
    assert render_value("{{ items + [3] }}", CONTEXT, text) == "[1, 2, 3]"


def test_undefined_is_strict_by_default_and_can_be_changed():
    import jinja2

    lenient = template_env(DAG("lenient", template_undefined=jinja2.Undefined))
    assert render_value("[{{ nope }}]", CONTEXT, lenient) == "[]"


# at run time ---------------------------------------------------------------------------


def test_run_context_values_in_templates():
    with DAG("ctx", schedule="@daily", start_date=DAY, params={"who": "team"}) as ctx:
        BashOperator(
            task_id="echo",
            bash_command=(
                "echo '{{ ds }} {{ ds_nodash }} {{ macros.ds_add(ds, 1) }} "
                "{{ data_interval_start | ds }} {{ data_interval_end | ds }} "
                "{{ params.who }} {{ dag.dag_id }} {{ task.task_id }} {{ ti.task_id }} "
                '{{ dag_run.conf.get("extra", "none") }}\''
            ),
        )
    run = ctx.test(DAY, run_conf={"extra": "yes"})
    assert run.state is DagRunState.SUCCESS
    assert run.xcom("echo") == (
        # a manual run's interval is the one ending at its logical date, as in Airflow
        "2026-01-05 20260105 2026-01-06 2026-01-04 2026-01-05 team ctx echo echo yes"
    )


def test_xcom_args_inside_templated_fields_are_resolved_at_run_time():
    with DAG("xcoms", schedule=None, start_date=DAY) as xcoms:

        @task(multiple_outputs=True)
        def produce():
            return {"word": "{{ not rendered }}", "n": 2}

        out = produce()
        PythonOperator(
            task_id="consume",
            python_callable=lambda *args, **kwargs: [list(args), kwargs["nested"]],
            op_args=[out["n"]],
            op_kwargs={"nested": {"word": out["word"], "all": [out]}},
        )
    run = xcoms.test(DAY)
    assert run.state is DagRunState.SUCCESS
    assert xcoms.get_task("consume").upstream_task_ids == {"produce"}
    assert run.xcom("consume") == [
        [2],
        {"word": "{{ not rendered }}", "all": [{"word": "{{ not rendered }}", "n": 2}]},
    ]
    # the DAG's own task keeps its placeholders for the next run
    assert xcoms.get_task("consume").op_args[0].key == "n"


def test_a_template_error_fails_the_task_with_the_line_in_its_error():
    with DAG("tplfail", schedule=None, start_date=DAY) as tplfail:
        BashOperator(
            task_id="broken", bash_command="echo ok\necho {{ undefined_thing }}", retries=1
        )
    run = tplfail.test(DAY)
    assert run.state is DagRunState.FAILED
    ti = run.task_instances["broken"]
    assert ti.state is TaskInstanceState.FAILED
    assert ti.try_number == 2
    assert ti.error == (
        "TemplateRenderError: task 'broken': cannot render field 'bash_command': "
        "'undefined_thing' is undefined (template line 2: echo {{ undefined_thing }})"
    )
