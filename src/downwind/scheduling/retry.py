"""When a failed task instance may be tried again."""

from __future__ import annotations

from datetime import datetime, timedelta

#: The longest wait between tries when no ``max_retry_delay`` is given (as in Airflow).
MAX_RETRY_DELAY = timedelta(hours=24)


def retry_delay_for(
    try_number: int,
    retry_delay: timedelta,
    *,
    exponential_backoff: bool = False,
    max_retry_delay: timedelta | None = None,
) -> timedelta:
    """The wait after try ``try_number`` (1 for the first) failed.

    With exponential backoff the delay doubles with each try: ``retry_delay * 2**(n-1)``,
    capped by ``max_retry_delay`` (24 hours when not given).
    """
    if not exponential_backoff:
        return retry_delay
    cap = max_retry_delay or MAX_RETRY_DELAY
    exponent = max(try_number - 1, 0)
    if exponent >= 40:  # 2**40 of even a microsecond is past any cap
        return cap
    return min(retry_delay * (2**exponent), cap)


def next_retry_at(
    failed_at: datetime,
    try_number: int,
    retry_delay: timedelta,
    *,
    exponential_backoff: bool = False,
    max_retry_delay: timedelta | None = None,
) -> datetime:
    """When a task instance whose try ``try_number`` failed at ``failed_at`` may run again."""
    return failed_at + retry_delay_for(
        try_number,
        retry_delay,
        exponential_backoff=exponential_backoff,
        max_retry_delay=max_retry_delay,
    )
