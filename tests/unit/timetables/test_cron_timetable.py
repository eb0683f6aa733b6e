"""Cron schedules: alignment, catchup, end_date, DST, month ends, leap years, manual runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from downwind.timetables import CronTimetable, DataInterval

AMS = ZoneInfo("Europe/Amsterdam")
NYC = ZoneInfo("America/New_York")
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def iv(start: datetime, end: datetime) -> DataInterval:
    return DataInterval(start, end)


def intervals(
    tt: CronTimetable,
    start_date: datetime,
    count: int,
    *,
    end_date: datetime | None = None,
    now: datetime = FAR_FUTURE,
) -> list[DataInterval]:
    """The first ``count`` intervals with catchup, stopping early when the schedule ends."""
    found: list[DataInterval] = []
    last = None
    for _ in range(count):
        last = tt.next_dagrun_interval(
            last_interval=last, start_date=start_date, end_date=end_date, catchup=True, now=now
        )
        if last is None:
            break
        found.append(last)
    return found


def starts(found: list[DataInterval], tz: ZoneInfo = UTC) -> list[str]:  # type: ignore[assignment]
    return [i.start.astimezone(tz).isoformat() for i in found]


class TestFirstInterval:
    def test_aligned_start_date(self) -> None:
        tt = CronTimetable("@daily")
        first = tt.next_dagrun_interval(
            last_interval=None,
            start_date=utc(2026, 1, 1),
            end_date=None,
            catchup=True,
            now=utc(2026, 1, 15, 10, 30),
        )
        assert first == iv(utc(2026, 1, 1), utc(2026, 1, 2))

    def test_unaligned_start_date_starts_at_the_next_tick(self) -> None:
        tt = CronTimetable("@daily")
        first = tt.next_dagrun_interval(
            last_interval=None,
            start_date=utc(2026, 1, 1, 10),
            end_date=None,
            catchup=True,
            now=utc(2026, 1, 15),
        )
        assert first == iv(utc(2026, 1, 2), utc(2026, 1, 3))

    def test_start_date_with_microseconds(self) -> None:
        tt = CronTimetable("0 5 * * *")
        start = utc(2026, 1, 1, 5).replace(microsecond=1)
        [first] = intervals(tt, start, 1)
        assert first == iv(utc(2026, 1, 2, 5), utc(2026, 1, 3, 5))

    def test_no_start_date_and_no_previous_run(self) -> None:
        tt = CronTimetable("@daily")
        for catchup in (True, False):
            assert (
                tt.next_dagrun_interval(
                    last_interval=None,
                    start_date=None,
                    end_date=None,
                    catchup=catchup,
                    now=utc(2026, 1, 1),
                )
                is None
            )

    def test_future_interval_is_returned_but_not_yet_due(self) -> None:
        tt = CronTimetable("@daily")
        now = utc(2026, 1, 1, 12)
        nxt = tt.next_dagrun_interval(
            last_interval=None, start_date=utc(2026, 1, 1), end_date=None, catchup=True, now=now
        )
        assert nxt == iv(utc(2026, 1, 1), utc(2026, 1, 2))
        assert nxt.end > now

    def test_results_are_utc(self) -> None:
        [first] = intervals(CronTimetable("@daily", AMS), datetime(2026, 1, 1, tzinfo=AMS), 1)
        assert first.start.tzinfo is UTC
        assert first.end.tzinfo is UTC


class TestFollowingIntervals:
    def test_continues_from_the_last_interval(self) -> None:
        tt = CronTimetable("@hourly")
        last = iv(utc(2026, 1, 1, 3), utc(2026, 1, 1, 4))
        nxt = tt.next_dagrun_interval(
            last_interval=last,
            start_date=utc(2026, 1, 1),
            end_date=None,
            catchup=True,
            now=utc(2026, 2, 1),
        )
        assert nxt == iv(utc(2026, 1, 1, 4), utc(2026, 1, 1, 5))

    def test_last_interval_off_the_schedule_stays_contiguous(self) -> None:
        # e.g. the schedule changed from hourly to daily: no gap, then back on the ticks.
        tt = CronTimetable("@daily")
        last = iv(utc(2026, 1, 1, 3), utc(2026, 1, 1, 4))
        nxt = tt.next_dagrun_interval(
            last_interval=last,
            start_date=utc(2026, 1, 1),
            end_date=None,
            catchup=True,
            now=utc(2026, 2, 1),
        )
        assert nxt == iv(utc(2026, 1, 1, 4), utc(2026, 1, 2))

    def test_start_date_moved_forward_wins_over_the_last_interval(self) -> None:
        tt = CronTimetable("@daily")
        nxt = tt.next_dagrun_interval(
            last_interval=iv(utc(2026, 1, 1), utc(2026, 1, 2)),
            start_date=utc(2026, 1, 10),
            end_date=None,
            catchup=True,
            now=utc(2026, 2, 1),
        )
        assert nxt == iv(utc(2026, 1, 10), utc(2026, 1, 11))

    def test_without_start_date_follows_the_last_interval(self) -> None:
        tt = CronTimetable("@daily")
        nxt = tt.next_dagrun_interval(
            last_interval=iv(utc(2026, 1, 1), utc(2026, 1, 2)),
            start_date=None,
            end_date=None,
            catchup=True,
            now=utc(2026, 2, 1),
        )
        assert nxt == iv(utc(2026, 1, 2), utc(2026, 1, 3))


class TestCatchupOff:
    def test_latest_complete_interval(self) -> None:
        tt = CronTimetable("@daily")
        nxt = tt.next_dagrun_interval(
            last_interval=None,
            start_date=utc(2026, 1, 1),
            end_date=None,
            catchup=False,
            now=utc(2026, 1, 15, 10, 30),
        )
        assert nxt == iv(utc(2026, 1, 14), utc(2026, 1, 15))

    def test_now_exactly_on_a_tick(self) -> None:
        tt = CronTimetable("@daily")
        nxt = tt.next_dagrun_interval(
            last_interval=None,
            start_date=utc(2026, 1, 1),
            end_date=None,
            catchup=False,
            now=utc(2026, 1, 15),
        )
        assert nxt == iv(utc(2026, 1, 14), utc(2026, 1, 15))

    def test_skips_missed_intervals_after_the_last_run(self) -> None:
        tt = CronTimetable("@hourly")
        nxt = tt.next_dagrun_interval(
            last_interval=iv(utc(2026, 1, 1, 0), utc(2026, 1, 1, 1)),
            start_date=utc(2026, 1, 1),
            end_date=None,
            catchup=False,
            now=utc(2026, 1, 1, 7, 59),
        )
        assert nxt == iv(utc(2026, 1, 1, 6), utc(2026, 1, 1, 7))

    def test_after_the_latest_run_the_next_one_is_upcoming(self) -> None:
        tt = CronTimetable("@daily")
        nxt = tt.next_dagrun_interval(
            last_interval=iv(utc(2026, 1, 14), utc(2026, 1, 15)),
            start_date=utc(2026, 1, 1),
            end_date=None,
            catchup=False,
            now=utc(2026, 1, 15, 10, 30),
        )
        assert nxt == iv(utc(2026, 1, 15), utc(2026, 1, 16))

    def test_start_date_in_the_future(self) -> None:
        tt = CronTimetable("@daily")
        nxt = tt.next_dagrun_interval(
            last_interval=None,
            start_date=utc(2026, 3, 1, 12),
            end_date=None,
            catchup=False,
            now=utc(2026, 1, 15),
        )
        assert nxt == iv(utc(2026, 3, 2), utc(2026, 3, 3))

    def test_first_interval_not_complete_yet(self) -> None:
        tt = CronTimetable("@daily")
        nxt = tt.next_dagrun_interval(
            last_interval=None,
            start_date=utc(2026, 1, 15),
            end_date=None,
            catchup=False,
            now=utc(2026, 1, 15, 10),
        )
        assert nxt == iv(utc(2026, 1, 15), utc(2026, 1, 16))

    def test_inside_a_repeated_dst_hour(self) -> None:
        # 02:15 happens twice on 2026-10-25 in Amsterdam; cron fires at the first (00:15 UTC).
        # At 02:10 of the second pass (01:10 UTC) that run's interval is already complete.
        tt = CronTimetable("15 2 * * *", AMS)
        nxt = tt.next_dagrun_interval(
            last_interval=None,
            start_date=utc(2026, 1, 1),
            end_date=None,
            catchup=False,
            now=utc(2026, 10, 25, 1, 10),
        )
        assert nxt == iv(utc(2026, 10, 24, 0, 15), utc(2026, 10, 25, 0, 15))


class TestEndDate:
    def test_interval_starting_on_end_date_is_the_last(self) -> None:
        tt = CronTimetable("@daily")
        found = intervals(tt, utc(2026, 1, 1), 10, end_date=utc(2026, 1, 3))
        assert starts(found) == [
            "2026-01-01T00:00:00+00:00",
            "2026-01-02T00:00:00+00:00",
            "2026-01-03T00:00:00+00:00",
        ]

    def test_end_date_between_ticks(self) -> None:
        tt = CronTimetable("@daily")
        found = intervals(tt, utc(2026, 1, 1), 10, end_date=utc(2026, 1, 2, 12))
        assert [i.end for i in found] == [utc(2026, 1, 2), utc(2026, 1, 3)]

    def test_end_date_before_start_date(self) -> None:
        tt = CronTimetable("@daily")
        assert intervals(tt, utc(2026, 1, 5), 3, end_date=utc(2026, 1, 1)) == []

    def test_catchup_off_after_end_date(self) -> None:
        tt = CronTimetable("@daily")
        nxt = tt.next_dagrun_interval(
            last_interval=None,
            start_date=utc(2026, 1, 1),
            end_date=utc(2026, 1, 5),
            catchup=False,
            now=utc(2026, 2, 1),
        )
        assert nxt is None


class TestDaylightSavingTime:
    def test_daily_amsterdam_spring_forward(self) -> None:
        tt = CronTimetable("0 0 * * *", AMS)
        found = intervals(tt, datetime(2026, 3, 28, tzinfo=AMS), 3)
        assert [i.end - i.start for i in found] == [
            timedelta(hours=24),
            timedelta(hours=23),
            timedelta(hours=24),
        ]
        assert starts(found, AMS) == [
            "2026-03-28T00:00:00+01:00",
            "2026-03-29T00:00:00+01:00",
            "2026-03-30T00:00:00+02:00",
        ]

    def test_daily_amsterdam_fall_back(self) -> None:
        tt = CronTimetable("0 0 * * *", AMS)
        found = intervals(tt, datetime(2026, 10, 24, tzinfo=AMS), 3)
        assert [i.end - i.start for i in found] == [
            timedelta(hours=24),
            timedelta(hours=25),
            timedelta(hours=24),
        ]
        assert found[1].start == utc(2026, 10, 24, 22)
        assert found[1].end == utc(2026, 10, 25, 23)

    @pytest.mark.parametrize(
        ("day", "hours"),
        [(datetime(2026, 3, 8, tzinfo=NYC), 23), (datetime(2026, 11, 1, tzinfo=NYC), 25)],
    )
    def test_daily_new_york(self, day: datetime, hours: int) -> None:
        [interval] = intervals(CronTimetable("@daily", NYC), day, 1)
        assert interval.start.astimezone(NYC) == day
        assert interval.end - interval.start == timedelta(hours=hours)
        assert interval.end.astimezone(NYC).hour == 0

    def test_skipped_local_time_fires_at_the_end_of_the_gap(self) -> None:
        tt = CronTimetable("30 2 * * *", AMS)
        found = intervals(tt, datetime(2026, 3, 28, tzinfo=AMS), 3)
        assert starts(found, AMS) == [
            "2026-03-28T02:30:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-30T02:30:00+02:00",
        ]

    def test_repeated_local_time_fires_once(self) -> None:
        tt = CronTimetable("30 2 * * *", AMS)
        found = intervals(tt, datetime(2026, 10, 24, tzinfo=AMS), 3)
        assert starts(found, AMS) == [
            "2026-10-24T02:30:00+02:00",
            "2026-10-25T02:30:00+02:00",
            "2026-10-26T02:30:00+01:00",
        ]
        assert found[1].end - found[1].start == timedelta(hours=25)

    def test_start_date_inside_the_repeated_hour(self) -> None:
        # 01:20 UTC is 02:20 of the second pass; 02:30's only run (00:30 UTC) is already over.
        tt = CronTimetable("30 2 * * *", AMS)
        [first] = intervals(tt, utc(2026, 10, 25, 1, 20), 1)
        assert first.start == datetime(2026, 10, 26, 2, 30, tzinfo=AMS)

    def test_half_hour_dst_shift_is_consistent(self) -> None:
        # Lord Howe goes from +10:30 to +11:00 at 02:00 local on 2026-10-04 (15:30 UTC).
        # Whatever ticks cron sees there, a manual run's interval is one the scheduler makes.
        tt = CronTimetable("30 * * * *", ZoneInfo("Australia/Lord_Howe"))
        run_after = utc(2026, 10, 3, 15, 30)
        manual = tt.infer_manual_data_interval(run_after)
        assert manual.end <= run_after
        [scheduled] = intervals(tt, manual.start, 1)
        assert scheduled == manual

    @pytest.mark.parametrize(
        ("day", "count"),
        [(datetime(2026, 3, 29, tzinfo=AMS), 23), (datetime(2026, 10, 25, tzinfo=AMS), 25)],
    )
    def test_hourly_across_dst(self, day: datetime, count: int) -> None:
        tt = CronTimetable("@hourly", AMS)
        next_midnight = (day + timedelta(days=1, hours=3)).replace(hour=0).astimezone(UTC)
        found = [i for i in intervals(tt, day, 30) if i.start < next_midnight]
        assert len(found) == count
        assert all(i.end - i.start == timedelta(hours=1) for i in found)
        assert all(a.end == b.start for a, b in pairwise(found))

    def test_hourly_new_york_spring_forward(self) -> None:
        tt = CronTimetable("0 * * * *", NYC)
        found = intervals(tt, datetime(2026, 3, 8, 0, tzinfo=NYC), 4)
        assert [i.start.astimezone(NYC).hour for i in found] == [0, 1, 3, 4]
        assert all(i.end - i.start == timedelta(hours=1) for i in found)


class TestMonthEndsAndLeapYears:
    def test_31st_skips_short_months(self) -> None:
        found = intervals(CronTimetable("0 0 31 * *"), utc(2026, 1, 1), 4)
        assert starts(found) == [
            "2026-01-31T00:00:00+00:00",
            "2026-03-31T00:00:00+00:00",
            "2026-05-31T00:00:00+00:00",
            "2026-07-31T00:00:00+00:00",
        ]

    def test_last_day_of_month(self) -> None:
        found = intervals(CronTimetable("0 0 L * *"), utc(2028, 1, 1), 4)
        assert starts(found) == [
            "2028-01-31T00:00:00+00:00",
            "2028-02-29T00:00:00+00:00",
            "2028-03-31T00:00:00+00:00",
            "2028-04-30T00:00:00+00:00",
        ]

    def test_monthly_from_january_31st(self) -> None:
        found = intervals(CronTimetable("@monthly"), utc(2026, 1, 31), 2)
        assert found == [iv(utc(2026, 2, 1), utc(2026, 3, 1)), iv(utc(2026, 3, 1), utc(2026, 4, 1))]

    def test_february_29th(self) -> None:
        found = intervals(CronTimetable("0 0 29 2 *"), utc(2026, 1, 1), 2)
        assert found == [
            iv(utc(2028, 2, 29), utc(2032, 2, 29)),
            iv(utc(2032, 2, 29), utc(2036, 2, 29)),
        ]

    def test_daily_through_a_leap_day(self) -> None:
        found = intervals(CronTimetable("@daily"), utc(2028, 2, 28), 3)
        assert starts(found) == [
            "2028-02-28T00:00:00+00:00",
            "2028-02-29T00:00:00+00:00",
            "2028-03-01T00:00:00+00:00",
        ]

    def test_yearly(self) -> None:
        found = intervals(CronTimetable("@yearly"), utc(2027, 6, 1), 1)
        assert found == [iv(utc(2028, 1, 1), utc(2029, 1, 1))]


class TestManualRuns:
    def test_last_complete_period(self) -> None:
        tt = CronTimetable("@daily")
        assert tt.infer_manual_data_interval(utc(2026, 1, 25, 1)) == iv(
            utc(2026, 1, 24), utc(2026, 1, 25)
        )

    def test_exactly_on_a_tick(self) -> None:
        tt = CronTimetable("@daily")
        assert tt.infer_manual_data_interval(utc(2026, 1, 25)) == iv(
            utc(2026, 1, 24), utc(2026, 1, 25)
        )

    def test_just_before_a_tick(self) -> None:
        tt = CronTimetable("@daily")
        run_after = utc(2026, 1, 25) - timedelta(microseconds=1)
        assert tt.infer_manual_data_interval(run_after) == iv(utc(2026, 1, 23), utc(2026, 1, 24))

    def test_weekly(self) -> None:
        tt = CronTimetable("@weekly")  # Sundays; 2026-01-25 is a Sunday
        assert tt.infer_manual_data_interval(utc(2026, 1, 28, 9)) == iv(
            utc(2026, 1, 18), utc(2026, 1, 25)
        )

    def test_in_local_time(self) -> None:
        tt = CronTimetable("0 0 * * *", AMS)
        # 2026-03-29 12:00 UTC is 14:00 local; the last complete local day is the 28th.
        assert tt.infer_manual_data_interval(utc(2026, 3, 29, 12)) == iv(
            utc(2026, 3, 27, 23), utc(2026, 3, 28, 23)
        )


class TestInputs:
    def test_naive_now_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            CronTimetable("@daily").next_dagrun_interval(
                last_interval=None,
                start_date=utc(2026, 1, 1),
                end_date=None,
                catchup=True,
                now=datetime(2026, 1, 1),
            )

    def test_naive_start_date_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="start_date must be timezone-aware"):
            CronTimetable("@daily").next_dagrun_interval(
                last_interval=None,
                start_date=datetime(2026, 1, 1),
                end_date=None,
                catchup=True,
                now=utc(2026, 1, 1),
            )

    def test_start_date_in_another_timezone(self) -> None:
        tt = CronTimetable("@daily")
        [first] = intervals(tt, datetime(2026, 1, 1, tzinfo=AMS), 1)  # 2025-12-31 23:00 UTC
        assert first == iv(utc(2026, 1, 1), utc(2026, 1, 2))

    def test_equality_and_hash(self) -> None:
        assert CronTimetable("@daily", AMS) == CronTimetable(
            " @daily ", ZoneInfo("Europe/Amsterdam")
        )
        assert CronTimetable("@daily", AMS) != CronTimetable("@daily", UTC)
        assert len({CronTimetable("@daily", AMS), CronTimetable("@daily", AMS)}) == 1
