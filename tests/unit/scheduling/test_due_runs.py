"""due_intervals: which scheduled runs to create now. Pure: `now` is an argument."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from downwind.scheduling.due_runs import due_intervals
from downwind.timetables import DataInterval, Timetable, timetable_from_schedule

AMS = ZoneInfo("Europe/Amsterdam")
UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)  # some time on day D = 2026-01-15
D = datetime(2026, 1, 15, tzinfo=UTC)
DAY = timedelta(days=1)


def due(
    schedule: object,
    *,
    start_date: datetime | None = D - 14 * DAY,
    end_date: datetime | None = None,
    catchup: bool = True,
    last_interval: DataInterval | None = None,
    now: datetime = NOW,
    limit: int | None = None,
    tz: ZoneInfo = UTC_ZONE,
) -> list[DataInterval]:
    return due_intervals(
        timetable_from_schedule(schedule, tz),  # type: ignore[arg-type]
        start_date=start_date,
        end_date=end_date,
        catchup=catchup,
        last_interval=last_interval,
        now=now,
        limit=limit,
    )


def test_daily_catchup_creates_one_run_per_past_day() -> None:
    runs = due("@daily")
    assert runs == [DataInterval(D - (14 - k) * DAY, D - (13 - k) * DAY) for k in range(14)]


def test_daily_without_catchup_creates_only_the_latest() -> None:
    assert due("@daily", catchup=False) == [DataInterval(D - DAY, D)]


def test_continues_after_the_last_interval() -> None:
    runs = due("@daily", last_interval=DataInterval(D - 3 * DAY, D - 2 * DAY))
    assert runs == [DataInterval(D - 2 * DAY, D - DAY), DataInterval(D - DAY, D)]


def test_nothing_due_when_up_to_date() -> None:
    assert due("@daily", last_interval=DataInterval(D - DAY, D)) == []
    assert due("@daily", last_interval=DataInterval(D - DAY, D), catchup=False) == []


def test_limit() -> None:
    runs = due("@daily", limit=3)
    assert [r.start for r in runs] == [D - 14 * DAY, D - 13 * DAY, D - 12 * DAY]
    assert due("@daily", limit=0) == []


def test_end_date() -> None:
    runs = due("@daily", end_date=D - 12 * DAY)
    assert [r.start for r in runs] == [D - 14 * DAY, D - 13 * DAY, D - 12 * DAY]
    assert due("@daily", end_date=D - 20 * DAY) == []


def test_start_date_in_the_future() -> None:
    assert due("@daily", start_date=D + DAY) == []
    assert due("@daily", start_date=D + DAY, catchup=False) == []


def test_unaligned_start_date() -> None:
    runs = due("@daily", start_date=D - 3 * DAY + timedelta(hours=5))
    assert runs == [DataInterval(D - 2 * DAY, D - DAY), DataInterval(D - DAY, D)]


def test_interval_ending_exactly_now_is_due() -> None:
    assert due("@daily", now=D, catchup=False) == [DataInterval(D - DAY, D)]
    assert due("@daily", now=D)[-1] == DataInterval(D - DAY, D)


@pytest.mark.parametrize("catchup", [True, False])
def test_manual_only_schedule(catchup: bool) -> None:
    assert due(None, catchup=catchup) == []


def test_once() -> None:
    start = D - 14 * DAY
    assert due("@once") == [DataInterval(start, start)]
    assert due("@once", catchup=False) == [DataInterval(start, start)]
    assert due("@once", last_interval=DataInterval(start, start)) == []
    assert due("@once", start_date=D + DAY) == []


def test_timedelta() -> None:
    runs = due(timedelta(hours=12), start_date=D - DAY)
    assert runs == [DataInterval(D - DAY, D - DAY / 2), DataInterval(D - DAY / 2, D)]
    assert due(timedelta(hours=12), start_date=D - DAY, catchup=False) == [
        DataInterval(D - DAY / 2, D)
    ]


def test_hourly_catchup_across_dst_in_local_time() -> None:
    start = datetime(2026, 3, 29, tzinfo=AMS)
    now = datetime(2026, 3, 30, tzinfo=AMS)
    runs = due("@hourly", start_date=start, now=now, tz=AMS)
    assert len(runs) == 23
    assert runs[0].start == start and runs[-1].end == now


def test_timetable_that_does_not_move_forward_cannot_loop_forever() -> None:
    stuck = DataInterval(D - DAY, D)

    class Stuck(Timetable):
        def next_dagrun_interval(self, **kwargs: object) -> DataInterval | None:  # type: ignore[override]
            return stuck

        def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
            return stuck

        def serialize(self) -> dict[str, object]:
            return {}

        @classmethod
        def deserialize(cls, data: dict[str, object]) -> Timetable:
            return cls()

    assert due_intervals(
        Stuck(), start_date=None, end_date=None, catchup=True, last_interval=None, now=NOW
    ) == [stuck]
