"""When a failed try may run again: fixed delay, exponential backoff and its caps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from downwind.scheduling.retry import MAX_RETRY_DELAY, next_retry_at, retry_delay_for

FIVE_MIN = timedelta(minutes=5)


@pytest.mark.parametrize("try_number", [1, 2, 7, 100])
def test_without_backoff_the_delay_is_fixed(try_number):
    assert retry_delay_for(try_number, FIVE_MIN) == FIVE_MIN


@pytest.mark.parametrize(
    ("try_number", "expected"),
    [(1, FIVE_MIN), (2, 2 * FIVE_MIN), (3, 4 * FIVE_MIN), (4, 8 * FIVE_MIN)],
)
def test_exponential_backoff_doubles_with_each_try(try_number, expected):
    assert retry_delay_for(try_number, FIVE_MIN, exponential_backoff=True) == expected


def test_max_retry_delay_caps_the_backoff():
    cap = timedelta(minutes=12)
    delays = [
        retry_delay_for(n, FIVE_MIN, exponential_backoff=True, max_retry_delay=cap)
        for n in range(1, 6)
    ]
    assert delays == [FIVE_MIN, 2 * FIVE_MIN, cap, cap, cap]


def test_backoff_without_max_retry_delay_is_capped_at_24_hours():
    assert timedelta(hours=24) == MAX_RETRY_DELAY
    assert retry_delay_for(12, FIVE_MIN, exponential_backoff=True) == timedelta(hours=24)


def test_a_huge_try_number_does_not_overflow():
    assert retry_delay_for(10_000, FIVE_MIN, exponential_backoff=True) == MAX_RETRY_DELAY
    cap = timedelta(hours=1)
    assert retry_delay_for(10_000, FIVE_MIN, exponential_backoff=True, max_retry_delay=cap) == cap


def test_max_retry_delay_does_not_apply_without_backoff():
    # As in Airflow: the cap only bounds the exponential growth.
    delay = retry_delay_for(3, timedelta(hours=2), max_retry_delay=timedelta(hours=1))
    assert delay == timedelta(hours=2)


def test_next_retry_at_adds_the_delay_to_the_failure_time():
    failed_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert next_retry_at(failed_at, 1, FIVE_MIN) == datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    assert next_retry_at(failed_at, 3, FIVE_MIN, exponential_backoff=True) == datetime(
        2026, 3, 1, 12, 20, tzinfo=UTC
    )
    assert next_retry_at(
        failed_at, 3, FIVE_MIN, exponential_backoff=True, max_retry_delay=timedelta(minutes=7)
    ) == datetime(2026, 3, 1, 12, 7, tzinfo=UTC)
