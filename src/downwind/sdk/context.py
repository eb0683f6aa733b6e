"""The stack of DAGs (and later task groups) opened with ``with``, so tasks find their DAG."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from downwind.sdk.dag import DAG

_dag_stack: list[DAG] = []


def push_dag(dag: DAG) -> None:
    _dag_stack.append(dag)


def pop_dag() -> None:
    _dag_stack.pop()


def current_dag() -> DAG | None:
    """The innermost DAG opened with ``with``, if any."""
    return _dag_stack[-1] if _dag_stack else None


_collectors: list[list[DAG]] = []


def start_collecting() -> list[DAG]:
    """Record every DAG created until :func:`stop_collecting` (DAG discovery uses it to
    find DAGs a file creates without keeping them in a global, e.g. a ``@dag`` call)."""
    found: list[DAG] = []
    _collectors.append(found)
    return found


def stop_collecting() -> None:
    _collectors.pop()


def register_dag(dag: DAG) -> None:
    """Called by every new DAG."""
    if _collectors:
        _collectors[-1].append(dag)
