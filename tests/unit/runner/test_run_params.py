"""DAG params and run conf in an in-process run: defaults, overrides, refused confs."""

from __future__ import annotations

import pytest

from downwind.exceptions import DownwindException, ParamValidationError, SerializationError
from downwind.operators.bash import BashOperator
from downwind.operators.python import PythonOperator
from downwind.sdk.dag import DAG
from downwind.sdk.params import Param
from downwind.states import TaskInstanceState as TI


def _params_dag(calls: list, **dag_kwargs) -> DAG:
    def record(params, dag_run):
        calls.append(params)
        return {"params": params, "conf": dag_run.conf}

    with DAG("params", schedule=None, **dag_kwargs) as dag:
        PythonOperator(task_id="show", python_callable=record)
        BashOperator(task_id="echo", bash_command="echo {{ params.n }}-{{ params.name }}")
    return dag


def test_params_use_their_defaults_without_conf(run_dag):
    calls: list = []
    dag = _params_dag(calls, params={"n": Param(5, type="integer", maximum=10), "name": "x"})
    result = run_dag(dag)
    assert result.run.xcom("show") == {"params": {"n": 5, "name": "x"}, "conf": {}}
    assert result.run.xcom("echo") == "5-x"


def test_run_conf_overrides_the_defaults(run_dag):
    calls: list = []
    dag = _params_dag(calls, params={"n": Param(5, type="integer", maximum=10), "name": "x"})
    result = run_dag(dag, conf={"n": 7, "extra": True})
    assert result.run.xcom("show") == {
        "params": {"n": 7, "name": "x", "extra": True},
        "conf": {"n": 7, "extra": True},
    }
    assert result.run.xcom("echo") == "7-x"


def test_task_params_override_dag_params(run_dag):
    with DAG("task_params", schedule=None, params={"n": 1, "m": 2}) as dag:
        PythonOperator(task_id="t", python_callable=lambda params: params, params={"n": 10})
    result = run_dag(dag)
    assert result.run.xcom("t") == {"n": 10, "m": 2}


def test_conf_breaking_a_param_is_refused_before_any_task_runs(run_dag):
    calls: list = []
    dag = _params_dag(calls, params={"n": Param(5, type="integer", maximum=10)})
    with pytest.raises(ParamValidationError) as info:
        run_dag(dag, conf={"n": 50})
    assert "'n'" in str(info.value)
    assert "10" in str(info.value)
    assert calls == []


def test_conf_with_a_wrong_type_is_refused_naming_the_param(run_dag):
    calls: list = []
    dag = _params_dag(calls, params={"n": Param(5, type="integer")})
    with pytest.raises(ParamValidationError, match="'n'"):
        run_dag(dag, conf={"n": "five"})
    assert calls == []


def test_a_required_param_without_conf_is_refused(run_dag):
    calls: list = []
    dag = _params_dag(calls, params={"n": Param(type="integer")})
    with pytest.raises(ParamValidationError, match="'n' is required"):
        run_dag(dag)
    result = run_dag(dag, conf={"n": 3})
    assert result.state("show") is TI.SUCCESS


@pytest.mark.parametrize("conf", [[1, 2], "n=5", 5])
def test_conf_that_is_not_a_dict_is_refused(run_dag, conf):
    calls: list = []
    dag = _params_dag(calls)
    with pytest.raises(DownwindException, match="run conf must be a JSON object") as info:
        run_dag(dag, conf=conf)
    assert type(conf).__name__ in str(info.value)
    assert calls == []


def test_conf_that_cannot_be_serialized_is_refused(run_dag):
    dag = _params_dag([])
    with pytest.raises(SerializationError, match="object"):
        run_dag(dag, conf={"thing": object()})
