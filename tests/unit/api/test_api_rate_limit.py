"""Failed sign-ins per (address, username) in a sliding window."""

from __future__ import annotations

import pytest

from downwind.api.rate_limit import LoginRateLimiter

ADA = ("10.0.0.1", "ada")


def test_blocks_after_max_failures_within_the_window() -> None:
    limiter = LoginRateLimiter(3, 60)
    for moment in (0, 10, 20):
        assert limiter.retry_after(ADA, moment) is None
        limiter.record_failure(ADA, moment)
    assert limiter.retry_after(ADA, 30) == 30, "until the first failure leaves the window"
    assert limiter.retry_after(ADA, 59.5) == 1
    assert limiter.retry_after(ADA, 60) is None, "one failure left the window"
    limiter.record_failure(ADA, 60)
    assert limiter.retry_after(ADA, 61) == 9


def test_other_users_and_addresses_are_counted_apart() -> None:
    limiter = LoginRateLimiter(1, 60)
    limiter.record_failure(ADA, 0)
    assert limiter.retry_after(ADA, 1) == 59
    assert limiter.retry_after(("10.0.0.1", "bob"), 1) is None
    assert limiter.retry_after(("10.0.0.2", "ada"), 1) is None


def test_a_reset_forgets_the_failures() -> None:
    limiter = LoginRateLimiter(2, 60)
    limiter.record_failure(ADA, 0)
    limiter.record_failure(ADA, 1)
    limiter.reset(ADA)
    assert limiter.retry_after(ADA, 2) is None


def test_memory_is_bounded() -> None:
    limiter = LoginRateLimiter(1, 60, max_keys=3)
    for n in range(10):
        limiter.record_failure((f"10.0.0.{n}", "ada"), 0)
    assert limiter.retry_after(("10.0.0.9", "ada"), 1) == 59
    assert limiter.retry_after(("10.0.0.0", "ada"), 1) is None, "the stalest was forgotten"


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        LoginRateLimiter(0, 60)
