"""downwind: author workflows as DAGs of tasks in Python; run, schedule and monitor them.

The authoring API lives here. Names are loaded on first use so that ``import downwind``
stays cheap.
"""

from __future__ import annotations

import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "DAG": "downwind.dag.dag",
    "dag": "downwind.dag.taskflow",
    "task": "downwind.dag.taskflow",
    "BaseOperator": "downwind.dag.baseoperator",
    "chain": "downwind.dag.baseoperator",
    "cross_downstream": "downwind.dag.baseoperator",
    "Param": "downwind.dag.params",
    "TriggerRule": "downwind.dag.trigger_rule",
    "XComArg": "downwind.dag.xcom_arg",
    "Variable": "downwind.runtime.variable",
    "Connection": "downwind.runtime.connection",
}

__all__ = [
    "DAG",
    "BaseOperator",
    "Connection",
    "Param",
    "TriggerRule",
    "Variable",
    "XComArg",
    "__version__",
    "chain",
    "cross_downstream",
    "dag",
    "task",
]

if TYPE_CHECKING:
    from downwind.dag.baseoperator import BaseOperator, chain, cross_downstream
    from downwind.dag.dag import DAG
    from downwind.dag.params import Param
    from downwind.dag.taskflow import dag, task
    from downwind.dag.trigger_rule import TriggerRule
    from downwind.dag.xcom_arg import XComArg
    from downwind.runtime.connection import Connection
    from downwind.runtime.variable import Variable


class _DagPackage(types.ModuleType):
    """``downwind.dag`` is both the authoring subpackage and the ``@dag`` decorator.

    Python binds a subpackage as an attribute of its parent once it is imported, so
    ``from downwind import dag`` finds the subpackage ``downwind.dag``, never a lazily
    exported function. Calling that module therefore does what ``@dag`` does.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return import_module("downwind.dag.taskflow").dag(*args, **kwargs)


import_module("downwind.dag").__class__ = _DagPackage


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'downwind' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
