"""Properties of working time that must hold for any instant and any allotment."""

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import VN_TZ, CalendarSpec

CALENDAR = CalendarSpec.for_period(2026).calendar()

instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(VN_TZ)
).map(lambda moment: moment.replace(second=0, microsecond=0))
# Allotments in whole minutes, up to 25 working days: what catalogs allot.
minutes = st.integers(min_value=0, max_value=25 * 8 * 60)


def _add(start: datetime, allotted_minutes: int) -> datetime:
    return CALENDAR.add_working_hours(start, allotted_minutes / 60)


@settings(max_examples=300, deadline=None)
@given(instants, minutes, minutes)
def test_more_time_is_never_earlier(start: datetime, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert _add(start, low) <= _add(start, high)


@settings(max_examples=300, deadline=None)
@given(instants, instants, minutes)
def test_a_later_start_is_never_due_earlier(first: datetime, second: datetime, m: int) -> None:
    early, late = sorted((first, second))
    assert _add(early, m) <= _add(late, m)


@settings(max_examples=300, deadline=None)
@given(instants, st.integers(min_value=1, max_value=25 * 8 * 60))
def test_due_times_fall_in_office_hours(start: datetime, m: int) -> None:
    assert CALENDAR.is_office_time(_add(start, m))


@settings(max_examples=300, deadline=None)
@given(instants, minutes)
def test_adding_and_measuring_round_trip(start: datetime, m: int) -> None:
    assert CALENDAR.working_time_between(start, _add(start, m)) == timedelta(minutes=m)


@settings(max_examples=300, deadline=None)
@given(instants, instants)
def test_measured_time_added_back_lands_at_the_last_working_moment(
    first: datetime, second: datetime
) -> None:
    start, end = sorted((first, second))
    used = CALENDAR.working_time_between(start, end)
    if used:  # (no working time between them: adding none moves to the next working moment)
        due = _add(start, int(used.total_seconds()) // 60)
        assert due <= end
        assert CALENDAR.working_time_between(due, end) == timedelta(0)


@settings(max_examples=300, deadline=None)
@given(instants, minutes)
def test_the_latest_start_leaves_exactly_the_time_needed(end: datetime, m: int) -> None:
    latest = CALENDAR.subtract_working_time(end, timedelta(minutes=m))
    assert latest <= end
    assert CALENDAR.working_time_between(latest, end) == timedelta(minutes=m)
    if m:  # (work that takes no time may start at any moment)
        assert CALENDAR.is_office_time(latest)
        assert _add(latest, m) <= end
