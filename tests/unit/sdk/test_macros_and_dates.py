"""``macros`` available in templates and ``downwind.utils.dates.days_ago``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from downwind import DAG, macros
from downwind.utils.dates import days_ago


def midnight_utc(days_back: int) -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=days_back)


# macros -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ds", "days", "expected"),
    [
        ("2026-01-05", 1, "2026-01-06"),
        ("2026-01-05", -5, "2025-12-31"),
        ("2024-02-28", 1, "2024-02-29"),
        ("2025-02-28", 1, "2025-03-01"),
        ("2026-03-10", 0, "2026-03-10"),
    ],
)
def test_ds_add(ds, days, expected):
    assert macros.ds_add(ds, days) == expected


def test_ds_add_rejects_a_malformed_date():
    with pytest.raises(ValueError, match="does not match format"):
        macros.ds_add("05/01/2026", 1)


def test_ds_format():
    assert macros.ds_format("2026-01-05", "%Y-%m-%d", "%m-%d-%y") == "01-05-26"
    assert macros.ds_format("20260105", "%Y%m%d", "%Y/%m/%d") == "2026/01/05"


def test_macros_expose_the_modules_airflow_users_expect():
    assert macros.datetime is datetime
    assert macros.timedelta is timedelta
    assert macros.json.loads("[1]") == [1]
    assert callable(macros.uuid.uuid4) and callable(macros.random.random)


def test_datetime_diff_for_humans():
    now = datetime(2026, 1, 10, tzinfo=UTC)
    assert macros.datetime_diff_for_humans(now - timedelta(days=2), now) == "2 days ago"
    assert macros.datetime_diff_for_humans(now + timedelta(hours=1), now) == "1 hour from now"
    assert macros.datetime_diff_for_humans(now - timedelta(seconds=5), now) == "5 seconds ago"


# days_ago -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 14, 400])
def test_days_ago_is_midnight_utc_n_days_back(n):
    before = midnight_utc(n)
    value = days_ago(n)
    after = midnight_utc(n)
    assert value in (before, after)  # the same unless the test straddles midnight
    assert value.tzinfo is UTC
    assert (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)


def test_days_ago_at_a_given_time_of_day():
    value = days_ago(2, hour=5, minute=30, second=15, microsecond=7)
    assert value - midnight_utc(2) in (
        timedelta(hours=5, minutes=30, seconds=15, microseconds=7),
        timedelta(days=1, hours=5, minutes=30, seconds=15, microseconds=7),
    )


def test_days_ago_start_date_makes_a_utc_dag(downwind_home, monkeypatch):
    from downwind.config import reset_config_cache

    monkeypatch.setenv("DOWNWIND__CORE__DEFAULT_TIMEZONE", "America/New_York")
    reset_config_cache()
    dag = DAG("rockets", start_date=days_ago(14), schedule_interval="@daily")
    assert dag.start_date == days_ago(14) or dag.start_date == days_ago(15)
    assert str(dag.timezone) == "UTC"
    assert dag.catchup is True
