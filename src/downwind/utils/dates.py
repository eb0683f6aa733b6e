"""Date helpers DAG files use: ``days_ago``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def days_ago(
    n: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0
) -> datetime:
    """Midnight (UTC, or the given time of day) ``n`` days ago: ``start_date=days_ago(14)``."""
    today = datetime.now(UTC).replace(
        hour=hour, minute=minute, second=second, microsecond=microsecond
    )
    return today - timedelta(days=n)


__all__ = ["days_ago"]
