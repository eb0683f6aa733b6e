"""schedule=None and "@once", plus DataInterval itself."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from downwind.timetables import DataInterval, NullTimetable, OnceTimetable

START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 2, 1, tzinfo=UTC)


class TestNull:
    @pytest.mark.parametrize("catchup", [True, False])
    def test_never_scheduled(self, catchup: bool) -> None:
        assert (
            NullTimetable().next_dagrun_interval(
                last_interval=None, start_date=START, end_date=None, catchup=catchup, now=NOW
            )
            is None
        )

    def test_manual_run_is_an_instant(self) -> None:
        assert NullTimetable().infer_manual_data_interval(NOW) == DataInterval(NOW, NOW)


class TestOnce:
    @pytest.mark.parametrize("catchup", [True, False])
    def test_one_run_at_start_date(self, catchup: bool) -> None:
        tt = OnceTimetable()
        first = tt.next_dagrun_interval(
            last_interval=None, start_date=START, end_date=None, catchup=catchup, now=NOW
        )
        assert first == DataInterval(START, START)
        again = tt.next_dagrun_interval(
            last_interval=first, start_date=START, end_date=None, catchup=catchup, now=NOW
        )
        assert again is None

    def test_future_start_date_is_not_due_yet(self) -> None:
        later = datetime(2026, 3, 1, tzinfo=UTC)
        interval = OnceTimetable().next_dagrun_interval(
            last_interval=None, start_date=later, end_date=None, catchup=True, now=NOW
        )
        assert interval == DataInterval(later, later)
        assert interval.end > NOW

    def test_without_start_date_or_after_end_date(self) -> None:
        tt = OnceTimetable()
        assert (
            tt.next_dagrun_interval(
                last_interval=None, start_date=None, end_date=None, catchup=True, now=NOW
            )
            is None
        )
        assert (
            tt.next_dagrun_interval(
                last_interval=None,
                start_date=START,
                end_date=datetime(2025, 1, 1, tzinfo=UTC),
                catchup=True,
                now=NOW,
            )
            is None
        )

    def test_manual_run_is_an_instant(self) -> None:
        assert OnceTimetable().infer_manual_data_interval(NOW) == DataInterval(NOW, NOW)


class TestDataInterval:
    def test_frozen(self) -> None:
        interval = DataInterval(START, NOW)
        with pytest.raises(dataclasses.FrozenInstanceError):
            interval.start = NOW  # type: ignore[misc]

    def test_rejects_naive_datetimes(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            DataInterval(datetime(2026, 1, 1), NOW)

    def test_rejects_start_after_end(self) -> None:
        with pytest.raises(ValueError, match="after its end"):
            DataInterval(NOW, START)

    def test_exact(self) -> None:
        assert DataInterval.exact(START) == DataInterval(START, START)
