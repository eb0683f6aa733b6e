"""Variables in tasks and templates, resolved from ``DOWNWIND_VAR_<KEY>`` environment
variables in an in-process run."""

from __future__ import annotations

import pytest

from downwind.exceptions import DownwindException, VariableNotFound
from downwind.operators.bash import BashOperator
from downwind.operators.python import PythonOperator
from downwind.runtime.variable import Variable
from downwind.sdk.dag import DAG
from downwind.states import TaskInstanceState as TI


def _python(run_dag, fn):
    with DAG("variables", schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=fn)
    return run_dag(dag)


def _template(run_dag, command: str):
    with DAG("var_templates", schedule=None) as dag:
        BashOperator(task_id="t", bash_command=command)
    return run_dag(dag)


def test_variable_get_reads_downwind_var_environment_variables(run_dag, monkeypatch):
    monkeypatch.setenv("DOWNWIND_VAR_LAUNCHES_URL", "http://127.0.0.1:9/launches")
    result = _python(run_dag, lambda: Variable.get("launches_url"))
    assert result.run.xcom("t") == "http://127.0.0.1:9/launches"


def test_variable_get_decodes_json(run_dag, monkeypatch):
    monkeypatch.setenv("DOWNWIND_VAR_CFG", '{"limit": 3, "tags": ["a"]}')
    result = _python(run_dag, lambda: Variable.get("cfg", deserialize_json=True))
    assert result.run.xcom("t") == {"limit": 3, "tags": ["a"]}


def test_variable_get_returns_the_default_of_an_undefined_variable(run_dag):
    result = _python(
        run_dag,
        lambda: [
            Variable.get("nope", default_var="fallback"),
            Variable.get("nope", default_var=None),
            Variable.get("nope", default="kw"),
        ],
    )
    assert result.run.xcom("t") == ["fallback", None, "kw"]


def test_undefined_variable_without_default_fails_the_task_naming_it(run_dag):
    result = _python(run_dag, lambda: Variable.get("api_token"))
    ti = result.run.task_instances["t"]
    assert ti.state is TI.FAILED
    assert "variable 'api_token' is not defined" in ti.error
    assert "DOWNWIND_VAR_API_TOKEN" in ti.error


def test_invalid_json_fails_naming_the_variable(run_dag, monkeypatch):
    monkeypatch.setenv("DOWNWIND_VAR_CFG", "{not json")
    result = _python(run_dag, lambda: Variable.get("cfg", deserialize_json=True))
    ti = result.run.task_instances["t"]
    assert ti.state is TI.FAILED
    assert "variable 'cfg' does not hold valid JSON" in ti.error


def test_var_value_get_in_a_template_uses_the_env_or_the_default(run_dag, monkeypatch):
    command = "echo {{ var.value.get('site', 'default-site') }}"
    assert _template(run_dag, command).run.xcom("t") == "default-site"
    monkeypatch.setenv("DOWNWIND_VAR_SITE", "env-site")
    assert _template(run_dag, command).run.xcom("t") == "env-site"


def test_var_value_attribute_in_a_template(run_dag, monkeypatch):
    monkeypatch.setenv("DOWNWIND_VAR_SITE", "env-site")
    assert _template(run_dag, "echo {{ var.value.site }}").run.xcom("t") == "env-site"


def test_var_json_in_a_template(run_dag, monkeypatch):
    monkeypatch.setenv("DOWNWIND_VAR_CFG", '{"limit": 3, "names": ["a", "b"]}')
    result = _template(run_dag, "echo {{ var.json.cfg.limit }} {{ var.json.cfg.names[1] }}")
    assert result.run.xcom("t") == "3 b"
    result = _template(run_dag, "echo {{ var.json.get('absent', {'limit': 9}).limit }}")
    assert result.run.xcom("t") == "9"


def test_undefined_variable_in_a_template_fails_naming_it(run_dag):
    result = _template(run_dag, "echo {{ var.value.missing_key }}")
    ti = result.run.task_instances["t"]
    assert ti.state is TI.FAILED
    assert "variable 'missing_key' is not defined" in ti.error
    assert "DOWNWIND_VAR_MISSING_KEY" in ti.error
    assert "bash_command" in ti.error


def test_variable_set_in_a_task_is_seen_downstream(run_dag):
    with DAG("var_set", schedule=None) as dag:
        writer = PythonOperator(
            task_id="writer", python_callable=lambda: Variable.set("n", {"x": 1}, True)
        )
        reader = PythonOperator(
            task_id="reader", python_callable=lambda: Variable.get("n", deserialize_json=True)
        )
        writer >> reader
    result = run_dag(dag)
    assert result.run.xcom("reader") == {"x": 1}


def test_variable_get_outside_a_task_reads_the_environment(monkeypatch):
    monkeypatch.setenv("DOWNWIND_VAR_OUTSIDE", "yes")
    assert Variable.get("outside") == "yes"
    with pytest.raises(VariableNotFound, match="DOWNWIND_VAR_NOT_THERE"):
        Variable.get("not_there")


def test_variable_set_outside_a_task_is_refused_clearly():
    with pytest.raises(DownwindException, match="works inside a running task"):
        Variable.set("k", "v")
