"""Data intervals and the interface every schedule (timetable) implements.

A scheduled DAG run covers a *data interval*: its logical date is the interval's start and it
runs once the interval has ended (``run_after == end``), as in Apache Airflow. Timetables are
pure date math: the current time is always passed in, never read from the clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

__all__ = ["DataInterval", "Timetable"]


def require_aware(name: str, value: datetime) -> None:
    """Raise ``ValueError`` unless ``value`` is a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


@dataclass(frozen=True)
class DataInterval:
    """The period of data a DAG run covers: ``[start, end)``; both ends timezone-aware."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        require_aware("DataInterval.start", self.start)
        require_aware("DataInterval.end", self.end)
        if self.start > self.end:
            raise ValueError(
                f"DataInterval start {self.start.isoformat()} is after its end "
                f"{self.end.isoformat()}"
            )

    @classmethod
    def exact(cls, at: datetime) -> DataInterval:
        """An empty interval at one instant (manual runs of unscheduled DAGs, ``@once``)."""
        return cls(at, at)


class Timetable(ABC):
    """A DAG's schedule: decides the data interval of each scheduled and manual run.

    Subclasses must be pure: every method depends only on its arguments and the timetable's
    own (immutable) configuration.
    """

    #: Whether runs repeat at regular intervals (False for ``None`` and ``@once``).
    periodic: ClassVar[bool] = True
    #: Whether the scheduler creates runs at all (False for ``None``: manual runs only).
    can_be_scheduled: ClassVar[bool] = True
    #: The ``type`` key of :meth:`serialize`'s output.
    type_name: ClassVar[str] = ""

    @property
    def summary(self) -> str:
        """The schedule as the user wrote it (``"@daily"``, ``"0 5 * * *"``...)."""
        return type(self).__name__

    @property
    def description(self) -> str:
        """A human-readable sentence for the UI (``"At 00:00 every day"``)."""
        return self.summary

    @abstractmethod
    def next_dagrun_interval(
        self,
        *,
        last_interval: DataInterval | None,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> DataInterval | None:
        """The data interval of the next scheduled run, or None if no run will ever follow.

        The interval may lie in the future: ``end > now`` means the run is not due yet.
        ``last_interval`` is the interval of the latest scheduled run (None before the first).
        With ``catchup=False`` intervals that ended before the latest complete one are skipped.
        No interval starting after ``end_date`` is returned.
        """

    @abstractmethod
    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The data interval of a run triggered by hand at ``run_after``."""

    @abstractmethod
    def serialize(self) -> dict[str, Any]:
        """A JSON-able dict; :func:`downwind.timetables.deserialize_timetable` reverses it."""

    @classmethod
    @abstractmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild a timetable from the output of :meth:`serialize`."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.summary!r}>"
