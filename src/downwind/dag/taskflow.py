"""TaskFlow: ``@task`` turns a function into a task, ``@dag`` a function into a DAG.

Calling a ``@task`` function inside a DAG adds a task and returns an
:class:`~downwind.dag.xcom_arg.XComArg` standing for its return value; passing that to
another task makes it an upstream and hands over the value through XCom at run time.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

from downwind.dag.context import current_dag
from downwind.dag.dag import DAG
from downwind.dag.xcom_arg import DagParam, XComArg
from downwind.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)


def _infers_multiple_outputs(function: Callable[..., Any]) -> bool:
    try:
        hints = typing.get_type_hints(function)
    except Exception:
        return False
    returns = hints.get("return")
    origin = typing.get_origin(returns) or returns
    return origin in (dict, typing.Dict)  # noqa: UP006


def _unique_task_id(task_id: str) -> str:
    """``task_id``, or ``task_id__N`` if the current DAG already has that id (as Airflow)."""
    dag = current_dag()
    if dag is None or task_id not in dag.task_dict:
        return task_id
    base = re.sub(r"__\d+$", "", task_id)
    numbers = [
        int(existing.rsplit("__", 1)[1])
        for existing in dag.task_dict
        if existing.startswith(f"{base}__") and existing.rsplit("__", 1)[1].isdigit()
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
        inspect.signature(self.function).bind(*args, **kwargs)  # a wrong call fails here
        task_id = _unique_task_id(self.kwargs.get("task_id", self.function.__name__))
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

        @functools.wraps(function)
        def factory(*args: Any, **kwargs: Any) -> DAG:
            bound = signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            params = dict(dag_kwargs.get("params") or {})
            for name, value in bound.arguments.items():
                params.setdefault(name, value)
            for name, param in signature.parameters.items():
                if name not in bound.arguments and param.default is param.empty:
                    params.setdefault(name, None)
            options = {**dag_kwargs, "params": params}
            options.setdefault("doc_md", inspect.cleandoc(function.__doc__ or "") or None)
            options.setdefault("fileloc", inspect.getsourcefile(function))
            new_dag = DAG(
                dag_id=dag_kwargs.get("dag_id") or function.__name__,
                **{k: v for k, v in options.items() if k != "dag_id"},
            )
            with new_dag:
                function(**{name: DagParam(name) for name in signature.parameters})
            return new_dag

        return factory

    if callable(dag_id):
        return wrap(dag_id)
    if dag_id is not None:
        dag_kwargs["dag_id"] = dag_id
    return wrap
