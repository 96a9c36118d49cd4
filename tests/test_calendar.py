"""Working time, checked against days counted by hand on the 2026–2027 calendar."""

from datetime import date, datetime, time

import pytest

from domain.calendar import VN_TZ, CalendarSpec, WorkingCalendar

CALENDAR = CalendarSpec.for_period(2026).calendar()


def vn(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


@pytest.mark.parametrize(
    "start, hours, expected",
    [
        (vn(2026, 11, 23, 8, 0), 2, vn(2026, 11, 23, 10, 0)),  # within the morning
        (vn(2026, 11, 23, 10, 0), 2, vn(2026, 11, 23, 13, 30)),  # across the lunch break
        (vn(2026, 11, 23, 7, 30), 8, vn(2026, 11, 23, 17, 0)),  # a whole day ends at 17:00
        (vn(2026, 11, 27, 18, 0), 1, vn(2026, 11, 30, 8, 30)),  # Friday evening → Monday
        (vn(2026, 11, 28, 9, 0), 4, vn(2026, 11, 30, 11, 30)),  # Saturday → Monday
        (vn(2026, 11, 23, 6, 0), 0, vn(2026, 11, 23, 7, 30)),  # before hours: counts from 07:30
    ],
)
def test_add_working_hours(start: datetime, hours: float, expected: datetime) -> None:
    assert CALENDAR.add_working_hours(start, hours) == expected


def test_tet_is_skipped() -> None:
    # Tết 2027: 4–10 February are public holidays. 3 working days (24 h) from Wed 3 Feb 08:00:
    # Wed 3 gives 7.5 h, Thu 11 and Fri 12 give 16 h, and the last half hour is Mon 15.
    due = CALENDAR.add_working_days(vn(2027, 2, 3, 8, 0), 3)
    assert due == vn(2027, 2, 15, 8, 0)


def test_announced_days_off_and_make_up_days() -> None:
    spec = CalendarSpec.for_period(
        2026, extra_days_off=[date(2026, 11, 30)], makeup_working_days=[date(2026, 11, 28)]
    )
    calendar = spec.calendar()
    assert calendar.is_working_day(date(2026, 11, 28))  # a Saturday made a working day
    assert not calendar.is_working_day(date(2026, 11, 30))  # a Monday given off
    assert calendar.add_working_hours(vn(2026, 11, 27, 17, 0), 8) == vn(2026, 11, 28, 17, 0)


def test_spec_round_trips_through_plain_data() -> None:
    spec = CalendarSpec.for_period(2026)
    again = CalendarSpec(**{k: list(v) for k, v in vars(spec).items()})
    assert again.calendar().days_off == spec.calendar().days_off
    assert "2026-09-02" in spec.days_off  # National Day


def test_office_hours_must_make_sense() -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(office_hours=((time(12), time(8)),))


def test_office_hours_are_configurable() -> None:
    spec = CalendarSpec.for_period(2026, office_hours=((time(8, 0), time(12, 0)),))
    calendar = spec.calendar()
    assert calendar.add_working_hours(vn(2026, 11, 25, 11, 0), 2) == vn(2026, 11, 26, 9, 0)
    # (24 November, Vietnam Culture Day, is a public holiday since 2025.)
    assert calendar.add_working_hours(vn(2026, 11, 23, 11, 0), 2) == vn(2026, 11, 25, 9, 0)
