"""serialize() / deserialize_timetable() round trips through JSON."""

from __future__ import annotations

import json
from datetime import UTC, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from downwind.exceptions import DagDefinitionError
from downwind.timetables import (
    CronTimetable,
    DeltaTimetable,
    NullTimetable,
    OnceTimetable,
    Timetable,
    deserialize_timetable,
    timetable_from_schedule,
)


@pytest.mark.parametrize(
    "timetable",
    [
        NullTimetable(),
        OnceTimetable(),
        CronTimetable("@daily"),
        CronTimetable("0 5 * * 1-5", ZoneInfo("Europe/Amsterdam")),
        CronTimetable("*/15 * * * *", ZoneInfo("America/New_York")),
        CronTimetable("@hourly", timezone(timedelta(hours=5, minutes=45))),
        CronTimetable("@hourly", timezone(-timedelta(hours=3))),
        DeltaTimetable(timedelta(days=1)),
        DeltaTimetable(timedelta(hours=1, microseconds=7)),
    ],
    ids=repr,
)
def test_round_trip(timetable: Timetable) -> None:
    data = json.loads(json.dumps(timetable.serialize()))
    restored = deserialize_timetable(data)
    assert restored == timetable
    assert type(restored) is type(timetable)
    assert restored.summary == timetable.summary
    assert restored.description == timetable.description


def test_shapes() -> None:
    ams = ZoneInfo("Europe/Amsterdam")
    assert timetable_from_schedule("@daily", ams).serialize() == {
        "type": "cron",
        "cron": "@daily",
        "timezone": "Europe/Amsterdam",
    }
    assert timetable_from_schedule(timedelta(days=1), ams).serialize() == {
        "type": "delta",
        "days": 1,
        "seconds": 0,
        "microseconds": 0,
    }
    assert timetable_from_schedule(None, ams).serialize() == {"type": "null"}
    assert timetable_from_schedule("@once", ams).serialize() == {"type": "once"}
    assert CronTimetable("@daily", UTC).serialize()["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "lunar"}, "unknown timetable type 'lunar'"),
        ({}, "not a serialized timetable"),
        ("@daily", "not a serialized timetable"),
        ({"type": "cron"}, "malformed serialized timetable"),
        ({"type": "cron", "cron": "nope", "timezone": "UTC"}, "invalid cron expression 'nope'"),
        ({"type": "cron", "cron": "@daily", "timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"type": "delta", "days": 0}, "must be positive"),
        ({"type": "delta", "days": "x"}, "malformed serialized timetable"),
    ],
)
def test_bad_data(data: object, message: str) -> None:
    with pytest.raises(DagDefinitionError, match=message):
        deserialize_timetable(data)  # type: ignore[arg-type]
