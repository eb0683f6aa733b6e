"""Range filters of list requests: ``<field>_gte``, ``_gt``, ``_lte`` and ``_lt`` query
parameters read into a :class:`~downwind.services.runs.Range`, as Airflow's API takes them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query

from downwind.services.runs import Range

__all__ = [
    "BOUNDS",
    "DurationRange",
    "EndDateRange",
    "LogicalDateRange",
    "RunAfterRange",
    "StartDateRange",
    "UpdatedAtRange",
    "range_filter",
]

#: the suffixes of a range's parameters, and what each means
BOUNDS = {
    "gte": "at or after",
    "gt": "after",
    "lte": "at or before",
    "lt": "before",
}


def range_filter(name: str, kind: type) -> Callable[..., Range]:
    """A dependency reading ``<name>_gte``, ``_gt``, ``_lte`` and ``_lt`` into a
    :class:`~downwind.services.runs.Range` (a naive date-time is in UTC)."""

    def bounds(**values: Any) -> Range:
        return Range(**{op: values[f"{name}_{op}"] for op in BOUNDS})

    what = "seconds" if kind is float else "date-time"
    bounds.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                f"{name}_{op}",
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[
                    kind | None, Query(description=f"Only those with `{name}` {words} ({what}).")
                ],
            )
            for op, words in BOUNDS.items()
        ],
        return_annotation=Range,
    )
    return bounds


LogicalDateRange = Annotated[Range, Depends(range_filter("logical_date", datetime))]
RunAfterRange = Annotated[Range, Depends(range_filter("run_after", datetime))]
StartDateRange = Annotated[Range, Depends(range_filter("start_date", datetime))]
EndDateRange = Annotated[Range, Depends(range_filter("end_date", datetime))]
UpdatedAtRange = Annotated[Range, Depends(range_filter("updated_at", datetime))]
DurationRange = Annotated[Range, Depends(range_filter("duration", float))]
