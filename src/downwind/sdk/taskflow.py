"""TaskFlow: ``@task`` turns a function into a task, ``@dag`` a function into a DAG.

Calling a ``@task`` function inside a DAG adds a task and returns an
:class:`~downwind.sdk.xcom_arg.XComArg` standing for its return value; passing that to
another task makes it an upstream and hands over the value through XCom at run time.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any

from downwind.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from downwind.sdk.context import current_dag
from downwind.sdk.dag import DAG
from downwind.sdk.params import ParamsDict
from downwind.sdk.xcom_arg import DagParam, XComArg

# Names a task function may declare to receive from the run context (see
# ``downwind.runner.context.build_context``); a call need not pass them.
CONTEXT_KEYS = frozenset(
    {
        "dag",
        "task",
        "ti",
        "task_instance",
        "run_id",
        "dag_run",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
        "ds",
        "ds_nodash",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "prev_data_interval_start_success",
        "prev_data_interval_end_success",
        "params",
        "var",
        "conn",
        "macros",
        "test_mode",
        "try_number",
        "map_index",
        "templates_dict",
        "inlets",
        "outlets",
    }
)


def _infers_multiple_outputs(function: Callable[..., Any]) -> bool:
    """True when the function is annotated to return a mapping (``-> dict[str, int]``,
    a ``TypedDict``...), as in Airflow."""
    try:
        hints = typing.get_type_hints(function)
    except Exception:
        return False
    returns = hints.get("return")
    origin = typing.get_origin(returns) or returns
    return isinstance(origin, type) and issubclass(origin, Mapping)


def _check_call(function: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> None:
    """Raise ``TypeError`` for a call the function cannot take; context keys it declares
    (``ti``, ``ds``...) are filled in at run time, so the call may leave them out."""
    signature = inspect.signature(function)
    bound = signature.bind_partial(*args, **kwargs)
    missing = [
        name
        for name, param in signature.parameters.items()
        if param.default is param.empty
        and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
        and name not in bound.arguments
        and (name not in CONTEXT_KEYS or param.kind is param.POSITIONAL_ONLY)
    ]
    if missing:
        raise TypeError(
            f"{function.__name__}() missing required argument(s): "
            f"{', '.join(repr(name) for name in missing)}"
        )


def _unique_task_id(task_id: str, dag: DAG | None) -> str:
    """``task_id``, or ``task_id__N`` if ``dag`` already has that id (as Airflow)."""
    if dag is None or task_id not in dag.task_dict:
        return task_id
    base = re.sub(r"__\d+$", "", task_id)
    pattern = re.compile(rf"{re.escape(base)}__(\d+)")
    numbers = [
        int(match.group(1)) for existing in dag.task_dict if (match := pattern.fullmatch(existing))
    ]
    return f"{base}__{max(numbers, default=0) + 1}"


class TaskDecorator:
    """A function wrapped by ``@task``; calling it adds a task to the current DAG."""

    def __init__(
        self,
        function: Callable[..., Any],
        operator_class: type[PythonOperator],
        multiple_outputs: bool | None,
        kwargs: dict[str, Any],
    ) -> None:
        functools.update_wrapper(self, function)
        self.function = function
        self.operator_class = operator_class
        self.multiple_outputs = (
            _infers_multiple_outputs(function) if multiple_outputs is None else multiple_outputs
        )
        self.kwargs = kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        _check_call(self.function, args, kwargs)  # a wrong call fails here, not at run time
        task_id = _unique_task_id(
            self.kwargs.get("task_id", self.function.__name__),
            self.kwargs.get("dag") or current_dag(),
        )
        operator = self.operator_class(
            **{**self.kwargs, "task_id": task_id},
            python_callable=self.function,
            op_args=args,
            op_kwargs=kwargs,
            multiple_outputs=self.multiple_outputs,
        )
        if operator.doc_md is None and self.function.__doc__:
            operator.doc_md = inspect.cleandoc(self.function.__doc__)
        return XComArg(operator)

    def override(self, **kwargs: Any) -> TaskDecorator:
        """The same task function with other task arguments (``task_id``, ``retries``...)."""
        multiple_outputs = kwargs.pop("multiple_outputs", self.multiple_outputs)
        return TaskDecorator(
            self.function, self.operator_class, multiple_outputs, {**self.kwargs, **kwargs}
        )


def _task_factory(operator_class: type[PythonOperator]) -> Callable[..., Any]:
    def decorator(
        python_callable: Callable[..., Any] | None = None,
        *,
        multiple_outputs: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        def wrap(function: Callable[..., Any]) -> TaskDecorator:
            return TaskDecorator(function, operator_class, multiple_outputs, kwargs)

        return wrap(python_callable) if python_callable is not None else wrap

    return decorator


class _TaskNamespace:
    """``@task``, ``@task.python``, ``@task.branch``, ``@task.short_circuit``."""

    def __init__(self) -> None:
        self._python = _task_factory(PythonOperator)
        self.python = self._python
        self.branch = _task_factory(BranchPythonOperator)
        self.short_circuit = _task_factory(ShortCircuitOperator)

    def __call__(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self._python(python_callable, **kwargs)


task = _TaskNamespace()


def dag(dag_id: str | Callable[..., Any] | None = None, **dag_kwargs: Any) -> Any:
    """Turn a function into a DAG factory: calling it builds the DAG (``dag_id`` defaults
    to the function's name, its parameters become DAG params, its docstring ``doc_md``).
    """

    def wrap(function: Callable[..., Any]) -> Callable[..., DAG]:
        signature = inspect.signature(function)
        names = [
            name
            for name, param in signature.parameters.items()
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
        ]

        @functools.wraps(function)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            bound = signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            params = ParamsDict(dag_kwargs.get("params") or {})
            for name in names:
                if name in bound.arguments:
                    # A call's argument or the function's default sets the param's value
                    # (a Param declared in ``params`` keeps its schema), as in Airflow.
                    params[name] = bound.arguments[name]
                elif name not in params:
                    params[name] = None
            options = {**dag_kwargs, "params": params}
            options.setdefault("doc_md", inspect.cleandoc(function.__doc__ or "") or None)
            options.setdefault("fileloc", inspect.getsourcefile(function))
            new_dag = DAG(
                dag_id=dag_kwargs.get("dag_id") or function.__name__,
                **{k: v for k, v in options.items() if k != "dag_id"},
            )
            with new_dag:
                function(**{name: DagParam(name) for name in names})
            return new_dag

        return factory

    if callable(dag_id):
        return wrap(dag_id)
    if dag_id is not None:
        dag_kwargs["dag_id"] = dag_id
    return wrap
