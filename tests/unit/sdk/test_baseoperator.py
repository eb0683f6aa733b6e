"""BaseOperator: task arguments, their validation and the errors users see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import pytest

from downwind import DAG, BaseOperator, TriggerRule
from downwind.exceptions import DagDefinitionError, DuplicateTaskIdFound
from downwind.operators.bash import BashOperator
from downwind.operators.empty import EmptyOperator
from downwind.operators.python import PythonOperator

pytestmark = pytest.mark.usefixtures("downwind_home")

VALID_RULES = (
    "all_success, all_failed, all_done, all_skipped, one_success, one_failed, one_done, "
    "none_failed, none_failed_min_one_success, none_skipped, always"
)


class Greet(BaseOperator):
    """A user-defined operator with a templated field and an argument of its own."""

    template_fields: ClassVar = ("greeting",)

    def __init__(self, *, greeting: str, loud: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.greeting = greeting
        self.loud = loud

    def execute(self, context: dict[str, Any]) -> str:
        return self.greeting.upper() if self.loud else self.greeting


def test_task_defaults():
    task = EmptyOperator(task_id="t")
    assert task.retries == 0
    assert task.retry_delay == timedelta(seconds=300)
    assert task.trigger_rule is TriggerRule.ALL_SUCCESS
    assert task.owner == "downwind"
    assert task.pool == "default_pool"
    assert task.priority_weight == 1
    assert task.execution_timeout is None
    assert task.depends_on_past is False
    assert task.task_type == "EmptyOperator"
    assert repr(task) == "<Task(EmptyOperator): t>"


def test_task_arguments_are_kept_and_numbers_become_timedeltas():
    task = BashOperator(
        task_id="b",
        bash_command="true",
        retries=2,
        retry_delay=30,
        retry_exponential_backoff=True,
        max_retry_delay=timedelta(minutes=10),
        execution_timeout=5.5,
        trigger_rule="one_failed",
        pool="small",
        priority_weight=7,
        depends_on_past=True,
        email_on_failure=False,
    )
    assert task.retries == 2
    assert task.retry_delay == timedelta(seconds=30)
    assert task.retry_exponential_backoff is True
    assert task.max_retry_delay == timedelta(minutes=10)
    assert task.execution_timeout == timedelta(seconds=5.5)
    assert task.trigger_rule is TriggerRule.ONE_FAILED
    assert (task.pool, task.priority_weight, task.depends_on_past) == ("small", 7, True)
    assert task.email_on_failure is False


def test_default_task_retries_come_from_the_configuration(monkeypatch):
    from downwind.config import reset_config_cache

    monkeypatch.setenv("DOWNWIND__CORE__DEFAULT_TASK_RETRIES", "4")
    reset_config_cache()
    assert EmptyOperator(task_id="t").retries == 4


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_every_trigger_rule_is_accepted_by_name(rule):
    assert EmptyOperator(task_id="t", trigger_rule=rule.value).trigger_rule is rule


def test_unknown_trigger_rule_lists_the_valid_rules():
    with pytest.raises(DagDefinitionError) as info:
        EmptyOperator(task_id="join", trigger_rule="all_sucess")
    assert str(info.value) == (
        f"task 'join': unknown trigger rule 'all_sucess'; valid rules: {VALID_RULES}"
    )


def test_unknown_operator_argument_is_named():
    with pytest.raises(DagDefinitionError) as info:
        BashOperator(task_id="b", bash_command="true", retires=3, colour="red")
    assert str(info.value) == (
        "invalid arguments were passed to BashOperator (task_id: b): colour, retires"
    )


def test_unknown_argument_of_a_user_operator_is_named():
    with pytest.raises(DagDefinitionError, match=r"Greet \(task_id: g\): lod$"):
        Greet(task_id="g", greeting="hi", lod=True)


def test_positional_arguments_are_refused():
    with pytest.raises(DagDefinitionError, match="Greet takes keyword arguments only"):
        Greet("g", "hi")


@pytest.mark.parametrize("task_id", ["", "with space", "a/b", "ü", "new\n", "x" * 251, 7])
def test_invalid_task_ids_are_refused(task_id):
    with pytest.raises(DagDefinitionError) as info:
        EmptyOperator(task_id=task_id)
    assert str(info.value) == (
        f"invalid task_id {task_id!r}: use letters, digits, '_', '-' and '.' "
        "(at most 250 characters)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retries": -1}, "task 't': retries must be a whole number >= 0, got -1"),
        ({"retries": "3"}, "task 't': retries must be a whole number >= 0, got '3'"),
        (
            {"retry_delay": "5m"},
            "task 't': retry_delay must be a timedelta or a number of seconds, got str",
        ),
        (
            {"execution_timeout": True},
            "task 't': execution_timeout must be a timedelta or a number of seconds, got bool",
        ),
        (
            {"weight_rule": "sideways"},
            "task 't': unknown weight_rule 'sideways'; valid: downstream, upstream, absolute",
        ),
    ],
)
def test_bad_task_arguments_have_clear_messages(kwargs, message):
    with pytest.raises(DagDefinitionError) as info:
        EmptyOperator(task_id="t", **kwargs)
    assert str(info.value) == message


def test_duplicate_task_id_names_the_task_and_the_dag():
    with DAG("dups"), pytest.raises(DuplicateTaskIdFound) as info:
        EmptyOperator(task_id="same")
        BashOperator(task_id="same", bash_command="true")
    assert str(info.value) == "task id 'same' has already been added to the DAG 'dups'"
    assert isinstance(info.value, DagDefinitionError)


def test_duplicate_task_id_with_the_dag_argument_style():
    dag = DAG("dups2")
    EmptyOperator(task_id="x", dag=dag)
    with pytest.raises(DuplicateTaskIdFound, match="'x' has already been added to the DAG 'dups2'"):
        EmptyOperator(task_id="x", dag=dag)


def test_the_same_id_in_two_dags_is_fine():
    first, second = DAG("one"), DAG("two")
    EmptyOperator(task_id="x", dag=first)
    EmptyOperator(task_id="x", dag=second)
    assert first.task_ids == second.task_ids == ["x"]


def test_a_task_cannot_move_to_another_dag():
    first, second = DAG("one"), DAG("two")
    task = EmptyOperator(task_id="x", dag=first)
    with pytest.raises(DagDefinitionError, match="task 'x' already belongs to DAG 'one'"):
        second.add_task(task)


def test_user_operator_gets_default_args_for_its_own_and_base_arguments():
    with DAG("custom", default_args={"loud": True, "retries": 2}):
        task = Greet(task_id="g", greeting="hi")
    assert task.loud is True
    assert task.retries == 2
    assert task.execute({}) == "HI"


def test_params_of_a_task_are_the_dag_params_updated_by_its_own():
    with DAG("params", params={"a": 1, "b": 2}):
        task = EmptyOperator(task_id="t", params={"b": 3})
    assert task.params.resolve() == {"a": 1, "b": 3}


def test_base_operator_execute_must_be_implemented():
    with pytest.raises(NotImplementedError, match="BaseOperator must implement execute"):
        BaseOperator(task_id="raw").execute({})


def test_python_callable_must_be_callable():
    with pytest.raises(DagDefinitionError, match="python_callable must be callable, got str"):
        PythonOperator(task_id="p", python_callable="print")


def test_relatives_and_flat_relative_ids():
    with DAG("rel"):
        a, b, c, d = (EmptyOperator(task_id=x) for x in "abcd")
        a >> b >> c
        a >> d
    assert [t.task_id for t in a.downstream_list] == ["b", "d"]
    assert [t.task_id for t in c.get_direct_relatives(upstream=True)] == ["b"]
    assert a.get_flat_relative_ids() == {"b", "c", "d"}
    assert c.get_flat_relative_ids(upstream=True) == {"a", "b"}


def test_relatives_of_tasks_without_dag_are_an_error():
    loose = EmptyOperator(task_id="loose")
    loose >> EmptyOperator(task_id="other")
    assert loose.downstream_task_ids == {"other"}
    with pytest.raises(DagDefinitionError, match="task 'loose' is not assigned to a DAG"):
        loose.downstream_list  # noqa: B018


def test_a_task_start_date_must_be_a_datetime():
    from datetime import date

    with DAG("d"), pytest.raises(DagDefinitionError) as info:
        EmptyOperator(task_id="t", start_date=date(2026, 1, 1))
    assert str(info.value) == "task 't': start_date must be a datetime, got date"
