"""The two non-periodic schedules: ``None`` (manual runs only) and ``"@once"``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from downwind.timetables.base import DataInterval, Timetable, require_aware

__all__ = ["NullTimetable", "OnceTimetable"]


@dataclass(frozen=True, repr=False)
class NullTimetable(Timetable):
    """``schedule=None``: the scheduler never creates runs; only manual triggers do."""

    periodic = False
    can_be_scheduled = False
    type_name = "null"

    @property
    def summary(self) -> str:
        return "None"

    @property
    def description(self) -> str:
        return "Never, external triggers only"

    def next_dagrun_interval(
        self,
        *,
        last_interval: DataInterval | None,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> DataInterval | None:
        return None

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        require_aware("run_after", run_after)
        return DataInterval.exact(run_after.astimezone(UTC))

    def serialize(self) -> dict[str, Any]:
        return {"type": self.type_name}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> NullTimetable:
        return cls()


@dataclass(frozen=True, repr=False)
class OnceTimetable(Timetable):
    """``schedule="@once"``: one run, whose interval is the instant ``start_date``."""

    periodic = False
    type_name = "once"

    @property
    def summary(self) -> str:
        return "@once"

    @property
    def description(self) -> str:
        return "Once, as soon as possible"

    def next_dagrun_interval(
        self,
        *,
        last_interval: DataInterval | None,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> DataInterval | None:
        # Like Airflow, catchup does not matter: the one run is always at start_date.
        if last_interval is not None or start_date is None:
            return None
        require_aware("start_date", start_date)
        if end_date is not None and start_date > end_date:
            return None
        return DataInterval.exact(start_date.astimezone(UTC))

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        require_aware("run_after", run_after)
        return DataInterval.exact(run_after.astimezone(UTC))

    def serialize(self) -> dict[str, Any]:
        return {"type": self.type_name}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> OnceTimetable:
        return cls()
