"""downwind: author workflows as DAGs of tasks in Python; run, schedule and monitor them.

The authoring API lives here. Names are loaded on first use so that ``import downwind``
stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "DAG": "downwind.sdk.dag",
    "dag": "downwind.sdk.taskflow",
    "task": "downwind.sdk.taskflow",
    "BaseOperator": "downwind.sdk.baseoperator",
    "chain": "downwind.sdk.baseoperator",
    "cross_downstream": "downwind.sdk.baseoperator",
    "Param": "downwind.sdk.params",
    "TriggerRule": "downwind.sdk.trigger_rule",
    "XComArg": "downwind.sdk.xcom_arg",
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
    from downwind.runtime.connection import Connection
    from downwind.runtime.variable import Variable
    from downwind.sdk.baseoperator import BaseOperator, chain, cross_downstream
    from downwind.sdk.dag import DAG
    from downwind.sdk.params import Param
    from downwind.sdk.taskflow import dag, task
    from downwind.sdk.trigger_rule import TriggerRule
    from downwind.sdk.xcom_arg import XComArg


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'downwind' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
