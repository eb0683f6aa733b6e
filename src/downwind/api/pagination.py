"""Query parameters every list endpoint shares: ``limit``, ``offset``, ``order_by``, and
the ``~`` wildcard that stands for "every DAG / run / task" in a path.

- ``limit`` defaults to ``[api] fallback_page_limit`` and is capped at ``[api]
  maximum_page_limit``; ``offset`` skips rows.
- ``order_by`` is a list (repeat the parameter, or separate names with commas); ``-``
  before a name sorts descending. An unknown name is a 400 naming the allowed ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Query, Request

from downwind.api.deps import context
from downwind.services.errors import InvalidInput
from downwind.services.listing import WILDCARD, SortKey

__all__ = [
    "WILDCARD",
    "Pagination",
    "order_by_param",
    "pagination",
    "parse_order_by",
    "resolve_limit",
    "unless_wildcard",
]


@dataclass(frozen=True)
class Pagination:
    """The page a list request asks for."""

    limit: int
    offset: int


#: the largest number a metastore integer column holds (PostgreSQL's ``integer``)
MAX_INT = 2**31 - 1


def resolve_limit(limit: int | None, *, fallback: int, maximum: int) -> int:
    """The number of rows to return: ``limit`` (``fallback`` if not given), at most
    ``maximum``."""
    return min(fallback if limit is None else limit, maximum)


def pagination(
    request: Request,
    limit: Annotated[
        int | None, Query(ge=0, le=MAX_INT, description="Most items to return.")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Items to skip.")] = 0,
) -> Pagination:
    """The ``limit`` and ``offset`` of a list request."""
    api = context(request).conf.api
    return Pagination(
        resolve_limit(limit, fallback=api.fallback_page_limit, maximum=api.maximum_page_limit),
        offset,
    )


def parse_order_by(values: Iterable[str], allowed: Sequence[str], default: str) -> list[SortKey]:
    """The sort keys of ``order_by`` values (``default`` if there are none); raises
    :class:`~downwind.services.errors.InvalidInput` for a field not in ``allowed``."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    keys: list[SortKey] = []
    seen: set[str] = set()
    for name in names or [default]:
        descending = name.startswith("-")
        field = name[1:] if descending else name
        if field not in allowed:
            raise InvalidInput(
                f"Ordering with '{field}' is disallowed or the attribute does not exist on "
                f"the model; order_by accepts: {', '.join(allowed)} (prefix '-' to sort "
                "descending)"
            )
        if field not in seen:
            seen.add(field)
            keys.append(SortKey(field, descending))
    return keys


def order_by_param(allowed: Sequence[str], default: str) -> Callable[..., list[SortKey]]:
    """A dependency reading ``order_by`` for a list sortable by ``allowed`` fields."""
    description = (
        "Attributes to order by, multi criteria sort is supported. Prefix with `-` for "
        f"descending order. Supported attributes: `{', '.join(allowed)}`"
    )

    def order_by(order_by: list[str] | None = None) -> list[SortKey]:
        return parse_order_by(order_by or (), allowed, default)

    # Set here, not written above: the Query's description is built at run time.
    order_by.__annotations__ = {
        "order_by": Annotated[list[str] | None, Query(description=description)],
        "return": list[SortKey],
    }
    return order_by


def unless_wildcard(value: str) -> str | None:
    """``value``, or ``None`` when it is the wildcard ``~`` (meaning "all")."""
    return None if value == WILDCARD else value
