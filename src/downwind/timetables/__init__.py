"""Schedules and data intervals: pure date math, no database, no clock."""

from downwind.timetables.base import DataInterval, Timetable
from downwind.timetables.cron import CRON_PRESETS, CronTimetable
from downwind.timetables.delta import DeltaTimetable
from downwind.timetables.schedule import (
    ScheduleArg,
    deserialize_timetable,
    timetable_from_schedule,
)
from downwind.timetables.simple import NullTimetable, OnceTimetable

# Airflow's names for the same classes.
CronDataIntervalTimetable = CronTimetable
DeltaDataIntervalTimetable = DeltaTimetable

__all__ = [
    "CRON_PRESETS",
    "CronDataIntervalTimetable",
    "CronTimetable",
    "DataInterval",
    "DeltaDataIntervalTimetable",
    "DeltaTimetable",
    "NullTimetable",
    "OnceTimetable",
    "ScheduleArg",
    "Timetable",
    "deserialize_timetable",
    "timetable_from_schedule",
]
