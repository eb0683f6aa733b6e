"""timetable_from_schedule: every accepted schedule value, and clear errors for the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from downwind.exceptions import DagDefinitionError
from downwind.timetables import (
    CRON_PRESETS,
    CronTimetable,
    DataInterval,
    DeltaTimetable,
    NullTimetable,
    OnceTimetable,
    Timetable,
    timetable_from_schedule,
)

UTC_ZONE = ZoneInfo("UTC")
AMS = ZoneInfo("Europe/Amsterdam")


def test_none_is_manual_only() -> None:
    tt = timetable_from_schedule(None, UTC_ZONE)
    assert isinstance(tt, NullTimetable)
    assert tt.summary == "None"
    assert tt.can_be_scheduled is False
    assert tt.periodic is False
    assert tt.description == "Never, external triggers only"


def test_once() -> None:
    tt = timetable_from_schedule("@once", UTC_ZONE)
    assert isinstance(tt, OnceTimetable)
    assert tt.summary == "@once"
    assert tt.can_be_scheduled is True
    assert tt.periodic is False


@pytest.mark.parametrize(
    ("preset", "expression"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_presets(preset: str, expression: str) -> None:
    tt = timetable_from_schedule(preset, AMS)
    assert isinstance(tt, CronTimetable)
    assert tt.expression == expression
    assert CRON_PRESETS[preset] == expression
    assert tt.summary == preset
    assert tt.timezone is AMS
    assert tt.periodic and tt.can_be_scheduled


def test_cron_expression_keeps_what_the_user_wrote() -> None:
    tt = timetable_from_schedule("0 5 * * *", UTC_ZONE)
    assert isinstance(tt, CronTimetable)
    assert tt.summary == "0 5 * * *"
    assert tt.expression == "0 5 * * *"


def test_timedelta() -> None:
    tt = timetable_from_schedule(timedelta(days=1), UTC_ZONE)
    assert isinstance(tt, DeltaTimetable)
    assert tt.summary == "1 day, 0:00:00"
    assert tt.periodic and tt.can_be_scheduled


def test_timetable_instance_is_returned_as_is() -> None:
    class Custom(Timetable):
        def next_dagrun_interval(self, **kwargs: object) -> DataInterval | None:  # type: ignore[override]
            return None

        def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
            return DataInterval.exact(run_after)

        def serialize(self) -> dict[str, object]:
            return {"type": "custom"}

        @classmethod
        def deserialize(cls, data: dict[str, object]) -> Timetable:
            return cls()

    custom = Custom()
    assert timetable_from_schedule(custom, UTC_ZONE) is custom
    cron = CronTimetable("@daily", AMS)
    assert timetable_from_schedule(cron, UTC_ZONE) is cron


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("bad", "expected 5 fields"),
        ("", "expected 5 fields"),
        ("0 0 * *", "expected 5 fields"),
        ("0 0 0 * * *", "expected 5 fields"),  # cronsim's seconds field is not cron
        ("61 * * * *", "Bad minute"),
        ("0 24 * * *", "Bad hour"),
        ("0 0 32 * *", "Bad day-of-month"),
        ("0 0 30 2 *", "Bad day-of-month"),
        ("0 0 * 13 *", "Bad month"),
        ("0 0 * * 8", "Bad day-of-week"),
        ("a b c d e", "Bad minute"),
    ],
)
def test_invalid_cron(schedule: str, reason: str) -> None:
    with pytest.raises(DagDefinitionError) as info:
        timetable_from_schedule(schedule, UTC_ZONE)
    message = str(info.value)
    assert message.startswith(f"invalid cron expression {schedule!r}: ")
    assert reason in message


def test_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(DagDefinitionError, match="unknown schedule preset '@fortnightly'") as info:
        timetable_from_schedule("@fortnightly", UTC_ZONE)
    for preset in ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually"):
        assert preset in str(info.value)


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(seconds=-1), timedelta(days=-3)])
def test_non_positive_timedelta(delta: timedelta) -> None:
    with pytest.raises(DagDefinitionError, match="must be positive"):
        timetable_from_schedule(delta, UTC_ZONE)


@pytest.mark.parametrize(
    ("schedule", "type_name"),
    [
        (5, "int"),
        (3.5, "float"),
        (["@daily"], "list"),
        (datetime(2026, 1, 1, tzinfo=UTC), "datetime"),
    ],
)
def test_bad_schedule_type(schedule: object, type_name: str) -> None:
    with pytest.raises(DagDefinitionError, match=f"got {type_name}"):
        timetable_from_schedule(schedule, UTC_ZONE)  # type: ignore[arg-type]


def test_timetable_class_instead_of_instance() -> None:
    with pytest.raises(DagDefinitionError, match=r"pass an instance: CronTimetable\(\)"):
        timetable_from_schedule(CronTimetable, UTC_ZONE)  # type: ignore[arg-type]


def test_fixed_offset_timezones_are_accepted() -> None:
    assert timetable_from_schedule("@daily", UTC).serialize()["timezone"] == "UTC"
    minus = timezone(-timedelta(hours=5, minutes=30))
    assert timetable_from_schedule("@daily", minus).serialize()["timezone"] == "-05:30"


@pytest.mark.parametrize(
    ("schedule", "tz", "description"),
    [
        ("@daily", UTC_ZONE, "At 00:00 every day"),
        ("0 0 * * *", AMS, "At 00:00 every day (Europe/Amsterdam)"),
        ("@hourly", UTC_ZONE, "At the start of every hour"),
        (timedelta(days=1), UTC_ZONE, "Every day"),
        (timedelta(hours=6), UTC_ZONE, "Every 6 hours"),
        (timedelta(days=1, minutes=30), UTC_ZONE, "Every 1 day, 30 minutes"),
        ("@once", UTC_ZONE, "Once, as soon as possible"),
    ],
)
def test_description(schedule: str | timedelta, tz: ZoneInfo, description: str) -> None:
    assert timetable_from_schedule(schedule, tz).description == description
