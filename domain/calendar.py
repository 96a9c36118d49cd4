"""Working time: office hours, weekends and Vietnamese public holidays.

Allotted times are counted in working hours (8 h = 1 working day). Everything here is a pure
function of its arguments, so the workflow computes due times with it and gets the same answer
on replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

import holidays

# Vietnam has one time zone and no daylight saving time.
VN_TZ = timezone(timedelta(hours=7), "ICT")

HOURS_PER_WORKING_DAY = 8

DEFAULT_OFFICE_HOURS: tuple[tuple[time, time], ...] = (
    (time(7, 30), time(11, 30)),
    (time(13, 0), time(17, 0)),
)


@lru_cache(maxsize=64)
def _public_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year).keys())


class WorkingCalendar:
    """Office hours on working days: Monday to Friday, less public holidays and announced days
    off, plus announced make-up working days."""

    def __init__(
        self,
        office_hours: tuple[tuple[time, time], ...] = DEFAULT_OFFICE_HOURS,
        extra_days_off: Iterable[date] = (),
        makeup_working_days: Iterable[date] = (),
    ) -> None:
        if not office_hours or any(start >= end for start, end in office_hours):
            raise ValueError("office hours must be non-empty periods with start < end")
        self.office_hours = tuple(sorted(office_hours))
        self.extra_days_off = frozenset(extra_days_off)
        self.makeup_working_days = frozenset(makeup_working_days)

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_working_days:
            return True
        if day.weekday() >= 5 or day in self.extra_days_off:
            return False
        return day not in _public_holidays(day.year)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The instant at which `hours` of working time have passed since `start`.

        Work received outside office hours starts counting at the next working moment; a
        result that falls exactly at the end of a period stays there (e.g. 11:30), not at the
        start of the next one.
        """
        if hours < 0:
            raise ValueError("hours must not be negative")
        remaining = timedelta(hours=hours)
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

    def add_working_days(self, start: datetime, days: float) -> datetime:
        return self.add_working_hours(start, days * HOURS_PER_WORKING_DAY)
