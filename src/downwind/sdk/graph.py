"""Graph checks over task dependencies: cycles (named) and topological order."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

from downwind.exceptions import DagCycleError, TaskNotFound


def find_cycle(downstream: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle as a closed path of node ids (``["a", "b", "a"]``), or ``None``.

    Iterative depth-first search so that deep DAGs (thousands of chained tasks) do not
    hit the recursion limit.
    """
    visiting, done = set(), set()
    for root in downstream:
        if root in done:
            continue
        path: list[str] = [root]
        iters = [iter(sorted(downstream.get(root, ())))]
        visiting.add(root)
        while iters:
            child = next(iters[-1], None)
            if child is None:
                iters.pop()
                node = path.pop()
                visiting.discard(node)
                done.add(node)
                continue
            if child in visiting:
                return [*path[path.index(child) :], child]
            if child not in done:
                visiting.add(child)
                path.append(child)
                iters.append(iter(sorted(downstream.get(child, ()))))
    return None


def check_acyclic(dag_id: str, downstream: Mapping[str, Iterable[str]]) -> None:
    """Raise :class:`DagCycleError` naming the cycle (``a -> b -> a``) if there is one."""
    cycle = find_cycle(downstream)
    if cycle:
        raise DagCycleError(f"DAG '{dag_id}' has a cycle: {' -> '.join(cycle)}")


def topological_order(nodes: Iterable[str], upstream: Mapping[str, Iterable[str]]) -> list[str]:
    """Nodes ordered so each comes after all of its upstream nodes (stable by insertion)."""
    nodes = list(nodes)
    remaining = {node: len(set(upstream.get(node, ()))) for node in nodes}
    downstream: dict[str, list[str]] = {node: [] for node in nodes}
    for node in nodes:
        for parent in set(upstream.get(node, ())):
            downstream[parent].append(node)
    ready = deque(node for node in nodes if remaining[node] == 0)
    order: list[str] = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for child in downstream[node]:
            remaining[child] -= 1
            if remaining[child] == 0:
                ready.append(child)
    if len(order) != len(nodes):
        cycle = find_cycle(downstream) or []
        raise DagCycleError(
            "cannot order tasks: the dependencies contain a cycle"
            + (f": {' -> '.join(cycle)}" if cycle else "")
        )
    return order


T = TypeVar("T")


class TaskGraph(Generic[T]):
    """Lookups over ``task_dict`` that the authoring DAG and the serialized DAG share."""

    dag_id: str
    task_dict: dict[str, T]

    @property
    def tasks(self) -> list[T]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    def get_task(self, task_id: str) -> T:
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise TaskNotFound(f"task '{task_id}' not found in DAG '{self.dag_id}'") from None

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict

    @property
    def roots(self) -> list[T]:
        """Tasks without upstream tasks."""
        return [t for t in self.task_dict.values() if not t.upstream_task_ids]  # type: ignore[attr-defined]

    @property
    def leaves(self) -> list[T]:
        """Tasks without downstream tasks."""
        return [t for t in self.task_dict.values() if not t.downstream_task_ids]  # type: ignore[attr-defined]
