"""Cron schedules (``"0 5 * * *"``, ``"@daily"``...) evaluated in the DAG's timezone.

Each interval runs from one cron tick to the next, as Airflow's ``CronDataIntervalTimetable``.
Ticks are computed in the timezone's local wall-clock time, so ``"0 0 * * *"`` in
Europe/Amsterdam fires at local midnight and its intervals last 23 or 25 hours across DST
changes. A tick falling into a skipped local hour moves to the end of the gap; a tick in a
repeated hour fires once, at its first occurrence (Debian cron's behaviour). Every returned
datetime is in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from downwind.exceptions import DagDefinitionError
from downwind.timetables.base import DataInterval, Timetable, require_aware

__all__ = ["CRON_PRESETS", "CronTimetable", "resolve_cron_expression"]

#: Airflow's cron presets.
CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_ONE_MICROSECOND = timedelta(microseconds=1)
# Guards against looping forever if cronsim ever misbehaves; real loops take 1-3 steps.
_MAX_STEPS = 1000
_OFFSET_RE = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def resolve_cron_expression(schedule: str) -> str:
    """Expand a preset and validate a 5-field cron expression; raise DagDefinitionError."""
    text = schedule.strip()
    if text.startswith("@"):
        try:
            return CRON_PRESETS[text.lower()]
        except KeyError:
            valid = ", ".join(["@once", *CRON_PRESETS])
            raise DagDefinitionError(
                f"unknown schedule preset {schedule!r}; valid presets are: {valid}"
            ) from None
    fields = text.split()
    if len(fields) != 5:
        raise DagDefinitionError(
            f"invalid cron expression {schedule!r}: expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise DagDefinitionError(f"invalid cron expression {schedule!r}: {exc}") from None
    return " ".join(fields)


def timezone_name(tz: tzinfo) -> str:
    """A name :func:`timezone_from_name` turns back into ``tz`` (IANA key or ``+HH:MM``)."""
    if isinstance(tz, ZoneInfo):
        if tz.key is None:
            raise DagDefinitionError("a ZoneInfo built from a file cannot be stored; use a key")
        return tz.key
    if isinstance(tz, timezone):
        offset = tz.utcoffset(None)
        if offset == timedelta(0):
            return "UTC"
        if offset % timedelta(minutes=1) == timedelta(0):
            sign = "-" if offset < timedelta(0) else "+"
            minutes = abs(offset) // timedelta(minutes=1)
            return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    raise DagDefinitionError(
        f"unsupported timezone {tz!r} ({type(tz).__name__}); use a zoneinfo.ZoneInfo"
    )


def timezone_from_name(name: str) -> tzinfo:
    """Reverse :func:`timezone_name`."""
    match = _OFFSET_RE.match(name)
    if match:
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DagDefinitionError(f"unknown timezone {name!r}") from exc


@dataclass(frozen=True, repr=False)
class CronTimetable(Timetable):
    """Runs at each tick of a cron expression; each interval spans two consecutive ticks."""

    cron: str
    timezone: tzinfo = field(default=UTC)
    expression: str = field(init=False, compare=False)

    type_name = "cron"

    def __post_init__(self) -> None:
        object.__setattr__(self, "cron", self.cron.strip())
        object.__setattr__(self, "expression", resolve_cron_expression(self.cron))
        # Fail now rather than when the DAG is stored, and compare equal once deserialized.
        object.__setattr__(self, "timezone", timezone_from_name(timezone_name(self.timezone)))

    @property
    def summary(self) -> str:
        return self.cron

    @property
    def description(self) -> str:
        try:
            text = CronSim(self.expression, datetime(2000, 1, 1, tzinfo=UTC)).explain()
        except Exception:  # explain() is best effort; the expression itself is fine
            text = self.expression
        name = timezone_name(self.timezone)
        return text if name == "UTC" else f"{text} ({name})"

    # -- tick arithmetic (all inputs and outputs in absolute time, returned in UTC) --

    def _ticks(self, at: datetime, *, reverse: bool = False) -> CronSim:
        return CronSim(self.expression, at.astimezone(self.timezone), reverse=reverse)

    def _next_tick(self, after: datetime) -> datetime | None:
        """The first tick strictly after ``after``."""
        ticks = self._ticks(after)
        try:
            for _ in range(_MAX_STEPS):
                tick = next(ticks).astimezone(UTC)
                # cronsim reads the local wall time without its DST fold, so inside a
                # repeated hour it may answer with a tick from the first pass; skip those.
                if tick > after:
                    return tick
        except StopIteration:
            return None
        return None  # pragma: no cover - would need a broken cron library

    def _first_tick_at_or_after(self, at: datetime) -> datetime | None:
        return self._next_tick(at - _ONE_MICROSECOND)

    def _last_tick_before(self, bound: datetime, *, inclusive: bool) -> datetime | None:
        """The latest tick before ``bound`` (or at it, if ``inclusive``).

        The forward walk defines the ticks, as catch-up walks forward. cronsim's backward search
        can disagree with it around DST changes (it reads wall time without the fold, and keeps
        a tick its forward walk skips after a 30-minute shift), so it only finds a starting point
        a couple of ticks back, from which we walk forward.
        """

        def fits(tick: datetime) -> bool:
            return tick <= bound if inclusive else tick < bound

        # Reversed cronsim yields ticks < its start, or <= it when the start has microseconds.
        backwards = self._ticks(bound + _ONE_MICROSECOND if inclusive else bound, reverse=True)
        anchor: datetime | None = None
        anchors = 0
        for _ in range(_MAX_STEPS):
            try:
                tick = next(backwards).astimezone(UTC)
            except StopIteration:
                return self._last_fitting_from(anchor, fits) if anchor is not None else None
            if not fits(tick):
                continue
            anchor = tick
            anchors += 1
            if anchors >= 2:  # one tick of margin before the walk
                found = self._last_fitting_from(anchor, fits)
                if found is not None:
                    return found
        return None  # pragma: no cover

    def _last_fitting_from(
        self, anchor: datetime, fits: Callable[[datetime], bool]
    ) -> datetime | None:
        """Walk forward from ``anchor``: the last tick for which ``fits`` holds."""
        latest = None
        tick = self._first_tick_at_or_after(anchor)
        for _ in range(_MAX_STEPS):
            if tick is None or not fits(tick):
                break
            latest = tick
            tick = self._next_tick(tick)
        return latest

    # -- the Timetable interface --

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
        earliest: datetime | None = None
        if start_date is not None:
            require_aware("start_date", start_date)
            # Airflow: a start_date off the schedule starts the first interval at the next tick.
            earliest = self._first_tick_at_or_after(start_date)
            if earliest is None:
                return None
        if last_interval is None and earliest is None:
            return None  # never scheduled before and nothing to start from
        if not catchup:
            latest_end = self._last_tick_before(now, inclusive=True)
            latest_start = (
                self._last_tick_before(latest_end, inclusive=False) if latest_end else None
            )
            if latest_start is not None and (earliest is None or latest_start > earliest):
                earliest = latest_start
        if last_interval is None:
            assert earliest is not None
            start = earliest
        else:
            # Continue where the previous interval ended, so intervals stay contiguous, unless
            # catchup=False (or a later start_date) moves the next one forward.
            start = last_interval.end.astimezone(UTC)
            if earliest is not None and earliest > start:
                start = earliest
        if end_date is not None:
            require_aware("end_date", end_date)
            if start > end_date:
                return None
        end = self._next_tick(start)
        if end is None:
            return None
        return DataInterval(start, end)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The last complete period: e.g. daily, triggered at 01:00 on the 25th -> [24th, 25th)."""
        require_aware("run_after", run_after)
        end = self._last_tick_before(run_after, inclusive=True)
        start = self._last_tick_before(end, inclusive=False) if end is not None else None
        if end is None or start is None:
            return DataInterval.exact(run_after.astimezone(UTC))
        return DataInterval(start, end)

    def serialize(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "cron": self.cron,
            "timezone": timezone_name(self.timezone),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> CronTimetable:
        return cls(data["cron"], timezone_from_name(data.get("timezone", "UTC")))
