"""Which scheduled runs are due: a pure function of a timetable, the DAG's dates and ``now``."""

from __future__ import annotations

from datetime import datetime

from downwind.timetables import DataInterval, Timetable

__all__ = ["due_intervals"]


def due_intervals(
    timetable: Timetable,
    *,
    start_date: datetime | None,
    end_date: datetime | None,
    catchup: bool,
    last_interval: DataInterval | None,
    now: datetime,
    limit: int | None = None,
) -> list[DataInterval]:
    """Every data interval due by ``now`` (``end <= now``) after ``last_interval``, in order.

    With ``catchup=False`` at most one interval is returned: the latest complete one. No
    interval starting after ``end_date`` is returned, and no more than ``limit`` (if given),
    so a scheduler can create the backlog of a long catch-up a batch at a time.
    """
    due: list[DataInterval] = []
    if not timetable.can_be_scheduled:
        return due
    previous = last_interval
    while limit is None or len(due) < limit:
        interval = timetable.next_dagrun_interval(
            last_interval=previous,
            start_date=start_date,
            end_date=end_date,
            catchup=catchup,
            now=now,
        )
        if interval is None or interval.end > now:
            break
        if previous is not None and (interval.end, interval.start) <= (
            previous.end,
            previous.start,
        ):
            break  # a timetable that does not move forward would loop forever
        due.append(interval)
        if not catchup:
            break
        previous = interval
    return due
