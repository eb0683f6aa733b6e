"""Parsing of command-line values shared by several commands (dates, JSON conf)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from downwind.exceptions import DownwindException


def parse_logical_date(text: str | None) -> datetime | None:
    """``YYYY-MM-DD`` or an ISO 8601 date-time; naive values are taken in the DAG's zone."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise DownwindException(
            f"invalid logical date {text!r}: expected YYYY-MM-DD or an ISO 8601 date-time "
            "such as 2026-01-01T06:00:00+00:00"
        ) from None


def parse_conf(text: str | None) -> dict[str, Any] | None:
    """The ``--conf`` JSON object."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise DownwindException(f"--conf is not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise DownwindException(
            f"--conf must be a JSON object such as '{{\"key\": 1}}', got {type(value).__name__}"
        )
    return value
