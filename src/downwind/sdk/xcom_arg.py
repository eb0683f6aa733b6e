"""Placeholders for values known only at run time: another task's XCom, a DAG param."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from downwind.sdk.baseoperator import BaseOperator


class Resolvable:
    """A value in an operator argument that is resolved from the run context when the
    task runs."""

    def resolve(self, context: Mapping[str, Any]) -> Any:
        raise NotImplementedError


class XComArg(Resolvable):
    """The XCom ``key`` of ``operator``'s run, passed as an argument to another task.

    Returned by calling a ``@task`` function and by ``operator.output``; using it as an
    argument makes the producing task an upstream of the consuming one.
    """

    def __init__(self, operator: BaseOperator, key: str = "return_value") -> None:
        self.operator = operator
        self.key = key

    def __getitem__(self, key: str) -> XComArg:
        """The XCom pushed under ``key`` (with ``multiple_outputs``, one output field)."""
        return XComArg(self.operator, key)

    def __iter__(self):
        raise TypeError(
            f"XComArg of task '{self.operator.task_id}' is not iterable at DAG-definition "
            "time: its value only exists when the DAG runs"
        )

    def resolve(self, context: Mapping[str, Any]) -> Any:
        return context["ti"].xcom_pull(task_ids=self.operator.task_id, key=self.key)

    # Dependencies: an XComArg stands for its operator.
    def __rshift__(self, other: Any) -> Any:
        return self.operator >> other

    def __lshift__(self, other: Any) -> Any:
        return self.operator << other

    def __rrshift__(self, other: Any) -> Any:
        self.operator.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:
        self.operator.set_downstream(other)
        return self

    def set_upstream(self, other: Any) -> None:
        self.operator.set_upstream(other)

    def set_downstream(self, other: Any) -> None:
        self.operator.set_downstream(other)

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, key={self.key!r})"


class DagParam(Resolvable):
    """A DAG param passed to a ``@dag`` function's argument, read from the run's params."""

    def __init__(self, name: str) -> None:
        self.name = name

    def resolve(self, context: Mapping[str, Any]) -> Any:
        return context["params"][self.name]

    def __repr__(self) -> str:
        return f"DagParam({self.name!r})"


def iter_xcom_args(value: Any):
    """Every :class:`XComArg` inside ``value`` (lists, tuples, sets, dict values)."""
    if isinstance(value, XComArg):
        yield value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from iter_xcom_args(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_xcom_args(item)
