"""timedelta schedules: intervals anchored on start_date, stepping by absolute time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from downwind.exceptions import DagDefinitionError
from downwind.timetables import DataInterval, DeltaTimetable

AMS = ZoneInfo("Europe/Amsterdam")
SIX_HOURS = timedelta(hours=6)
START = datetime(2026, 1, 1, 1, 30, tzinfo=UTC)
NOW = datetime(2026, 2, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def nxt(
    tt: DeltaTimetable,
    *,
    last: DataInterval | None = None,
    start_date: datetime | None = START,
    end_date: datetime | None = None,
    catchup: bool = True,
    now: datetime = NOW,
) -> DataInterval | None:
    return tt.next_dagrun_interval(
        last_interval=last, start_date=start_date, end_date=end_date, catchup=catchup, now=now
    )


def test_first_interval_starts_at_start_date() -> None:
    assert nxt(DeltaTimetable(SIX_HOURS)) == DataInterval(
        utc(2026, 1, 1, 1, 30), utc(2026, 1, 1, 7, 30)
    )


def test_steps_by_delta() -> None:
    last = DataInterval(utc(2026, 1, 1, 1, 30), utc(2026, 1, 1, 7, 30))
    assert nxt(DeltaTimetable(SIX_HOURS), last=last) == DataInterval(
        utc(2026, 1, 1, 7, 30), utc(2026, 1, 1, 13, 30)
    )


def test_no_start_date() -> None:
    assert nxt(DeltaTimetable(SIX_HOURS), start_date=None) is None
    last = DataInterval(utc(2026, 1, 1), utc(2026, 1, 1, 6))
    assert nxt(DeltaTimetable(SIX_HOURS), start_date=None, last=last) == DataInterval(
        utc(2026, 1, 1, 6), utc(2026, 1, 1, 12)
    )


def test_catchup_off_latest_complete_interval_on_the_start_date_grid() -> None:
    interval = nxt(DeltaTimetable(SIX_HOURS), catchup=False, now=utc(2026, 1, 10, 14))
    # grid: ... 07:30, 13:30, 19:30; the last complete one is [07:30, 13:30).
    assert interval == DataInterval(utc(2026, 1, 10, 7, 30), utc(2026, 1, 10, 13, 30))


def test_catchup_off_nothing_complete_yet() -> None:
    interval = nxt(DeltaTimetable(SIX_HOURS), catchup=False, now=utc(2026, 1, 1, 3))
    assert interval == DataInterval(utc(2026, 1, 1, 1, 30), utc(2026, 1, 1, 7, 30))


def test_catchup_off_after_the_latest_run() -> None:
    last = DataInterval(utc(2026, 1, 10, 7, 30), utc(2026, 1, 10, 13, 30))
    interval = nxt(DeltaTimetable(SIX_HOURS), last=last, catchup=False, now=utc(2026, 1, 10, 14))
    assert interval == DataInterval(utc(2026, 1, 10, 13, 30), utc(2026, 1, 10, 19, 30))


def test_catchup_off_without_start_date_anchors_on_the_last_run() -> None:
    last = DataInterval(utc(2026, 1, 1), utc(2026, 1, 1, 6))
    interval = nxt(
        DeltaTimetable(SIX_HOURS), last=last, start_date=None, catchup=False, now=utc(2026, 1, 2, 1)
    )
    assert interval == DataInterval(utc(2026, 1, 1, 18), utc(2026, 1, 2))


def test_end_date() -> None:
    tt = DeltaTimetable(SIX_HOURS)
    last = DataInterval(utc(2026, 1, 1, 1, 30), utc(2026, 1, 1, 7, 30))
    assert nxt(tt, last=last, end_date=utc(2026, 1, 1, 7, 30)) is not None
    assert nxt(tt, last=last, end_date=utc(2026, 1, 1, 7, 29)) is None
    assert nxt(tt, end_date=utc(2025, 12, 31)) is None


def test_dst_does_not_shift_intervals() -> None:
    tt = DeltaTimetable(timedelta(days=1))
    start = datetime(2026, 3, 28, tzinfo=AMS)
    first = nxt(tt, start_date=start)
    assert first is not None
    second = nxt(tt, start_date=start, last=first)
    assert second is not None
    assert second.end - second.start == timedelta(hours=24)
    assert second.end.astimezone(AMS).hour == 1  # absolute days: local midnight + DST hour


def test_results_are_utc() -> None:
    interval = nxt(DeltaTimetable(SIX_HOURS), start_date=datetime(2026, 1, 1, tzinfo=AMS))
    assert interval is not None
    assert interval.start.tzinfo is UTC
    assert interval.start == utc(2025, 12, 31, 23)


def test_manual_run() -> None:
    tt = DeltaTimetable(SIX_HOURS)
    assert tt.infer_manual_data_interval(utc(2026, 1, 5, 12)) == DataInterval(
        utc(2026, 1, 5, 6), utc(2026, 1, 5, 12)
    )


def test_rejects_non_timedelta() -> None:
    with pytest.raises(DagDefinitionError, match=r"needs a datetime\.timedelta"):
        DeltaTimetable(3600)  # type: ignore[arg-type]
