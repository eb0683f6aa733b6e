"""``macros`` in templates: date helpers and the modules Airflow users expect there."""

from __future__ import annotations

import json  # noqa: F401  (exposed to templates as macros.json)
import random  # noqa: F401
import time  # noqa: F401
import uuid  # noqa: F401
from datetime import date, datetime, timedelta  # noqa: F401


def ds_add(ds: str, days: int) -> str:
    """Add (or subtract) days to a ``YYYY-MM-DD`` date: ``ds_add("2026-01-05", -4)``."""
    return (datetime.strptime(ds, "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Re-format a date string: ``ds_format("2026-01-05", "%Y-%m-%d", "%m-%d-%y")``."""
    return datetime.strptime(ds, input_format).strftime(output_format)


def datetime_diff_for_humans(dt: datetime, since: datetime | None = None) -> str:
    """A rough description of the time between ``dt`` and ``since`` (now by default)."""
    since = since or datetime.now(dt.tzinfo)
    seconds = int((since - dt).total_seconds())
    suffix = "ago" if seconds >= 0 else "from now"
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} {suffix}"
    return f"{seconds} seconds {suffix}"
