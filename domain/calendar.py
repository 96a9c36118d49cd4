"""Working time: office hours, weekends, public holidays and announced days off.

Allotted times are counted in working hours (8 h = 1 working day). A `WorkingCalendar` is a pure
function of its data; the data travels with each dossier as a `CalendarSpec`, built once at
submission, so the workflow computes the same due times on replay and a later change of the
holiday list never moves a running dossier's deadlines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

# Vietnam has one time zone and no daylight saving time.
VN_TZ = timezone(timedelta(hours=7), "ICT")

HOURS_PER_WORKING_DAY = 8

DEFAULT_OFFICE_HOURS: tuple[tuple[time, time], ...] = (
    (time(7, 30), time(11, 30)),
    (time(13, 0), time(17, 0)),
)

# How many years of public holidays a dossier carries: enough for the longest procedures.
YEARS_COVERED = 3


def vietnam_public_holidays(years: Iterable[int]) -> set[date]:
    """Vietnam's public holidays (Tết included) from the `holidays` package."""
    import holidays

    return set(holidays.country_holidays("VN", years=list(years)).keys())


def _as_strings(periods: Iterable[tuple[time, time]]) -> list[list[str]]:
    return [[start.isoformat("minutes"), end.isoformat("minutes")] for start, end in periods]


@dataclass
class CalendarSpec:
    """The data of a working calendar, as plain strings so it travels in workflow payloads."""

    office_hours: list[list[str]] = field(default_factory=lambda: _as_strings(DEFAULT_OFFICE_HOURS))
    days_off: list[str] = field(default_factory=list)
    makeup_working_days: list[str] = field(default_factory=list)

    @classmethod
    def for_period(
        cls,
        first_year: int,
        office_hours: Iterable[tuple[time, time]] = DEFAULT_OFFICE_HOURS,
        extra_days_off: Iterable[date] = (),
        makeup_working_days: Iterable[date] = (),
    ) -> CalendarSpec:
        years = range(first_year, first_year + YEARS_COVERED)
        days_off = vietnam_public_holidays(years) | {d for d in extra_days_off if d.year in years}
        return cls(
            office_hours=[
                [s.isoformat("minutes"), e.isoformat("minutes")] for s, e in office_hours
            ],
            days_off=sorted(d.isoformat() for d in days_off),
            makeup_working_days=sorted(d.isoformat() for d in makeup_working_days),
        )

    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(
            office_hours=tuple((time.fromisoformat(s), time.fromisoformat(e))
                               for s, e in self.office_hours),
            days_off=(date.fromisoformat(d) for d in self.days_off),
            makeup_working_days=(date.fromisoformat(d) for d in self.makeup_working_days),
        )  # fmt: skip


class WorkingCalendar:
    """Office hours on working days: Monday to Friday less the days off, plus make-up days."""

    def __init__(
        self,
        office_hours: tuple[tuple[time, time], ...] = DEFAULT_OFFICE_HOURS,
        days_off: Iterable[date] = (),
        makeup_working_days: Iterable[date] = (),
    ) -> None:
        if not office_hours or any(start >= end for start, end in office_hours):
            raise ValueError("office hours must be non-empty periods with start < end")
        self.office_hours = tuple(sorted(office_hours))
        self.days_off = frozenset(days_off)
        self.makeup_working_days = frozenset(makeup_working_days)

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_working_days:
            return True
        return day.weekday() < 5 and day not in self.days_off

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The instant at which `hours` of working time have passed since `start`.

        Work received outside office hours starts counting at the next working moment; a
        result that falls exactly at the end of a period stays there (e.g. 11:30), not at the
        start of the next one.
        """
        if hours < 0:
            raise ValueError("hours must not be negative")
        return self.add_working_time(start, timedelta(hours=hours))

    def add_working_time(self, start: datetime, span: timedelta) -> datetime:
        """`add_working_hours` for an exact span (no rounding through float hours)."""
        remaining = span
        moment = start.astimezone(VN_TZ)
        day = moment.date()
        while True:
            if self.is_working_day(day):
                for opens, closes in self.office_hours:
                    period_start = datetime.combine(day, opens, VN_TZ)
                    period_end = datetime.combine(day, closes, VN_TZ)
                    if moment >= period_end:
                        continue
                    segment_start = max(moment, period_start)
                    available = period_end - segment_start
                    if remaining <= available:
                        return segment_start + remaining
                    remaining -= available
                    moment = period_end
            day += timedelta(days=1)
            moment = datetime.combine(day, time.min, VN_TZ)

    def subtract_working_time(self, end: datetime, span: timedelta) -> datetime:
        """The latest instant from which `span` of working time is over by `end`: the last
        moment a piece of work of that length can start and still be done in time."""
        remaining = span
        moment = end.astimezone(VN_TZ)
        day = moment.date()
        while True:
            if self.is_working_day(day):
                for opens, closes in reversed(self.office_hours):
                    period_start = datetime.combine(day, opens, VN_TZ)
                    period_end = datetime.combine(day, closes, VN_TZ)
                    if moment <= period_start:
                        continue
                    segment_end = min(moment, period_end)
                    available = segment_end - period_start
                    if remaining <= available:
                        return segment_end - remaining
                    remaining -= available
                    moment = period_start
            day -= timedelta(days=1)
            moment = datetime.combine(day, time.max, VN_TZ)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """The working time in [start, end): what a step or dossier has used of its allotment."""
        if end <= start:
            return timedelta(0)
        start, end = start.astimezone(VN_TZ), end.astimezone(VN_TZ)
        total = timedelta(0)
        day = start.date()
        while day <= end.date():
            if self.is_working_day(day):
                for opens, closes in self.office_hours:
                    overlap = min(end, datetime.combine(day, closes, VN_TZ)) - max(
                        start, datetime.combine(day, opens, VN_TZ)
                    )
                    total += max(overlap, timedelta(0))
            day += timedelta(days=1)
        return total

    def resume(self, due_at: datetime, paused_at: datetime, resumed_at: datetime) -> datetime:
        """The due time after the clock stood still from `paused_at` to `resumed_at` (while the
        applicant supplemented): the working time that was left is left again. A due time that
        had already passed stays where it was."""
        if due_at <= paused_at:
            return due_at
        return self.add_working_time(resumed_at, self.working_time_between(paused_at, due_at))

    def is_office_time(self, moment: datetime) -> bool:
        """Within office hours of a working day (a period's closing time included)."""
        local = moment.astimezone(VN_TZ)
        return self.is_working_day(local.date()) and any(
            opens <= local.timetz().replace(tzinfo=None) <= closes
            for opens, closes in self.office_hours
        )

    def add_working_days(self, start: datetime, days: float) -> datetime:
        return self.add_working_hours(start, days * HOURS_PER_WORKING_DAY)
