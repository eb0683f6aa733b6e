"""TaskFlow: ``@task`` and ``@dag``, XComArgs as dependencies, runs through ``dag.test()``."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import TypedDict

import pytest

import downwind
from downwind import DAG, XComArg, dag, task
from downwind.exceptions import DagDefinitionError, ParamValidationError
from downwind.operators.bash import BashOperator
from downwind.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from downwind.sdk.taskflow import CONTEXT_KEYS
from downwind.states import DagRunState, TaskInstanceState

pytestmark = pytest.mark.usefixtures("downwind_home")

DAY = datetime(2026, 1, 1, tzinfo=UTC)


# @task at definition time ------------------------------------------------------------


def test_calling_a_task_function_adds_a_python_task_and_returns_its_xcom_arg():
    with DAG("tf") as tf:

        @task
        def extract():
            """Fetch the rows."""
            return [1, 2]

        result = extract()
    assert isinstance(result, XComArg)
    assert result.key == "return_value"
    operator = tf.get_task("extract")
    assert result.operator is operator
    assert type(operator) is PythonOperator
    assert operator.python_callable is extract.function
    assert operator.doc_md == "Fetch the rows."
    assert operator.multiple_outputs is False


def test_task_arguments_in_the_decorator_reach_the_operator():
    with DAG("tf") as tf:

        @task(task_id="custom", retries=3, trigger_rule="all_done")
        def work():
            return None

        work()
    operator = tf.get_task("custom")
    assert (operator.retries, operator.trigger_rule) == (3, "all_done")


def test_passing_xcom_args_sets_dependencies():
    with DAG("tf") as tf:

        @task
        def number():
            return 2

        @task
        def add(a, b, c=0):
            return a + b + c

        one, two = number(), number()
        add(one, b=two, c=[one, {"nested": two}])
    assert tf.get_task("add").upstream_task_ids == {"number", "number__1"}
    assert tf.get_task("number").downstream_task_ids == {"add"}


def test_calling_the_same_task_twice_gives_numbered_ids():
    with DAG("tf") as tf:

        @task
        def f():
            return None

        f()
        f()
        f()
    assert tf.task_ids == ["f", "f__1", "f__2"]


def test_numbering_ignores_ids_that_only_look_alike():
    with DAG("tf") as tf:

        @task
        def f():
            return None

        f.override(task_id="f__x__7")()
        f()
        f()
    assert tf.task_ids == ["f__x__7", "f", "f__1"]


def test_override_changes_the_task_id_and_arguments():
    with DAG("tf") as tf:

        @task(retries=1)
        def load():
            return None

        load.override(task_id="load_eu", retries=5)()
        load.override(task_id="load_eu")()
        load()
    assert tf.task_ids == ["load_eu", "load_eu__1", "load"]
    assert tf.get_task("load_eu").retries == 5
    assert tf.get_task("load_eu__1").retries == 1
    assert tf.get_task("load").retries == 1


def test_task_with_the_dag_argument_outside_a_with_block():
    target = DAG("explicit")

    @task(dag=target)
    def f():
        return None

    f()
    f()
    assert target.task_ids == ["f", "f__1"]


def test_multiple_outputs_explicit():
    with DAG("tf") as tf:

        @task(multiple_outputs=True)
        def split():
            return {"a": 1}

        out = split()
    assert tf.get_task("split").multiple_outputs is True
    assert out["a"].key == "a"
    assert out["a"].operator is out.operator


class Pair(TypedDict):
    left: int
    right: int


def test_multiple_outputs_inferred_from_a_mapping_return_annotation():
    def returns_dict() -> dict[str, int]:
        return {}

    def returns_typed_dict() -> Pair:
        return {"left": 1, "right": 2}

    def returns_list() -> list[int]:
        return []

    def unannotated():
        return {}

    with DAG("tf"):
        assert task(returns_dict).multiple_outputs is True
        assert task(returns_typed_dict).multiple_outputs is True
        assert task(returns_list).multiple_outputs is False
        assert task(unannotated).multiple_outputs is False
        assert task(multiple_outputs=False)(returns_dict).multiple_outputs is False
        assert task(returns_dict).override(multiple_outputs=False).multiple_outputs is False


def test_a_call_that_does_not_match_the_signature_fails_at_definition_time():
    with DAG("tf"):

        @task
        def f(x, y):
            return x + y

        with pytest.raises(TypeError, match=r"f\(\) missing required argument\(s\): 'y'"):
            f(1)
        with pytest.raises(TypeError, match="too many positional arguments"):
            f(1, 2, 3)
        with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
            f(1, 2, z=3)

        @task
        def positional(ti, /):
            return None

        with pytest.raises(TypeError, match=r"positional\(\) missing required argument\(s\): 'ti'"):
            positional()


def test_context_parameters_need_not_be_passed():
    with DAG("tf") as tf:

        @task
        def f(x, ti, ds, params=None):
            return x

        f(1)
    assert tf.task_ids == ["f"]


def test_branch_and_short_circuit_decorators_create_their_operators():
    with DAG("tf") as tf:

        @task.branch
        def choose():
            return "a"

        @task.short_circuit()
        def check():
            return True

        @task.python
        def plain():
            return None

        choose()
        check()
        plain()
    assert type(tf.get_task("choose")) is BranchPythonOperator
    assert type(tf.get_task("check")) is ShortCircuitOperator
    assert type(tf.get_task("plain")) is PythonOperator


def test_a_task_function_outside_a_dag_makes_a_loose_task():
    @task
    def f():
        return 1

    out = f()
    assert out.operator.dag is None
    assert out.operator.task_id == "f"


def test_xcom_arg_is_not_iterable_at_definition_time():
    with DAG("tf"):

        @task
        def rows():
            return [1, 2]

        out = rows()
        with pytest.raises(TypeError, match="XComArg of task 'rows' is not iterable"):
            list(out)


def test_classic_operator_output_is_an_xcom_arg():
    with DAG("tf") as tf:
        classic = BashOperator(task_id="classic", bash_command="echo 5")

        @task
        def use(value):
            return value

        use(classic.output)
        BashOperator(task_id="echo", bash_command="echo $V", env={"V": classic.output})
    assert classic.output.operator is classic
    assert tf.get_task("use").upstream_task_ids == {"classic"}
    assert tf.get_task("echo").upstream_task_ids == {"classic"}


# @dag at definition time --------------------------------------------------------------


def test_dag_decorator_builds_a_dag_with_params_and_doc_md():
    @dag(schedule=None, start_date=DAY, tags=["tf"])
    def pipeline(source: str = "s3", limit: int = 10):
        """Loads things.

        In two steps.
        """

        @task
        def read(where, limit):
            return f"{where}:{limit}"

        read(source, limit)

    built = pipeline()
    assert isinstance(built, DAG)
    assert built.dag_id == "pipeline"
    assert built.params.resolve() == {"source": "s3", "limit": 10}
    assert built.doc_md == "Loads things.\n\nIn two steps."
    assert built.tags == ["tf"]
    assert built.task_ids == ["read"]
    assert built.fileloc == __file__


def test_dag_decorator_call_arguments_and_declared_params():
    @dag("named", params={"limit": downwind.Param(1, type="integer", maximum=100)})
    def pipeline(limit=5, required=None, *args, **kwargs):
        pass

    built = pipeline(limit=50)
    assert built.dag_id == "named"
    assert built.params.resolve() == {"limit": 50, "required": None}
    assert built.params["limit"].schema == {"type": "integer", "maximum": 100}
    assert built.doc_md is None
    with pytest.raises(ParamValidationError, match="must be <= 100"):
        pipeline(limit=500)


def test_bare_dag_decorator():
    @dag
    def bare():
        pass

    assert bare().dag_id == "bare"


def test_from_downwind_import_dag_is_the_decorator_even_after_the_subpackage_loaded():
    # The authoring modules live in ``downwind.sdk``, so nothing shadows ``downwind.dag``.
    import downwind.sdk.dag as dag_module

    assert dag_module.DAG is DAG
    from downwind import dag as decorator

    @decorator(schedule=None)
    def via_import():
        pass

    assert via_import().dag_id == "via_import"


def test_from_downwind_import_dag_works_in_a_fresh_interpreter():
    code = (
        "import downwind.sdk.discovery\n"
        "from downwind import DAG, dag, task\n"
        "@task\n"
        "def one():\n"
        "    return 1\n"
        "@dag(schedule=None)\n"
        "def fresh():\n"
        "    one()\n"
        "print(fresh().task_ids)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stderr == ""
    assert result.stdout == "['one']\n"


# end to end through dag.test() ---------------------------------------------------------


def test_three_task_taskflow_dag_passes_values_through_xcom(capsys):
    @dag(schedule=None, start_date=DAY)
    def etl(factor: int = 10):
        @task
        def extract() -> dict[str, int]:
            return {"a": 1, "b": 2}

        @task
        def transform(a: int, b: int, factor: int) -> int:
            return (a + b) * factor

        @task
        def load(total: int) -> str:
            print(f"loaded {total}")
            return f"total={total}"

        data = extract()
        load(transform(data["a"], data["b"], factor))

    built = etl()
    assert built.get_task("load").upstream_task_ids == {"transform"}
    run = built.test(DAY)
    assert run.state is DagRunState.SUCCESS
    assert {tid: ti.state for tid, ti in run.task_instances.items()} == {
        "extract": TaskInstanceState.SUCCESS,
        "transform": TaskInstanceState.SUCCESS,
        "load": TaskInstanceState.SUCCESS,
    }
    assert run.xcom("extract") == {"a": 1, "b": 2}
    assert run.xcom("extract", key="a") == 1
    assert run.xcom("transform") == 30
    assert run.xcom("load") == "total=30"
    assert "loaded 30" in capsys.readouterr().out

    rerun = built.test(DAY, run_conf={"factor": 2})
    assert rerun.xcom("load") == "total=6"


def test_classic_and_taskflow_tasks_mixed_in_one_run():
    with DAG("mixed", schedule=None, start_date=DAY) as mixed:
        seed = PythonOperator(task_id="seed", python_callable=lambda: 21)

        @task
        def double(value):
            return value * 2

        doubled = double(seed.output)
        shout = BashOperator(task_id="shout", bash_command='echo "got $V"', env={"V": doubled})

        @task
        def last(line):
            return line.upper()

        last(shout.output)
    run = mixed.test(DAY)
    assert run.state is DagRunState.SUCCESS
    assert run.xcom("double") == 42
    assert run.xcom("shout") == "got 42"
    assert run.xcom("last") == "GOT 42"


def test_context_parameters_are_filled_in_at_run_time():
    seen = {}
    with DAG("ctx", schedule=None, start_date=DAY, params={"who": "me"}) as ctx:

        @task
        def look(x, ds, ti, params, **context):
            seen.update(x=x, ds=ds, task_id=ti.task_id, who=params["who"], keys=set(context))

        look(5)
    run = ctx.test(datetime(2026, 3, 4, tzinfo=UTC))
    assert run.state is DagRunState.SUCCESS
    assert seen["x"] == 5
    assert seen["ds"] == "2026-03-04"
    assert seen["task_id"] == "look"
    assert seen["who"] == "me"
    # every context key a task function may name is one TaskFlow lets a call leave out
    assert seen["keys"] | {"ds", "ti", "params"} == CONTEXT_KEYS


def test_a_failing_task_fails_the_run_and_its_downstream():
    with DAG("fails", schedule=None, start_date=DAY) as fails:

        @task
        def boom():
            raise ValueError("no data")

        @task
        def after(value):
            return value

        after(boom())
    run = fails.test(DAY)
    assert run.state is DagRunState.FAILED
    assert run.task_instances["boom"].state is TaskInstanceState.FAILED
    assert run.task_instances["boom"].error == "ValueError: no data"
    assert run.task_instances["after"].state is TaskInstanceState.UPSTREAM_FAILED


def test_multiple_outputs_with_a_non_dict_value_fails_the_task():
    with DAG("notdict", schedule=None, start_date=DAY) as notdict:

        @task(multiple_outputs=True)
        def bad():
            return [1]

        bad()
    run = notdict.test(DAY)
    assert run.state is DagRunState.FAILED
    assert "multiple_outputs=True but returned list, not a dict" in (
        run.task_instances["bad"].error
    )


def test_branch_decorator_at_run_time():
    with DAG("branching", schedule=None, start_date=DAY) as branching:

        @task.branch
        def choose():
            return "left"

        @task
        def left():
            return "L"

        @task
        def right():
            return "R"

        choose() >> [left(), right()]
    run = branching.test(DAY)
    assert run.state is DagRunState.SUCCESS
    assert run.task_instances["left"].state is TaskInstanceState.SUCCESS
    assert run.task_instances["right"].state is TaskInstanceState.SKIPPED


def test_unknown_dag_test_argument_is_a_type_error():
    with pytest.raises(TypeError):
        DAG("x").test(not_an_option=True)


def test_dag_definition_errors_inside_a_dag_function_surface():
    @dag(schedule=None)
    def broken():
        @task(trigger_rule="sometimes")
        def f():
            return None

        f()

    with pytest.raises(DagDefinitionError, match="unknown trigger rule 'sometimes'"):
        broken()


def test_dag_test_without_a_date_runs_now_and_accepts_airflow_2s_execution_date():
    with DAG("dates", schedule=None) as dates:

        @task
        def noop():
            return None

        noop()
    before = datetime.now(UTC).replace(microsecond=0)
    run = dates.test()
    assert before <= run.logical_date <= datetime.now(UTC)
    assert run.logical_date.microsecond == 0  # a readable run id: whole seconds
    assert run.state is DagRunState.SUCCESS
    assert dates.test(execution_date=DAY).logical_date == DAY
    naive = dates.test(datetime(2026, 2, 1))
    assert naive.logical_date == datetime(2026, 2, 1, tzinfo=UTC)
