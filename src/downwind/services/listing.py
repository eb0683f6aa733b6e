"""Listing rows a page at a time, sorted and filtered, the way the REST API lists them.

A list use case builds a filtered ``SELECT`` and names the columns it may be sorted by;
:func:`fetch_page` counts the matching rows, sorts them and cuts one page. The
pattern helpers turn Airflow's text filters into SQL:

- ``*_pattern``: a case-insensitive substring match (SQL ``ILIKE '%term%'``; ``%`` and
  ``_`` in the term are wildcards), several terms joined by ``|`` match any of them;
- ``*_prefix_pattern``: a prefix match (``LIKE 'term%'``, the term taken literally),
  which can use an index; case-sensitive on PostgreSQL (SQLite's ``LIKE`` ignores the
  case of ASCII letters);
- ``~`` alone (or nothing) matches everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.orm import Session

__all__ = [
    "WILDCARD",
    "Page",
    "SortKey",
    "fetch_page",
    "matches_pattern",
    "matches_prefix",
]

#: a value that matches everything (Airflow's ``~``)
WILDCARD = "~"


class SortKey(NamedTuple):
    """One criterion of an ``order_by``: a field name and its direction."""

    field: str
    descending: bool = False


@dataclass(frozen=True)
class Page:
    """The rows of one page and how many rows match in all."""

    rows: list[Any]
    total_entries: int


def fetch_page(
    session: Session,
    query: Select[Any],
    *,
    sort: Sequence[SortKey],
    columns: Mapping[str, ColumnElement[Any]],
    limit: int | None,
    offset: int = 0,
    tiebreaker: Sequence[ColumnElement[Any]] = (),
) -> Page:
    """One page of ``query``'s rows, sorted by ``sort`` (field names of ``columns``; rows
    without a value last), then by ``tiebreaker`` so that pages never overlap;
    ``limit=None`` takes every row.

    A query selecting one entity yields the entities, otherwise rows.
    """
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    ordering: list[ColumnElement[Any]] = []
    for key in sort:
        column = columns[key.field]
        # NULLs last either way, on both databases (PostgreSQL puts them first when
        # descending, SQLite when ascending).
        ordering.append((column.desc() if key.descending else column.asc()).nulls_last())
    ordering.extend(tiebreaker)
    query = query.order_by(*ordering).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    single = len(query.column_descriptions) == 1
    result = session.scalars(query) if single else session.execute(query)
    return Page(list(result), int(total or 0))


def _terms(pattern: str | None) -> list[str] | None:
    """The ``|``-separated terms of ``pattern``; ``None`` when it matches everything."""
    if pattern is None or pattern.strip() in ("", WILDCARD):
        return None
    return [term for term in pattern.split("|") if term]


def matches_pattern(column: ColumnElement[Any], pattern: str | None) -> ColumnElement[bool] | None:
    """``column ILIKE '%term%'`` for any term of ``pattern``; ``None`` when it matches all."""
    terms = _terms(pattern)
    if terms is None:
        return None
    if not terms:
        return false()
    return or_(*(column.ilike(f"%{term}%") for term in terms))


def matches_prefix(column: ColumnElement[Any], pattern: str | None) -> ColumnElement[bool] | None:
    """``column`` starts with a term of ``pattern`` (taken literally); ``None`` when it
    matches all."""
    terms = _terms(pattern)
    if terms is None:
        return None
    if not terms:
        return false()
    return or_(*(column.startswith(term, autoescape=True) for term in terms))
