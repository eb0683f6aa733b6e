"""Property tests over many schedules, timezones and dates (slow tier)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from downwind.exceptions import DagDefinitionError
from downwind.scheduling.due_runs import due_intervals
from downwind.timetables import (
    CronTimetable,
    DataInterval,
    DeltaTimetable,
    Timetable,
    deserialize_timetable,
)

pytestmark = pytest.mark.slow

EXAMPLES = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMIT = 60

ZONES = [
    ZoneInfo(name)
    for name in (
        "UTC",
        "Europe/Amsterdam",
        "America/New_York",
        "Australia/Lord_Howe",  # 30-minute DST shift
        "Asia/Kolkata",  # half-hour offset, no DST
        "Pacific/Chatham",  # +12:45 / +13:45
        "America/Santiago",  # DST changes at midnight
    )
]

cron_fields = st.tuples(
    st.sampled_from(["0", "15", "30", "*/20", "5,35", "59"]),
    st.sampled_from(["*", "0", "1", "2", "3", "1-3", "*/6", "23"]),
    st.sampled_from(["*", "*", "1", "15", "L", "31", "29"]),
    st.sampled_from(["*", "*", "2", "*/3", "3,10"]),
    st.sampled_from(["*", "*", "0", "1-5", "6"]),
)
crons = st.one_of(
    cron_fields.map(" ".join),
    st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "0 0 29 2 *"]),
)
zones = st.sampled_from(ZONES)


def _dst_transitions(zone: ZoneInfo, first_year: int, last_year: int) -> list[datetime]:
    """The instants (UTC) at which ``zone``'s UTC offset changes."""
    found = []
    day = datetime(first_year, 1, 1, tzinfo=UTC)
    stop = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    while day < stop:
        low, high = day, day + timedelta(days=1)
        if low.astimezone(zone).utcoffset() != high.astimezone(zone).utcoffset():
            while high - low > timedelta(minutes=1):  # bisect to the minute
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high.replace(second=0, microsecond=0))
        day += timedelta(days=1)
    return found


def _all_transitions() -> list[datetime]:
    return sorted({t for zone in ZONES for t in _dst_transitions(zone, 2025, 2030)})


# Half of the instants fall within a few hours of some zone's DST change, where the bugs live.
instants = st.one_of(
    st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    st.builds(
        lambda at, shift: at + shift,
        st.deferred(lambda: st.sampled_from(_all_transitions())),  # computed on first use
        st.timedeltas(min_value=timedelta(hours=-4), max_value=timedelta(hours=4)),
    ),
)
offsets = st.timedeltas(min_value=timedelta(days=-5), max_value=timedelta(days=120))
deltas = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=40))


@st.composite
def cron_timetables(draw: st.DrawFn) -> CronTimetable:
    expr = draw(crons)
    try:
        return CronTimetable(expr, draw(zones))
    except DagDefinitionError:
        assume(False)
        raise  # unreachable: assume(False) aborts the example


def follow(tt: Timetable, last: DataInterval, now: datetime) -> DataInterval | None:
    return tt.next_dagrun_interval(
        last_interval=last, start_date=None, end_date=None, catchup=True, now=now
    )


def check_due(
    tt: Timetable,
    start_date: datetime,
    now: datetime,
    end_date: datetime | None,
    catchup: bool,
) -> list[DataInterval]:
    runs = due_intervals(
        tt,
        start_date=start_date,
        end_date=end_date,
        catchup=catchup,
        last_interval=None,
        now=now,
        limit=LIMIT,
    )
    for run in runs:
        assert run.start < run.end
        assert run.end <= now
        assert run.start >= start_date
        assert end_date is None or run.start <= end_date
        assert run.start.tzinfo is UTC and run.end.tzinfo is UTC
    for before, after in pairwise(runs):
        assert before.end == after.start  # contiguous, hence increasing and non-overlapping
    if not catchup:
        assert len(runs) <= 1
    if runs and len(runs) < LIMIT:
        # Complete: whatever follows the last due run is not due yet (or never comes).
        upcoming = tt.next_dagrun_interval(
            last_interval=runs[-1],
            start_date=start_date,
            end_date=end_date,
            catchup=catchup,
            now=now,
        )
        assert upcoming is None or upcoming.end > now
    return runs


@EXAMPLES
@given(
    tt=cron_timetables(),
    start_date=instants,
    offset=offsets,
    catchup=st.booleans(),
    end_offset=st.none() | offsets,
)
def test_cron_due_intervals(
    tt: CronTimetable,
    start_date: datetime,
    offset: timedelta,
    catchup: bool,
    end_offset: timedelta | None,
) -> None:
    now = start_date + offset
    end_date = None if end_offset is None else start_date + end_offset
    runs = check_due(tt, start_date, now, end_date, catchup)
    if catchup:
        # Same ticks as walking cronsim forward from start_date in the DAG's timezone.
        ticks = CronSim(tt.expression, start_date.astimezone(tt.timezone) - timedelta(seconds=1))
        expected: list[datetime] = []
        while len(expected) < len(runs) + 1:
            tick = next(ticks).astimezone(UTC)
            if tick >= start_date:
                expected.append(tick)
        assert [r.start for r in runs] == expected[: len(runs)]
        assert [r.end for r in runs] == expected[1 : len(runs) + 1]
    elif runs:
        [run] = runs
        # It is a real schedule interval (tick to next tick) and the latest complete one.
        assert follow(tt, DataInterval.exact(run.start), now) == run
        upcoming = follow(tt, run, now)
        assert upcoming is not None and upcoming.end > now


@EXAMPLES
@given(tt=cron_timetables(), run_after=instants)
def test_cron_manual_interval_is_the_last_complete_period(
    tt: CronTimetable, run_after: datetime
) -> None:
    manual = tt.infer_manual_data_interval(run_after)
    assert manual.start < manual.end <= run_after
    assert follow(tt, DataInterval.exact(manual.start), run_after) == manual
    upcoming = follow(tt, manual, run_after)
    assert upcoming is not None and upcoming.end > run_after


@EXAMPLES
@given(
    delta=deltas,
    start_date=instants,
    offset=offsets,
    catchup=st.booleans(),
    end_offset=st.none() | offsets,
)
def test_delta_due_intervals(
    delta: timedelta,
    start_date: datetime,
    offset: timedelta,
    catchup: bool,
    end_offset: timedelta | None,
) -> None:
    tt = DeltaTimetable(delta)
    now = start_date + offset
    end_date = None if end_offset is None else start_date + end_offset
    runs = check_due(tt, start_date, now, end_date, catchup)
    for run in runs:
        assert run.end - run.start == delta
        assert (run.start - start_date) % delta == timedelta(0)
    if catchup and runs:
        assert runs[0].start == start_date


@EXAMPLES
@given(tt=st.one_of(cron_timetables(), deltas.map(DeltaTimetable)))
def test_serialization_round_trip(tt: Timetable) -> None:
    restored = deserialize_timetable(json.loads(json.dumps(tt.serialize())))
    assert restored == tt
    assert restored.summary == tt.summary
