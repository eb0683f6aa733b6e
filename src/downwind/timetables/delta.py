"""Fixed-length schedules (``schedule=timedelta(hours=6)``).

Intervals start at ``start_date`` and follow each other every ``delta`` of absolute time, like
Airflow's ``DeltaDataIntervalTimetable``: a DST change does not shift them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from downwind.exceptions import DagDefinitionError
from downwind.timetables.base import DataInterval, Timetable, require_aware

__all__ = ["DeltaTimetable"]

_UNITS = (
    ("day", timedelta(days=1)),
    ("hour", timedelta(hours=1)),
    ("minute", timedelta(minutes=1)),
    ("second", timedelta(seconds=1)),
)


def _describe(delta: timedelta) -> str:
    parts: list[tuple[int, str]] = []
    rest = delta
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append((count, unit))
    if rest:
        parts.append((rest // timedelta(microseconds=1), "microsecond"))
    if len(parts) == 1 and parts[0][0] == 1:
        return f"Every {parts[0][1]}"
    return "Every " + ", ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts)


@dataclass(frozen=True, repr=False)
class DeltaTimetable(Timetable):
    """Runs every ``delta``; the first interval is ``[start_date, start_date + delta)``."""

    delta: timedelta

    type_name = "delta"

    def __post_init__(self) -> None:
        if not isinstance(self.delta, timedelta):
            raise DagDefinitionError(
                f"DeltaTimetable needs a datetime.timedelta, got {type(self.delta).__name__}"
            )
        if self.delta <= timedelta(0):
            raise DagDefinitionError(f"schedule timedelta must be positive, got {self.delta!r}")

    @property
    def summary(self) -> str:
        return str(self.delta)

    @property
    def description(self) -> str:
        return _describe(self.delta)

    def next_dagrun_interval(
        self,
        *,
        last_interval: DataInterval | None,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> DataInterval | None:
        require_aware("now", now)
        if start_date is not None:
            require_aware("start_date", start_date)
            start_date = start_date.astimezone(UTC)
        if last_interval is None:
            if start_date is None:
                return None
            start = start_date
        else:
            start = last_interval.end.astimezone(UTC)
            if start_date is not None and start_date > start:
                start = start_date  # start_date moved forward since the last run
        if not catchup:
            # Latest complete interval on the grid anchored at start_date (or the last run).
            anchor = start_date if start_date is not None else start
            complete = (now - anchor) // self.delta
            if complete >= 1:
                latest_start = anchor + (complete - 1) * self.delta
                if latest_start > start:
                    start = latest_start
        if end_date is not None:
            require_aware("end_date", end_date)
            if start > end_date:
                return None
        return DataInterval(start, start + self.delta)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        require_aware("run_after", run_after)
        end = run_after.astimezone(UTC)
        return DataInterval(end - self.delta, end)

    def serialize(self) -> dict[str, Any]:
        delta = self.delta
        return {
            "type": self.type_name,
            "days": delta.days,
            "seconds": delta.seconds,
            "microseconds": delta.microseconds,
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> DeltaTimetable:
        return cls(
            timedelta(
                days=data.get("days", 0),
                seconds=data.get("seconds", 0),
                microseconds=data.get("microseconds", 0),
            )
        )
