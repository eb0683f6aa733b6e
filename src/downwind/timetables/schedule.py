"""Turn a DAG's ``schedule`` argument into a timetable, and stored timetables back into one."""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import Any

from downwind.exceptions import DagDefinitionError
from downwind.timetables.base import Timetable
from downwind.timetables.cron import CronTimetable
from downwind.timetables.delta import DeltaTimetable
from downwind.timetables.simple import NullTimetable, OnceTimetable

__all__ = ["ScheduleArg", "deserialize_timetable", "timetable_from_schedule"]

#: What a DAG's ``schedule`` (or ``schedule_interval``) may be.
ScheduleArg = str | timedelta | Timetable | None

_BY_TYPE: dict[str, type[Timetable]] = {
    cls.type_name: cls for cls in (NullTimetable, OnceTimetable, CronTimetable, DeltaTimetable)
}


def timetable_from_schedule(schedule: ScheduleArg, timezone: tzinfo) -> Timetable:
    """The timetable for ``schedule``; cron expressions are evaluated in ``timezone``.

    ``None`` -> manual runs only; ``"@once"``; a preset (``"@daily"``...) or 5-field cron
    expression; a positive ``timedelta``; or a ready-made :class:`Timetable`.
    Raises :class:`DagDefinitionError` for anything else.
    """
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, str):
        if schedule.strip().lower() == "@once":
            return OnceTimetable()
        return CronTimetable(schedule, timezone)
    if isinstance(schedule, timedelta):
        return DeltaTimetable(schedule)
    if isinstance(schedule, type) and issubclass(schedule, Timetable):
        raise DagDefinitionError(
            f"schedule got the class {schedule.__name__}; pass an instance: {schedule.__name__}()"
        )
    raise DagDefinitionError(
        f"schedule must be None, a cron expression or preset string, a datetime.timedelta or "
        f"a Timetable; got {type(schedule).__name__}: {schedule!r}"
    )


def deserialize_timetable(data: dict[str, Any]) -> Timetable:
    """Rebuild a timetable from :meth:`Timetable.serialize`'s output."""
    if not isinstance(data, dict) or "type" not in data:
        raise DagDefinitionError(f"not a serialized timetable: {data!r}")
    try:
        cls = _BY_TYPE[data["type"]]
    except (KeyError, TypeError):
        raise DagDefinitionError(
            f"unknown timetable type {data['type']!r}; known types: {', '.join(_BY_TYPE)}"
        ) from None
    try:
        return cls.deserialize(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise DagDefinitionError(f"malformed serialized timetable {data!r}: {exc}") from exc
